import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { configPath } from './host-options.js';
import { main } from './main.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'left4me-config-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

function write(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text, { mode: 0o644 });
  return path;
}

const BAD = `node: a
portRnage: 28000-28099
sources:
  - name: fleet
    url: https://ghp_t0ken@github.com/example/fleet.git
`;

describe('left4me controller --config', () => {
  it('refuses to start on a file with problems, printing each as file:line:col, before touching any host', async () => {
    const bad = write('bad.yaml', BAD);
    // Every place a started controller would write, so that a regression shows here instead of on this machine.
    const [state, data, units, pid] = ['state', 'data', 'units', 'run/controller.pid'].map((p) => join(scratch, p));
    const bin = join(packageRoot(), 'controller', 'bin', 'left4me.js');
    const args = ['controller', '--config', bad, '--once', '--state', state!, '--data-dir', data!, '--unit-dir', units!, '--bus', `unix:path=${join(scratch, 'no-bus')}`, '--pid-file', pid!];
    const r = await run(process.execPath, [bin, ...args]).then(
      (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      `${bad}:2:1  -  /portRnage  unknown field "portRnage" — did you mean "portRange"?`,
      `${bad}:5:10  -  /sources/0/url  the URL carries credentials: put them in /etc/left4me/secrets/git/NAME/ and name that directory in "credentials", not in the URL`,
      `left4me controller: ${bad} has 2 problems; not starting (check it with \`left4me config check ${bad}\`)`,
      '',
    ]);
    expect(r.stderr).not.toContain('ghp_t0ken');
    for (const p of [state, data, units, join(scratch, 'run')]) expect(existsSync(p!), p).toBe(false);

    // Without --once the same refusal, no pid file.
    const daemon = await cli(...args.filter((a) => a !== '--once'));
    expect(daemon.code).toBe(1);
    expect(existsSync(join(scratch, 'run'))).toBe(false);
  });

  it('refuses a --config file that does not exist; the default path is read on the host it drives', async () => {
    const missing = join(scratch, 'missing.yaml');
    const r = await cli('controller', '--config', missing, '--once', '--state', join(scratch, 'state'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${missing}:1:1  -  /  no such file`);
    expect(configPath({})).toBe('/etc/left4me/controller.yaml');
    expect(configPath({ 'fs-root': '/proc/123/root' })).toBe('/proc/123/root/etc/left4me/controller.yaml');
    expect(configPath({ config: '/srv/c.yaml', 'fs-root': '/proc/123/root' })).toBe('/srv/c.yaml');
  });

  it('reads the default file of the host it drives: below --fs-root', async () => {
    const root = join(scratch, 'host-root');
    mkdirSync(join(root, 'etc', 'left4me'), { recursive: true });
    const path = join(root, 'etc', 'left4me', 'controller.yaml');
    writeFileSync(path, 'node: a\nportRange: 1-2\n', { mode: 0o644 });
    const r = await cli('controller', '--fs-root', root, '--once', '--state', join(scratch, 'state'), '--bus', `unix:path=${join(scratch, 'no-bus')}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${path}:2:12  -  /portRange  portRange must look like 27015-27115 (ports 1024-65535, low first)`);
    // Writable by others: refused too, since whoever can write it steers a root process.
    writeFileSync(path, 'node: a\n');
    chmodSync(path, 0o666);
    const loose = await cli('controller', '--fs-root', root, '--once', '--state', join(scratch, 'state'), '--bus', `unix:path=${join(scratch, 'no-bus')}`);
    expect(loose.code).toBe(1);
    expect(loose.err).toMatch(/controller\.yaml:1:1 {2}- {2}\/ {2}must be owned by uid \d+ and writable by nobody else \(it is uid \d+, mode 0666\)/);
  });

  it('settings that are fine in the file but clash with a flag are a usage error naming both', async () => {
    const file = write('ports.yaml', 'clientPortRange: 27150-27160\n');
    const r = await cli('controller', '--config', file, '--port-range', '27100-27200', '--once', '--state', join(scratch, 'state'));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--port-range and clientPortRange (${file}) must not overlap`);
  });
});

describe('left4me diff --config', () => {
  it('reads the same file and refuses the same way, before asking the host anything', async () => {
    const bad = write('bad-diff.yaml', BAD);
    const r = await cli('diff', '--config', bad, '--state', join(scratch, 'state'), '--bus', `unix:path=${join(scratch, 'no-bus')}`);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(`${bad}:2:1  -  /portRnage  unknown field`);
    expect(r.err).toContain(`left4me diff: ${bad} has 2 problems; no plan`);
  });
});

describe('left4me config check', () => {
  it('exits 0 for a good file and names its sources', async () => {
    const good = write('good.yaml', 'node: a\nsources:\n  - {name: fleet, url: /srv/git/fleet.git}\n  - {name: eu, url: "git@github.com:e/eu.git", tag: v3}\n');
    expect(await cli('config', 'check', good)).toEqual({ code: 0, out: `${good}: valid; 2 sources (fleet, eu)\n`, err: '' });
  });

  it('exits 1 with every problem, and for a file named but missing', async () => {
    const bad = write('bad-check.yaml', BAD);
    const r = await cli('config', 'check', bad);
    expect(r.code).toBe(1);
    expect(r.out.split('\n').filter(Boolean)).toHaveLength(2);
    expect(r.out).toContain(`${bad}:2:1  -  /portRnage  unknown field`);
    expect(r.err).toBe(`${bad}: 2 problems; the controller would refuse to start\n`);
    expect((await cli('config', 'check', join(scratch, 'nope.yaml'))).code).toBe(1);
  });

  it('is a usage error without the check subcommand or with two files', async () => {
    expect((await cli('config')).code).toBe(2);
    expect((await cli('config', 'show')).code).toBe(2);
    expect((await cli('config', 'check', 'a', 'b')).code).toBe(2);
  });
});

describe('document verbs and the host\'s controller.yaml', () => {
  it('validate and apply judge fixed ports by the file\'s ranges, and a file the controller refuses is refused', async () => {
    const state = join(scratch, 'ranges-state');
    cpSync(join(packageRoot(), 'state.example', 'demo'), state, { recursive: true });
    const pinned = join(state, 'instances', 'demo-3.yaml');
    writeFileSync(pinned, readFileSync(pinned, 'utf8').replace('port: 27100', 'port: 30305'));
    const outside = 'port 30305 is outside the game port range';

    // An empty file: the defaults judge, as the controller would.
    const path = write('ranges.yaml', '');
    const none = await cli('validate', '--state', state, '--config', path);
    expect(none.out + none.err).toContain(`${outside} 27015-27115`);

    writeFileSync(path, 'portRange: 30300-30309\nclientPortRange: 31300-31309\n');
    for (const verb of [['validate'], ['apply', '--dry-run', '-f', pinned]]) {
      const r = await cli(...verb, '--state', state, '--config', path);
      expect(r.out + r.err, verb[0]).not.toContain(outside);
    }

    writeFileSync(path, 'portRnage: 30300-30309\n');
    const broken = await cli('validate', '--state', state, '--config', path);
    expect(broken.code).toBe(2);
    expect(broken.err).toContain(`${path} has 1 problem, and the controller refuses to start with it (check it with \`left4me config check ${path}\`)`);
  });
});
