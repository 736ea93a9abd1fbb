import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAccounts } from '../../test/support/web-client.js';
import { packageRoot } from '../package-root.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { buildWebApp } from './app.js';
import { MAX_FILE_BYTES, MAX_LIST_ENTRIES } from './file-tree.js';
import { UserStore } from './users.js';

// Browsing overlay builds and writable layers over real HTTP, against real
// files: links inside the trees point out of them, and the tests prove no
// answer ever carries what lies outside.
const root = mkdtempSync(join(tmpdir(), 'left4me-web-files-'));
const stateDir = join(root, 'state');
const data = join(root, 'data');
const SECRET = 'the-secret-outside-every-tree';
const build = join(data, 'overlays', 'demo-base', 'b-1');
const upper = join(data, 'instances', 'alice-1', 'upper');
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };

function overlayStatus(name: string, ready?: string): DocumentStatus {
  const now = new Date().toISOString();
  return { kind: 'Overlay', name, conditions: [], events: [], build: { ...(ready ? { ready } : {}), wanted: ready ?? 'b-0', generation: 'g', checkedAt: now, result: 'Succeeded', log: 'logs/x.log' } };
}

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'instances', 'alice-1.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-1, owner: alice}\nspec: {blueprint: demo-coop}\n');
  writeFileSync(join(stateDir, 'instances', 'alice-2.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-2, owner: alice}\nspec: {blueprint: demo-coop}\n');
  writeFileSync(join(stateDir, 'overlays', 'alice-maps.yaml'), 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: alice-maps, owner: alice}\nspec: {sources: [{files: [{path: left4dead2/addons/a.vpk, content: x}]}]}\n');

  // Outside every tree: what no answer may ever contain.
  mkdirSync(join(data, 'secrets'), { recursive: true });
  writeFileSync(join(data, 'secrets', 'rcon.json'), `{"alice-1": "${SECRET}"}`);
  mkdirSync(join(build, 'left4dead2', 'cfg'), { recursive: true });
  writeFileSync(join(data, 'overlays', 'outside.txt'), SECRET);
  writeFileSync(join(build, 'left4dead2', 'motd.txt'), 'Welcome to the left4me demo.\n');
  writeFileSync(join(build, 'left4dead2', 'cfg', 'demo.cfg'), 'sv_tags "demo"\n');
  writeFileSync(join(build, 'empty.txt'), '');
  // A name that is not UTF-8 (Linux names are bytes).
  writeFileSync(Buffer.concat([Buffer.from(`${build}/latin1-`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin1');
  writeFileSync(join(build, 'odd "name"\r\nX-Injected: 1.txt'), 'odd');
  symlinkSync(join(data, 'secrets', 'rcon.json'), join(build, 'abs-link'));
  symlinkSync('../../secrets/rcon.json', join(build, 'rel-link'));
  symlinkSync(join(data, 'secrets'), join(build, 'dir-link'));
  execFileSync('mkfifo', [join(build, 'fifo')]);
  writeFileSync(join(build, 'big.bin'), '');
  truncateSync(join(build, 'big.bin'), MAX_FILE_BYTES + 1);
  writeFileSync(join(build, 'at-cap.bin'), '');
  truncateSync(join(build, 'at-cap.bin'), MAX_FILE_BYTES);
  const many = join(build, 'many');
  mkdirSync(many);
  for (let i = 0; i <= MAX_LIST_ENTRIES; i++) writeFileSync(join(many, `f${String(i).padStart(5, '0')}`), '');

  mkdirSync(join(upper, 'left4dead2', 'cfg'), { recursive: true });
  writeFileSync(join(upper, 'left4dead2', 'cfg', 'banned_user.cfg'), 'banid 0 STEAM_1:0:1\n');
  // An overlayfs whiteout: the server deleted the installation's motd.txt.
  execFileSync('mknod', [join(upper, 'left4dead2', 'motd.txt'), 'c', '0', '0']);
  symlinkSync('/etc/shadow', join(upper, 'left4dead2', 'shadow'));
  // A tree root that is itself a link (no one but root could make it; still never followed).
  mkdirSync(join(data, 'instances', 'alice-2'), { recursive: true });
  symlinkSync(join(data, 'secrets'), join(data, 'instances', 'alice-2', 'upper'));
  mkdirSync(join(data, 'overlays', 'alice-maps', 'b-2', 'left4dead2', 'addons'), { recursive: true });
  writeFileSync(join(data, 'overlays', 'alice-maps', 'b-2', 'left4dead2', 'addons', 'a.vpk'), 'x');

  const status = new StatusStore(join(data, 'status'));
  await status.write(overlayStatus('demo-base', 'b-1'));
  await status.write(overlayStatus('alice-maps', 'b-2'));
  await status.write(overlayStatus('demo-config'));

  const users = new UserStore(join(root, 'web'));
  Object.assign(tokens, await testAccounts(users));
  app = await buildWebApp({ stateDir, dataDir: data, webDataDir: join(root, 'web') });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A GET with the path sent exactly as written (fetch would normalise `..` and `%2e%2e` away before sending). */
function raw(path: string, who: keyof typeof tokens = 'admin'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', headers: { authorization: `Bearer ${tokens[who]}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const json = async (path: string, who: keyof typeof tokens = 'admin') => {
  const r = await raw(path, who);
  return { status: r.status, body: JSON.parse(r.body.toString()) as Record<string, unknown> & { entries: Array<{ name: string; type: string; size: number; mtime: string }>; error: string } };
};

describe('files of an overlay build', () => {
  it('lists the ready build: names, types, sizes and times, links listed and not followed', async () => {
    const r = await json('/api/v1/overlays/demo-base/files');
    expect(r.status).toBe(200);
    expect(r.body.path).toBe('');
    expect(r.body.truncated).toBe(false);
    const byName = Object.fromEntries(r.body.entries.map((e) => [e.name, e]));
    expect(byName['left4dead2']).toMatchObject({ type: 'dir', size: 0 });
    expect(byName['abs-link']).toMatchObject({ type: 'link', size: 0 });
    expect(byName['rel-link']).toMatchObject({ type: 'link' });
    expect(byName['dir-link']).toMatchObject({ type: 'link' });
    expect(byName['fifo']).toMatchObject({ type: 'other' });
    expect(byName['big.bin']).toMatchObject({ type: 'file', size: MAX_FILE_BYTES + 1 });
    expect(byName['latin1-\ufffd.txt']).toMatchObject({ type: 'file', size: 6 });
    expect(Number.isNaN(Date.parse(byName['left4dead2']!.mtime))).toBe(false);
    expect(r.body.entries.map((e) => e.name)).toEqual([...r.body.entries.map((e) => e.name)].sort());
    // Trailing slash, and a nested directory.
    expect((await json('/api/v1/overlays/demo-base/files/')).body.entries.length).toBe(r.body.entries.length);
    const cfg = await json('/api/v1/overlays/demo-base/files/left4dead2/cfg/');
    expect(cfg.body).toEqual({ path: 'left4dead2/cfg', truncated: false, entries: [{ name: 'demo.cfg', type: 'file', size: 15, mtime: expect.any(String) }] });
  });

  it('downloads a file as an attachment that no browser renders', async () => {
    const r = await raw('/api/v1/overlays/demo-base/files/left4dead2/motd.txt');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('Welcome to the left4me demo.\n');
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['content-disposition']).toBe(`attachment; filename="motd.txt"; filename*=UTF-8''motd.txt`);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['content-length']).toBe(String('Welcome to the left4me demo.\n'.length));
    const empty = await raw('/api/v1/overlays/demo-base/files/empty.txt');
    expect([empty.status, empty.body.length]).toEqual([200, 0]);
  });

  it('names an odd file in Content-Disposition without letting it inject a header', async () => {
    const r = await raw(`/api/v1/overlays/demo-base/files/${encodeURIComponent('odd "name"\r\nX-Injected: 1.txt')}`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('odd');
    expect(r.headers['x-injected']).toBeUndefined();
    expect(r.headers['content-disposition']).toBe(`attachment; filename="odd__name___X-Injected__1.txt"; filename*=UTF-8''odd%20%22name%22%0D%0AX-Injected%3A%201.txt`);
  });

  it('refuses to follow a link: downloading it, listing through it, or passing through it', async () => {
    for (const path of ['abs-link', 'rel-link', 'dir-link', 'dir-link/', 'dir-link/rcon.json']) {
      const r = await raw(`/api/v1/overlays/demo-base/files/${path}`);
      expect(r.status, path).toBe(400);
      expect(r.body.toString(), path).toMatch(/link/);
      expect(r.body.toString(), path).not.toContain(SECRET);
    }
  });

  it('refuses every path trick with a 400 and never answers what lies outside', async () => {
    const tricks = [
      '/..',
      '/../outside.txt',
      '/../../secrets/rcon.json',
      '/left4dead2/../../outside.txt',
      '/%2e%2e/outside.txt',
      '/%2E%2E/%2E%2E/secrets/rcon.json',
      '/..%2foutside.txt',
      '/%2e%2e%2f%2e%2e%2fsecrets%2frcon.json',
      '/left4dead2%2fmotd.txt',
      '/.',
      '/./left4dead2',
      '//etc/passwd',
      '/left4dead2//motd.txt',
      '/motd.txt%00.cfg',
      '/%00',
    ];
    for (const path of tricks) {
      const r = await raw(`/api/v1/overlays/demo-base/files${path}`);
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.body.toString()).error, path).toMatch(/file path/);
      expect(r.body.toString(), path).not.toContain(SECRET);
    }
    // Invalid percent-encoding (and overlong UTF-8 dots): the router itself refuses it.
    for (const path of ['/%zz', '/%c0%ae%c0%ae/outside.txt']) expect((await raw(`/api/v1/overlays/demo-base/files${path}`)).status, path).toBe(400);
    // Not a trick, just a name that is not there (a backslash is an ordinary character on Linux).
    expect((await raw('/api/v1/overlays/demo-base/files/..%5coutside.txt')).status).toBe(404);
  });

  it('refuses a FIFO without blocking, and a missing file with 404', async () => {
    const fifo = await json('/api/v1/overlays/demo-base/files/fifo');
    expect(fifo.status).toBe(400);
    expect(fifo.body.error).toBe('fifo is a FIFO; only regular files can be downloaded');
    const missing = await json('/api/v1/overlays/demo-base/files/left4dead2/nope.txt');
    expect(missing).toEqual({ status: 404, body: { error: 'left4dead2/nope.txt not found' } });
    const underFile = await json('/api/v1/overlays/demo-base/files/left4dead2/motd.txt/x');
    expect(underFile.status).toBe(400);
    expect(underFile.body.error).toMatch(/motd\.txt is a file, not a directory/);
  });

  it('caps a download: one byte over the cap is a 413 that says the cap; the cap itself streams whole', async () => {
    const r = await json('/api/v1/overlays/demo-base/files/big.bin');
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ error: `big.bin is ${MAX_FILE_BYTES + 1} bytes; downloads are capped at ${MAX_FILE_BYTES} bytes (64 MiB)`, size: MAX_FILE_BYTES + 1, limit: MAX_FILE_BYTES });
    const whole = await raw('/api/v1/overlays/demo-base/files/at-cap.bin');
    expect(whole.status).toBe(200);
    expect(whole.body.length).toBe(MAX_FILE_BYTES);
  });

  it(`lists at most ${MAX_LIST_ENTRIES} entries of a directory and says it cut the rest`, async () => {
    const r = await json('/api/v1/overlays/demo-base/files/many');
    expect(r.status).toBe(200);
    expect(r.body.truncated).toBe(true);
    expect(r.body.entries.length).toBe(MAX_LIST_ENTRIES);
  });

  it('shows an overlay only to those who may see it, and says when it has no ready build', async () => {
    expect((await json('/api/v1/overlays/demo-base/files', 'bob')).status).toBe(200);
    expect((await json('/api/v1/overlays/alice-maps/files/left4dead2/addons', 'alice')).body.entries.map((e) => e.name)).toEqual(['a.vpk']);
    expect((await raw('/api/v1/overlays/alice-maps/files/left4dead2/addons/a.vpk', 'admin')).body.toString()).toBe('x');
    for (const path of ['/api/v1/overlays/alice-maps/files', '/api/v1/overlays/alice-maps/files/left4dead2/addons/a.vpk']) {
      expect(await json(path, 'bob'), path).toEqual({ status: 404, body: { error: 'overlay "alice-maps" not found' } });
    }
    expect(await json('/api/v1/overlays/nope/files')).toEqual({ status: 404, body: { error: 'overlay "nope" not found' } });
    expect(await json('/api/v1/overlays/demo-config/files')).toEqual({ status: 404, body: { error: 'overlay "demo-config" has no ready build yet' } });
    expect(await json('/api/v1/overlays/demo-rates/files')).toEqual({ status: 404, body: { error: 'overlay "demo-rates" has no ready build yet' } });
    expect((await raw('/api/v1/overlays/__proto__/files')).status).toBe(404);
    expect((await fetch(`${base}/api/v1/overlays/demo-base/files`)).status).toBe(401);
  });
});

describe("files of an instance's writable layer", () => {
  it('lists the layer for its owner: a whiteout shows as deleted, a link as a link', async () => {
    const r = await json('/api/v1/instances/alice-1/files/left4dead2', 'alice');
    expect(r.status).toBe(200);
    expect(r.body.entries.map((e) => [e.name, e.type])).toEqual([
      ['cfg', 'dir'],
      ['motd.txt', 'deleted'],
      ['shadow', 'link'],
    ]);
    expect((await raw('/api/v1/instances/alice-1/files/left4dead2/cfg/banned_user.cfg', 'alice')).body.toString()).toBe('banid 0 STEAM_1:0:1\n');
    expect((await json('/api/v1/instances/alice-1/files/left4dead2/motd.txt', 'alice')).body.error).toMatch(/^left4dead2\/motd\.txt is deleted/);
    expect((await json('/api/v1/instances/alice-1/files/left4dead2/shadow', 'alice')).status).toBe(400);
    expect((await json('/api/v1/instances/alice-1/files', 'admin')).status).toBe(200);
  });

  it("hides another user's instance (404), refuses a visible one it does not own (403), and says when there is no layer yet", async () => {
    for (const path of ['/api/v1/instances/alice-1/files', '/api/v1/instances/alice-1/files/left4dead2/cfg/banned_user.cfg']) {
      expect(await json(path, 'bob'), path).toEqual({ status: 404, body: { error: 'instance "alice-1" not found' } });
    }
    for (const path of ['/api/v1/instances/%2e%2e/files', '/api/v1/instances/..%2Fsecrets/files', '/api/v1/overlays/%2e%2e/files/secrets/rcon.json']) {
      const r = await raw(path);
      expect(r.status, path).toBe(404);
      expect(r.body.toString(), path).not.toContain(SECRET);
    }
    const system = await json('/api/v1/instances/demo-1/files', 'bob');
    expect(system.status).toBe(403);
    expect(await json('/api/v1/instances/demo-1/files', 'admin')).toEqual({ status: 404, body: { error: 'instance "demo-1" has no writable layer yet (it has not been started)' } });
  });

  it('never follows a link where the layer itself should be', async () => {
    for (const path of ['/api/v1/instances/alice-2/files', '/api/v1/instances/alice-2/files/rcon.json']) {
      const r = await raw(path, 'alice');
      expect(r.status, path).toBe(500);
      expect(JSON.parse(r.body.toString()), path).toEqual({ error: 'a link stands where a tree should be; the controller must repair the data directory' });
    }
  });
});
