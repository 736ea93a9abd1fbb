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
    expect(lines[0]).toMatch(/^NAME\s+READY\s+STATE\s+PORT\s+PLAYERS\s+AGE\s+BLUEPRINT\s+NODE$/);
    // No controller has run against state.example: no status, so READY and AGE are unknown.
    expect(lines.some((l) => /^demo-3\s+-\s+running\s+27100\s+-\s+-\s+demo-coop\s+-$/.test(l))).toBe(true);
  });

  it('prints one document as JSON or YAML, defaults filled in', async () => {
    const json = await cli('get', 'instance', 'demo-1', '-o', 'json', '--state', example);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.out);
    expect(doc).toMatchObject({ apiVersion: 'left4me/v1', kind: 'Instance', metadata: { name: 'demo-1' }, spec: { blueprint: 'demo-coop', updatePolicy: 'whenEmpty' } });
    const yaml = await cli('get', 'bp', 'demo-coop', '-o', 'yaml', '--state', example);
    expect(yaml.out).toMatch(/^apiVersion: left4me\/v1\nkind: Blueprint\n/);
  });

  it('says when a name is missing or invalid, and rejects unknown kinds and formats', async () => {
    expect(await cli('get', 'instance', 'ghost', '--state', example)).toMatchObject({ code: 1, err: 'instance/ghost not found\n' });
    writeFileSync(join(scratch, 'bad.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: x}\nspec: {blueprint: 1}\n');
    const invalid = await cli('get', 'instance', 'x', '--state', scratch);
    expect(invalid).toMatchObject({ code: 1, err: `instance/x is invalid (${join(scratch, 'bad.yaml')}:1); run left4me validate\n` });
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
  it('shows READY and the ready build of overlays, with a mark when the newest build failed', async () => {
    const data = mkdtempSync(join(tmpdir(), 'left4me-data-'));
    try {
      const { StatusStore } = await import('../status/store.js');
      await new StatusStore(join(data, 'status')).write({
        kind: 'Overlay',
        name: 'demo-base',
        conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'ready', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
        build: { ready: 'abc123', wanted: 'def456', generation: 'g', checkedAt: new Date().toISOString(), result: 'Failed', log: 'logs/overlays/demo-base/def456.log' },
        events: [],
      });
      const r = await cli('get', 'overlays', '--state', example, '--data-dir', data);
      expect(r.out.split('\n')[0]).toMatch(/^NAME\s+READY\s+SOURCES\s+BUILD\s+REFRESH\s+OWNER$/);
      expect(r.out).toMatch(/^demo-base\s+True\s+files\s+abc123 \(newest build failed\)\s+-\s+system$/m);
      expect(r.out).toMatch(/^demo-rates\s+-\s+files\s+-\s+-\s+system$/m);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
