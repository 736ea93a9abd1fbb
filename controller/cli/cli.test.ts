import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { main } from './main.js';

const run = promisify(execFile);
const repo = packageRoot();
const example = join(repo, 'state.example');

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

const scratch = mkdtempSync(join(tmpdir(), 'left4me-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('left4me validate', () => {
  it('accepts state.example and says how much it read', async () => {
    const r = await cli('validate', example);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^.*state\.example: \d+ documents in \d+ files are valid\n$/);
  });

  it('exits 1 with one line per problem in file:line:col kind/name pointer message form', async () => {
    writeFileSync(join(scratch, 'bad.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: x\nspec:\n  blueprint: nope\n  port: 99999\n');
    const r = await cli('validate', scratch);
    expect(r.code).toBe(1);
    expect(r.out).toBe(`${join(scratch, 'bad.yaml')}:7:9  instance/x  /spec/port  must be <= 65535 (got 99999)\n`);
    expect(r.err).toBe('1 problem in 1 file; 0 valid documents\n');
  });

  it('exits 2 on usage errors', async () => {
    expect((await cli('validate', 'a', 'b')).code).toBe(2);
    expect((await cli('validate', '--bogus')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli()).code).toBe(2);
  });
});

describe('left4me get', () => {
  it('lists instances as a table', async () => {
    const r = await cli('get', 'instances', '--state', example);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+READY\s+STATE\s+PORT\s+PLAYERS\s+AGE\s+BLUEPRINT\s+NODE\s+SOURCE$/);
    // No controller has run against state.example: no status, so READY and AGE are unknown.
    expect(lines.some((l) => /^demo-3\s+-\s+running\s+27100\s+-\s+-\s+demo-coop\s+-\s+local$/.test(l))).toBe(true);
  });

  it('prints one document as JSON or YAML, defaults filled in', async () => {
    const json = await cli('get', 'instance', 'demo-1', '-o', 'json', '--state', example);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.out);
    expect(doc).toMatchObject({ apiVersion: 'left4me/v1', kind: 'Instance', metadata: { name: 'demo-1' }, spec: { blueprint: 'demo-coop', updatePolicy: 'whenEmpty' } });
    const yaml = await cli('get', 'bp', 'demo-coop', '-o', 'yaml', '--state', example);
    expect(yaml.out).toMatch(/^apiVersion: left4me\/v1\nkind: Blueprint\n/);
  });

  it('says when a name is missing, lists an invalid one as not ready, and rejects unknown kinds and formats', async () => {
    expect(await cli('get', 'instance', 'ghost', '--state', example)).toMatchObject({ code: 1, err: 'instance/ghost not found\n' });
    writeFileSync(join(scratch, 'bad.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: x}\nspec: {blueprint: 1}\n');
    const invalid = await cli('get', 'instance', 'x', '--state', scratch);
    expect(invalid).toMatchObject({ code: 0, err: 'warning: the state directory has 1 problem(s); run left4me validate\n' });
    expect(invalid.out).toMatch(/^x\s+False \(Invalid\)\s+-\s+-\s+-\s+-\s+\?\s+\?\s+local$/m);
    const json = JSON.parse((await cli('get', 'instance', 'x', '--state', scratch, '-o', 'json')).out);
    expect(json).toEqual({ kind: 'Instance', metadata: { name: 'x' }, invalid: { file: join(scratch, 'bad.yaml'), line: 1 } });
    expect((await cli('get', 'servers-ish', '--state', example)).code).toBe(2);
    expect((await cli('get', 'instances', '-o', 'xml', '--state', example)).code).toBe(2);
  });
});

describe('the installed launcher', () => {
  it('runs the compiled CLI and passes the exit code through', async () => {
    const ok = await run(process.execPath, [join(repo, 'controller/bin/left4me.js'), 'validate', example]);
    expect(ok.stdout).toMatch(/are valid/);
    const bad = await run(process.execPath, [join(repo, 'controller/bin/left4me.js'), 'validate', scratch]).catch((e: { code: number }) => e);
    expect((bad as { code: number }).code).toBe(1);
  });
});

describe('host options', () => {
  it('refuse malformed and overlapping port ranges before touching any host', async () => {
    const bad = await cli('diff', '--port-range', '27015', '--state', example);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--port-range must look like 27015-27115');
    const overlap = await cli('controller', '--port-range', '27000-27100', '--client-port-range', '27050-27060', '--state', example);
    expect(overlap.code).toBe(2);
    expect(overlap.err).toContain('must not overlap');
  });

  it('--allow-download-network takes networks only, repeatable, canonical', async () => {
    const { hostConfig } = await import('./host-options.js');
    expect(hostConfig({ state: example }).allowedDownloadNetworks).toEqual([]);
    expect(hostConfig({ state: example, 'allow-download-network': ['127.0.0.0/8', 'FD00::/8', '192.0.2.7'] }).allowedDownloadNetworks).toEqual(['127.0.0.0/8', 'fd00::/8', '192.0.2.7/32']);
    const bad = await cli('controller', '--allow-download-network', 'localhost', '--state', example);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--allow-download-network "localhost" is not an IP network; write it like 10.0.0.0/8 or fd00::/8');
  });

  it("refuse a uid range that systemd reserves or that cannot give every game port's server a uid", async () => {
    const dynamic = await cli('controller', '--uid-range', '61000-61999', '--state', example);
    expect(dynamic.code).toBe(2);
    expect(dynamic.err).toContain('--uid-range 61000-61999 overlaps the 16-bit uids (system and regular accounts, DynamicUser=, nobody)');
    const small = await cli('diff', '--uid-range', '1879048192-1879048200', '--state', example);
    expect(small.code).toBe(2);
    expect(small.err).toContain('fewer than the 101 game ports');
    expect((await cli('diff', '--uid-range', 'many', '--state', example)).err).toContain('--uid-range must look like 1879048192-1879113727');
  });

  it('refuse an installation root that overlaps what the controller keeps, at startup and in every verb', async () => {
    for (const [root, what] of [
      ['/var/lib/left4me/instances', 'the data directory (/var/lib/left4me)'],
      ['/var/lib', 'the data directory (/var/lib/left4me)'],
      ['/etc/left4me/secrets', 'the configuration directory (/etc/left4me)'],
      ['/etc/systemd/system/x', 'the unit directory (/etc/systemd/system)'],
    ]) {
      const r = await cli('controller', '--installation-root', '/srv/ok', '--installation-root', root!, '--state', example);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`--installation-root: installation root ${root} overlaps ${what}`);
    }
    const slash = await cli('validate', '--installation-root', '/', example);
    expect(slash.code).toBe(2);
    expect(slash.err).toContain('must be an absolute, normalized path below /');
    const custom = await cli('controller', '--data-dir', '/opt/l4m', '--installation-root', '/opt/l4m/games', '--state', example);
    expect(custom.err).toContain('installation root /opt/l4m/games overlaps the data directory (/opt/l4m)');
  });

  it('judge directory installations by the roots given, as the controller would', async () => {
    const elsewhere = await cli('validate', '--installation-root', '/opt/games', join(example, 'demo'));
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.out).toContain('installation/demo  /spec/path  "/srv/left4me/installations/demo" is not below an installation root of this host (/opt/games)');
    const both = await cli('validate', '--installation-root', '/opt/games', '--installation-root', '/srv/left4me/installations', join(example, 'demo'));
    expect(both.code).toBe(0);
  });
});

describe('get with status', () => {
  it('shows READY and the build that serves, with a mark when the newest build failed', async () => {
    const data = mkdtempSync(join(tmpdir(), 'left4me-data-'));
    try {
      const { StatusStore } = await import('../status/store.js');
      await new StatusStore(join(data, 'status')).write({
        kind: 'Overlay',
        name: 'demo-base',
        conditions: [{ type: 'Ready', status: 'False', reason: 'BuildFailed', message: 'exit 3; instances keep build abc123', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
        build: { ready: 'abc123', wanted: 'def456', generation: 'g', checkedAt: new Date().toISOString(), result: 'Failed', log: 'logs/overlays/demo-base/def456.log' },
        events: [],
      });
      const r = await cli('get', 'overlays', '--state', example, '--data-dir', data);
      expect(r.out.split('\n')[0]).toMatch(/^NAME\s+READY\s+SOURCES\s+BUILD\s+REFRESH\s+OWNER$/);
      expect(r.out).toMatch(/^demo-base\s+False \(BuildFailed\)\s+files\s+abc123 \(serving; newest build failed\)\s+-\s+system$/m);
      expect(r.out).toMatch(/^demo-rates\s+-\s+files\s+-\s+-\s+system$/m);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('-w prints the table, then each row that changes, until --timeout', async () => {
    const data = mkdtempSync(join(tmpdir(), 'left4me-data-'));
    try {
      const { StatusStore } = await import('../status/store.js');
      const store = new StatusStore(join(data, 'status'));
      const overlay = (status: 'True' | 'False', reason: string) => ({
        kind: 'Overlay' as const,
        name: 'demo-base',
        conditions: [{ type: 'Ready' as const, status, reason, message: '', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
        events: [],
      });
      await store.write(overlay('False', 'Building'));
      // The change is written once the first table is out, so a later poll must show it.
      let out = '';
      let changed: Promise<unknown> | undefined;
      const code = await main(['get', 'overlays', '-w', '--timeout', '4s', '--state', example, '--data-dir', data], {
        out: (t) => {
          out += t;
          changed ??= store.write(overlay('True', 'Succeeded'));
        },
        err: () => undefined,
      });
      await changed;
      expect(code).toBe(0);
      const lines = out.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+READY/);
      expect(lines.filter((l) => /^demo-base\s+False \(Building\)/.test(l))).toHaveLength(1);
      expect(lines.filter((l) => /^demo-base\s+True\s/.test(l))).toHaveLength(1);
      expect(lines.filter((l) => /^demo-rates\s/.test(l))).toHaveLength(1); // unchanged: printed once
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it("describe shows an instance's own uid and its account name", async () => {
    const data = mkdtempSync(join(tmpdir(), 'left4me-data-'));
    try {
      const { StatusStore } = await import('../status/store.js');
      await new StatusStore(join(data, 'status')).write({ kind: 'Instance', name: 'demo-1', conditions: [], port: 27015, clientPort: 26900, uid: 1879048192, events: [] });
      const r = await cli('describe', 'instance', 'demo-1', '--state', example, '--data-dir', data);
      expect(r.out).toContain('\nUser:        uid 1879048192 (left4me-1879048192), its own\n');
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('left4me logs instance', () => {
  it("reads the server's unit from the servers' journal namespace, -f follows, --tail limits", async () => {
    const { logsCommand } = await import('./logs.js');
    const asked: string[][] = [];
    const io = { out: () => undefined, err: () => undefined };
    const record = async (args: string[]) => (asked.push(args), 0);
    expect(await logsCommand(['instance', 'demo-1', '-f', '--tail', '50'], io, record)).toBe(0);
    expect(await logsCommand(['instance', 'demo-2'], io, record)).toBe(0);
    expect(asked).toEqual([
      ['--namespace=left4me', '-u', 'left4me-server@demo-1.service', '--no-pager', '-n', '50', '--follow'],
      ['--namespace=left4me', '-u', 'left4me-server@demo-2.service', '--no-pager'],
    ]);
    for (const bad of [['instance', '--tail', '0', 'demo-1'], ['instance', '../x'], ['instance', 'demo-1', '--build', 'b1'], ['overlay', 'demo-base', '-f']]) {
      await expect(logsCommand(bad, io, record), bad.join(' ')).rejects.toThrow();
    }
    expect(asked).toHaveLength(2);
  });
});
