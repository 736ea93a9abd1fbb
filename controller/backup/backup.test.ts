// `left4me backup create` and `restore` on scratch host trees (two fake
// roots given as --fs-root, each with its own /etc/passwd): what goes in and
// what stays out, modes and owners carried by account name, a non-empty host
// refused unless --force (which keeps a copy), and a hostile or damaged
// archive refused before anything on the host changes.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { readArchive } from './archive.js';

const scratch = mkdtempSync(join(tmpdir(), 'left4me-backup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the CLI, capturing its output. */
async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

/** A fake host root with account files: left4me-web has a different uid on each host. */
function fakeHost(name: string, webId: number): string {
  const root = join(scratch, name);
  mkdirSync(join(root, 'etc', 'left4me', 'state'), { recursive: true });
  writeFileSync(join(root, 'etc', 'passwd'), `root:x:0:0:root:/root:/bin/sh\nleft4me:x:${webId + 1}:${webId + 1}::/:/bin/false\nleft4me-web:x:${webId}:${webId}::/:/bin/false\nmallory:x:${webId + 7}:${webId + 7}::/:/bin/sh\n`);
  writeFileSync(join(root, 'etc', 'group'), `root:x:0:\nleft4me:x:${webId + 1}:\nleft4me-web:x:${webId}:\nmallory:x:${webId + 7}:\n`);
  return root;
}

function put(root: string, rel: string, text: string, mode = 0o644, owner: [number, number] = [0, 0]): void {
  const path = join(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
  chownSync(path, ...owner);
}

const host = (root: string) => ['--fs-root', root];

/** A populated host A: everything a backup takes, and things it must leave out. */
function populate(root: string): void {
  put(root, 'etc/left4me/state/instances/a.yaml', 'kind: Instance # a\n');
  put(root, 'etc/left4me/state/instances/b.yaml', 'kind: Instance # b\n', 0o640);
  put(root, 'etc/left4me/controller.yaml', 'portRange: 28000-28099\n');
  put(root, 'etc/left4me/secrets/steam.json', '{"main":{"username":"u","password":"p"}}', 0o600);
  put(root, 'etc/left4me/secrets/git/fleet/token', 'ghp_secret', 0o600);
  chmodSync(join(root, 'etc/left4me/secrets'), 0o700);
  put(root, 'var/lib/left4me/status/leases.json', '{"a":{"game":28000,"client":29000}}');
  put(root, 'var/lib/left4me/status/uid-leases.json', '{"a":1879048192}');
  put(root, 'var/lib/left4me/status/Instance/a.json', '{"phase":"Running"}');
  put(root, 'var/lib/left4me/secrets/rcon.json', '{"a":"0123456789abcdefABCD"}', 0o640, [0, 5001]);
  put(root, 'var/lib/left4me/secrets/webhooks/fleet', 'cafebabe', 0o640, [0, 5001]);
  put(root, 'var/lib/left4me/overlays/maps/1/left4dead2/addons/maps.vpk', 'vpk');
  put(root, 'var/lib/left4me/cache/workshop/1.vpk', 'vpk');
  put(root, 'var/lib/left4me/history/a.ring', 'ring');
  put(root, 'var/lib/left4me/instances/a/upper/left4dead2/cfg/x.cfg', 'x');
  put(root, 'var/lib/left4me-web/users.json', '{"users":[]}', 0o600, [5001, 5001]);
  put(root, 'var/lib/left4me-web/sessions.json', '{}', 0o600, [5001, 5001]);
}

describe('left4me backup', () => {
  const a = fakeHost('a', 5001);
  const b = fakeHost('b', 6001);
  populate(a);
  const dest = join(scratch, 'out');
  mkdirSync(dest, { mode: 0o700 });
  const archive = join(dest, 'host-a.tar');

  it('create: documents, controller.yaml, leases, secrets and web accounts, in a 0600 archive; no builds, caches, history, layers or sessions', async () => {
    const r = await cli('backup', 'create', archive, ...host(a));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote .*host-a\.tar: 10 files/);
    expect(r.out).toMatch(/0600; keep it root-only/);
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    const { manifest } = await readArchive(archive);
    expect(manifest.entries.filter((e) => e.type === 'file').map((e) => e.path).sort()).toEqual([
      'config/controller.yaml',
      'config/secrets/git/fleet/token',
      'config/secrets/steam.json',
      'data/secrets/rcon.json',
      'data/secrets/webhooks/fleet',
      'data/status/leases.json',
      'data/status/uid-leases.json',
      'state/instances/a.yaml',
      'state/instances/b.yaml',
      'web/users.json',
    ]);
    expect(manifest.entries.find((e) => e.path === 'web/users.json')).toMatchObject({ owner: 'left4me-web', group: 'left4me-web', mode: 0o600 });
    expect(manifest.entries.find((e) => e.path === 'data/secrets/rcon.json')).toMatchObject({ owner: 'root', group: 'left4me-web', mode: 0o640 });
    // No secret is printed.
    expect(r.out + r.err).not.toMatch(/0123456789abcdef|ghp_secret|cafebabe/);
  });

  it('restore onto a fresh host: the same bytes and modes, owners mapped by name to this host\'s ids', async () => {
    const r = await cli('backup', 'restore', archive, ...host(b));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/restored 10 files from the backup of .* made /);
    for (const rel of ['etc/left4me/state/instances/a.yaml', 'etc/left4me/state/instances/b.yaml', 'etc/left4me/controller.yaml', 'etc/left4me/secrets/steam.json', 'etc/left4me/secrets/git/fleet/token', 'var/lib/left4me/status/leases.json', 'var/lib/left4me/status/uid-leases.json', 'var/lib/left4me/secrets/rcon.json', 'var/lib/left4me/secrets/webhooks/fleet', 'var/lib/left4me-web/users.json']) {
      expect(readFileSync(join(b, rel), 'utf8'), rel).toBe(readFileSync(join(a, rel), 'utf8'));
      expect(statSync(join(b, rel)).mode & 0o7777, rel).toBe(statSync(join(a, rel)).mode & 0o7777);
    }
    expect(statSync(join(b, 'var/lib/left4me-web/users.json'))).toMatchObject({ uid: 6001, gid: 6001 });
    expect(statSync(join(b, 'var/lib/left4me/secrets/rcon.json'))).toMatchObject({ uid: 0, gid: 6001 });
    expect(statSync(join(b, 'etc/left4me/secrets')).mode & 0o777).toBe(0o700);
    expect(statSync(join(b, 'var/lib/left4me/secrets')).mode & 0o777).toBe(0o700);
    expect(statSync(join(b, 'var/lib/left4me-web'))).toMatchObject({ uid: 6001 });
    for (const rel of ['var/lib/left4me/overlays', 'var/lib/left4me/cache', 'var/lib/left4me/history', 'var/lib/left4me/instances', 'var/lib/left4me/status/Instance', 'var/lib/left4me-web/sessions.json']) expect(existsSync(join(b, rel)), rel).toBe(false);
  });

  it('restores onto a host that install and a first controller start left: empty leases, a commented controller.yaml', async () => {
    const g = fakeHost('g', 9201);
    put(g, 'etc/left4me/controller.yaml', '# yaml-language-server: $schema=../schemas/controller.schema.json\n## everything optional\n# dataDir: /var/lib/left4me\n');
    put(g, 'var/lib/left4me/status/leases.json', '{\n  "leases": {}\n}\n');
    put(g, 'var/lib/left4me/status/uid-leases.json', '{"uids": {}}');
    const r = await cli('backup', 'restore', archive, ...host(g));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(g, 'var/lib/left4me/status/leases.json'), 'utf8')).toBe(readFileSync(join(a, 'var/lib/left4me/status/leases.json'), 'utf8'));
    expect(readFileSync(join(g, 'etc/left4me/controller.yaml'), 'utf8')).toBe('portRange: 28000-28099\n');
    // The same archive again replaces nothing: every file already holds its bytes.
    expect((await cli('backup', 'restore', archive, ...host(g))).code).toBe(0);
  });

  it('refuses to restore onto a host that is not empty, and changes nothing there', async () => {
    put(b, 'etc/left4me/state/instances/a.yaml', 'kind: Instance # changed on b\n');
    const r = await cli('backup', 'restore', archive, ...host(b));
    expect(r.code).toBe(1);
    // Only what differs counts: the other files already hold the archive's bytes.
    expect(r.err).toMatch(/this host is not empty \(state\/instances\/a\.yaml\); .*--force/);
    expect(readFileSync(join(b, 'etc/left4me/state/instances/a.yaml'), 'utf8')).toBe('kind: Instance # changed on b\n');
  });

  it('--force replaces the host\'s files with the archive\'s, after keeping a copy of them in DATA/backups', async () => {
    put(b, 'etc/left4me/state/instances/extra.yaml', 'kind: Instance # only on b\n');
    const r = await cli('backup', 'restore', archive, '--force', ...host(b));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/kept what this restore replaces in .*replaced-.*\.tar/);
    expect(readFileSync(join(b, 'etc/left4me/state/instances/a.yaml'), 'utf8')).toBe('kind: Instance # a\n');
    expect(existsSync(join(b, 'etc/left4me/state/instances/extra.yaml'))).toBe(false);
    const kept = readdirSync(join(b, 'var/lib/left4me/backups'));
    expect(kept).toHaveLength(1);
    expect(statSync(join(b, 'var/lib/left4me/backups', kept[0]!)).mode & 0o777).toBe(0o600);
    const copy = await readArchive(join(b, 'var/lib/left4me/backups', kept[0]!));
    expect(copy.entries.find((e) => e.path === 'state/instances/extra.yaml')?.data?.toString()).toBe('kind: Instance # only on b\n');
    expect(copy.entries.find((e) => e.path === 'state/instances/a.yaml')?.data?.toString()).toBe('kind: Instance # changed on b\n');
  });

  it('refuses a damaged archive before writing anything', async () => {
    const c = fakeHost('c', 7001);
    const bytes = readFileSync(archive);
    // Flip one byte of the last file's data: its sha256 no longer matches.
    const at = bytes.indexOf(Buffer.from('kind: Instance # b'));
    bytes[at] = 'K'.charCodeAt(0);
    const damaged = join(dest, 'damaged.tar');
    writeFileSync(damaged, bytes);
    const r = await cli('backup', 'restore', damaged, ...host(c));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/"state\/instances\/b\.yaml": sha256 differs/);
    expect(execFileSync('find', [join(c, 'etc/left4me'), join(c, 'var')].filter(existsSync), { encoding: 'utf8' }).trim().split('\n')).toEqual([join(c, 'etc/left4me'), join(c, 'etc/left4me/state')]);
  });

  it('refuses an archive whose entries lie outside what a backup holds, or belong to another account', async () => {
    const { writeArchive } = await import('./archive.js');
    const c = fakeHost('d', 8001);
    const outside = join(dest, 'outside.tar');
    await writeArchive(outside, { created: 'x', node: 'n' }, [{ path: 'data/overlays/x', type: 'file', mode: 0o644, owner: 'root', group: 'root', data: Buffer.from('x') }]);
    let r = await cli('backup', 'restore', outside, ...host(c));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/"data\/overlays\/x" is no part of a left4me backup/);
    const owned = join(dest, 'owned.tar');
    await writeArchive(owned, { created: 'x', node: 'n' }, [{ path: 'state/a.yaml', type: 'file', mode: 0o644, owner: 'mallory', group: 'root', data: Buffer.from('x') }]);
    r = await cli('backup', 'restore', owned, ...host(c));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/"state\/a\.yaml" belongs to mallory:root; a restored file may belong only to root, left4me, left4me-web/);
    expect(readdirSync(join(c, 'etc/left4me/state'))).toEqual([]);
  });

  it('create refuses a link in the state tree, a directory anyone may write without the sticky bit, and a place inside what it backs up', async () => {
    const e = fakeHost('e', 9001);
    symlinkSync('/etc/shadow', join(e, 'etc/left4me/state/shadow.yaml'));
    let r = await cli('backup', 'create', join(dest, 'e.tar'), ...host(e));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/state\/shadow\.yaml is a symbolic link; a backup takes only files and directories/);
    expect(existsSync(join(dest, 'e.tar'))).toBe(false);
    rmSync(join(e, 'etc/left4me/state/shadow.yaml'));
    const open = join(scratch, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    r = await cli('backup', 'create', join(open, 'e.tar'), ...host(e));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/writable by everyone without the sticky bit/);
    r = await cli('backup', 'create', join(e, 'etc/left4me/state/e.tar'), ...host(e));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/lies inside .*state, which the backup itself holds/);
  });

  it("finds the directories where controller.yaml keeps them, and refuses to guess when that file has a problem", async () => {
    const f = fakeHost('f', 9101);
    put(f, 'etc/left4me/controller.yaml', 'dataDir: /srv/left4me-data\nstateDir: /srv/left4me-state\n');
    put(f, 'srv/left4me-state/instances/a.yaml', 'kind: Instance # moved\n');
    put(f, 'srv/left4me-data/status/leases.json', '{"moved":true}');
    put(f, 'var/lib/left4me/status/leases.json', '{"default place":true}');
    let r = await cli('backup', 'create', join(dest, 'f.tar'), ...host(f));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { entries } = await readArchive(join(dest, 'f.tar'));
    expect(entries.find((e) => e.path === 'data/status/leases.json')?.data?.toString()).toBe('{"moved":true}');
    expect(entries.find((e) => e.path === 'state/instances/a.yaml')?.data?.toString()).toBe('kind: Instance # moved\n');
    put(f, 'etc/left4me/controller.yaml', 'dataDir: relative/dir\n');
    r = await cli('backup', 'create', join(dest, 'f2.tar'), ...host(f));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/controller\.yaml:1:10  -  \/dataDir  "relative\/dir" must be an absolute.*\n.*has problems; it names the directories to back up/);
    expect(existsSync(join(dest, 'f2.tar'))).toBe(false);
  });
});
