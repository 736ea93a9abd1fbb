import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handTar, handZip } from '../../test/support/archive-fixtures.js';
import { failure, hostBuildContext } from '../../test/support/build-context.js';
import { startFixtureServer, type FixtureRoute, type FixtureServer } from '../../test/support/http-fixture.js';
import { bootPrivateHost, type PrivateHost } from '../demo/private-host/private-host.js';
import { DbusSystemdAdapter } from '../systemd/dbus-adapter.js';
import { buildArchive, guessArchiveFormat, inspectTree, type ArchiveFormat, type ArchiveSpec } from './archive.js';
import { BuildStepError, type BuildContext } from './source.js';

const exec = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// Listing and extraction run in the build sandbox: one private host serves every case.
let host: PrivateHost;
let systemd: DbusSystemdAdapter;
let work: string;
let server: FixtureServer;
const routes = new Map<string, FixtureRoute>();
const archives = new Map<string, Buffer>();

/** Serves `body` at `/name` and returns a spec for it. */
function serve(name: string, body: Buffer, extra: Partial<ArchiveSpec> = {}): ArchiveSpec {
  routes.set(`/${name}`, { body });
  return { url: server.url(`/${name}`), sha256: sha(body), stripComponents: 0, maxSize: 1 << 20, ...extra };
}

/** Packs `dir/top` into `name` with the real tools, the way map packs are made. */
async function pack(src: string, format: ArchiveFormat, name: string): Promise<Buffer> {
  const out = join(work, name);
  if (format === 'zip' || format === '7z') {
    await exec('7z', ['a', `-t${format}`, '-bd', out, 'top'], { cwd: src });
  } else {
    const flag = { tar: '', 'tar.gz': 'z', 'tar.xz': 'J', 'tar.bz2': 'j' }[format];
    await exec('tar', [`-c${flag}f`, out, '-C', src, 'top']);
  }
  return readFile(out);
}

beforeAll(async () => {
  host = await bootPrivateHost();
  systemd = new DbusSystemdAdapter({ address: host.busAddress });
  work = await mkdtemp(join(tmpdir(), 'l4m-archive-fixtures-'));
  server = await startFixtureServer(routes);
  // A small map pack: a vpk, a cfg that was private, a set-uid script and an in-tree link.
  const good = join(work, 'good');
  await mkdir(join(good, 'top/maps'), { recursive: true });
  await mkdir(join(good, 'top/cfg'));
  await writeFile(join(good, 'top/maps/c1m1.vpk'), 'VPK data');
  await writeFile(join(good, 'top/cfg/pack.cfg'), 'sv_pure 0\n');
  await chmod(join(good, 'top/cfg/pack.cfg'), 0o600);
  await writeFile(join(good, 'top/run.sh'), '#!/bin/sh\n');
  await chmod(join(good, 'top/run.sh'), 0o4755);
  await symlink('maps/c1m1.vpk', join(good, 'top/current.vpk'));
  for (const format of ['tar', 'tar.gz', 'tar.xz', 'tar.bz2', 'zip', '7z'] as ArchiveFormat[]) {
    archives.set(format, await pack(good, format, `good.${format}`));
  }
  // Compresses to almost nothing but declares far more than the limit used below.
  const bomb = join(work, 'bomb');
  await mkdir(join(bomb, 'top'), { recursive: true });
  for (const n of [1, 2, 3]) await writeFile(join(bomb, `top/zeros${n}.vpk`), Buffer.alloc(400_000));
  archives.set('bomb.tar.gz', await pack(bomb, 'tar.gz', 'bomb.tar.gz'));
  archives.set('bomb.zip', await pack(bomb, 'zip', 'bomb.zip'));
  // A zip whose symlink points at the host's password file.
  const evil = join(work, 'evil');
  await mkdir(join(evil, 'top'), { recursive: true });
  await writeFile(join(evil, 'top/ok.txt'), 'ok');
  await symlink('/etc/passwd', join(evil, 'top/passwd'));
  archives.set('evil-link.zip', await pack(evil, 'zip', 'evil-link.zip'));
  archives.set('evil-link.7z', await pack(evil, '7z', 'evil-link.7z'));
}, 60_000);
afterAll(async () => {
  await server?.close();
  await systemd?.close();
  await host?.stop();
  await rm(work, { recursive: true, force: true });
});

let ctx: BuildContext;
let lines: string[];
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ ctx, lines, cleanup } = await hostBuildContext(host, systemd, { overlay: 'maps', step: 1, steamApiBase: server.url('/steam'), maxDownloadBytes: 1 << 24, allowDownloadNetworks: ['127.0.0.1/32'] }));
});
afterEach(() => cleanup());


/** The build directory and scratch space hold nothing after a refused archive. */
async function expectNothingWritten(): Promise<void> {
  expect(await readdir(ctx.dir)).toEqual([]);
  expect(await readdir(ctx.tmpDir)).toEqual([]);
}

const modeOf = async (p: string) => (await stat(p)).mode & 0o7777;

describe('buildArchive extracts', () => {
  it.each(['tar', 'tar.gz', 'tar.xz', 'tar.bz2', 'zip', '7z'] as ArchiveFormat[])('%s with strip and target, normalising modes', async (format) => {
    const spec = serve(`pack.${format}`, archives.get(format)!, { stripComponents: 1, target: 'left4dead2/addons' });
    await buildArchive(spec, ctx);
    const root = join(ctx.dir, 'left4dead2/addons');
    expect((await readdir(root)).sort()).toEqual(['cfg', 'current.vpk', 'maps', 'run.sh']);
    expect(await readFile(join(root, 'maps/c1m1.vpk'), 'utf8')).toBe('VPK data');
    expect(await readlink(join(root, 'current.vpk'))).toBe('maps/c1m1.vpk');
    expect(await modeOf(join(root, 'cfg/pack.cfg'))).toBe(0o644);
    expect(await modeOf(join(root, 'run.sh'))).toBe(0o755);
    expect(await modeOf(join(root, 'maps'))).toBe(0o755);
    expect(await modeOf(join(ctx.dir, 'left4dead2'))).toBe(0o755);
    expect(await readdir(ctx.tmpDir)).toEqual([]);
    expect(lines.some((l) => l.includes(spec.sha256))).toBe(true);
  });

  it('guesses the format from the URL path, ignoring the query', async () => {
    expect(guessArchiveFormat('https://example.com/dl/pack.TGZ?token=1')).toBe('tar.gz');
    expect(guessArchiveFormat('https://example.com/pack.tar.bz2')).toBe('tar.bz2');
    expect(guessArchiveFormat('https://example.com/pack.txz')).toBe('tar.xz');
    expect(guessArchiveFormat('https://example.com/pack.7z')).toBe('7z');
    expect(guessArchiveFormat('https://example.com/download?id=7')).toBeUndefined();
    const err = await failure(buildArchive(serve('download', archives.get('zip')!), ctx));
    expect(err.message).toMatch(/cannot tell the archive format.*set format/);
    await buildArchive(serve('download2', archives.get('zip')!, { format: 'zip' }), ctx);
    expect(await readdir(ctx.dir)).toEqual(['top']);
  });

  it('merges into what earlier steps wrote, the archive winning', async () => {
    await mkdir(join(ctx.dir, 'maps'), { recursive: true });
    await writeFile(join(ctx.dir, 'maps/c1m1.vpk'), 'old');
    await writeFile(join(ctx.dir, 'maps/keep.vpk'), 'keep');
    await buildArchive(serve('merge.tar.gz', archives.get('tar.gz')!, { stripComponents: 1 }), ctx);
    expect(await readFile(join(ctx.dir, 'maps/c1m1.vpk'), 'utf8')).toBe('VPK data');
    expect(await readFile(join(ctx.dir, 'maps/keep.vpk'), 'utf8')).toBe('keep');
  });

  it('follows a redirect to the archive', async () => {
    const spec = serve('real.tar', archives.get('tar')!);
    routes.set('/moved.tar', { redirect: '/real.tar' });
    await buildArchive({ ...spec, url: server.url('/moved.tar') }, ctx);
    expect(await readFile(join(ctx.dir, 'top/maps/c1m1.vpk'), 'utf8')).toBe('VPK data');
  });

  it('refuses to merge into a target under a symlink an earlier step left', async () => {
    const outside = await mkdtemp(join(work, 'outside-'));
    await symlink(outside, join(ctx.dir, 'left4dead2'));
    const err = await failure(buildArchive(serve('sym.tar', archives.get('tar')!, { target: 'left4dead2/addons' }), ctx));
    expect(err.message).toMatch(/left4dead2 is a symlink/);
    expect(await readdir(outside)).toEqual([]);
  });
});

describe('buildArchive refuses', () => {
  it('a checksum mismatch, naming both digests and writing nothing', async () => {
    const wrong = 'a'.repeat(64);
    const spec = { ...serve('pack.tar.gz', archives.get('tar.gz')!), sha256: wrong };
    const err = await failure(buildArchive(spec, ctx));
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err.message).toContain('overlay maps, source 1');
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(sha(archives.get('tar.gz')!));
    await expectNothingWritten();
  });

  it('a download larger than maxSize', async () => {
    const err = await failure(buildArchive(serve('big.zip', archives.get('zip')!, { maxSize: 100 }), ctx));
    expect(err.message).toMatch(/more than the limit of 100/);
    await expectNothingWritten();
  });

  it('a non-2xx answer, naming status and URL', async () => {
    const err = await failure(buildArchive({ url: server.url('/nope.zip'), sha256: 'b'.repeat(64), stripComponents: 0, maxSize: 1000 }, ctx));
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain(server.url('/nope.zip'));
    await expectNothingWritten();
  });

  it.each([
    ['bomb.tar.gz', 'zeros'],
    ['bomb.zip', 'zeros'],
  ])('a %s whose declared sizes exceed maxSize', async (name, entry) => {
    const body = archives.get(name)!;
    expect(body.length).toBeLessThan(20_000);
    const err = await failure(buildArchive(serve(name, body, { maxSize: 1_000_000 }), ctx));
    expect(err.message).toMatch(/declares more than maxSize \(1000000 bytes\)/);
    expect(err.message).toContain(entry);
    await expectNothingWritten();
  });

  const hostileTars: [string, [string, string, string?][], string, RegExp][] = [
    ['a ../ entry', [['top/ok', '0'], ['top/../../evil', '0']], 'top/../../evil', /contains "\.\."/],
    ['an absolute path', [['/etc/cron.d/evil', '0']], '/etc/cron.d/evil', /absolute path/],
    ['a symlink to /etc/passwd', [['top/passwd', '2', '/etc/passwd']], 'top/passwd', /symlink to "\/etc\/passwd", which leaves the target directory/],
    ['a symlink a -> ../../x', [['top/a', '2', '../../x']], 'top/a', /leaves the target directory/],
    ['a hard link', [['top/ok', '0'], ['top/h', '1', 'top/ok']], 'top/h', /is a hard link/],
    ['a FIFO', [['top/fifo', '6']], 'top/fifo', /is a FIFO/],
    ['a device node', [['top/null', '3']], 'top/null', /device node/],
    ['a file under a symlink of the archive', [['top/d', '2', 'sub'], ['top/d/x', '0']], 'top/d/x', /lies under the symlink "d"/],
    ['links that escape only when followed', [['top/d', '2', '.'], ['top/e', '2', 'd/d/../..']], 'top/e', /leaves the target directory/],
    ['a symlink loop', [['top/a', '2', 'b'], ['top/b', '2', 'a']], 'top/a', /leaves the target directory/],
  ];
  it.each(hostileTars)('a tar with %s, naming the entry', async (_what, entries, entry, why) => {
    const err = await failure(buildArchive(serve(`hostile-${entry.replace(/\W/g, '_')}.tar`, handTar(entries), { stripComponents: 1 }), ctx));
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err.message).toContain(`entry ${JSON.stringify(entry)}`);
    expect(err.message).toMatch(why);
    expect(err.message).toMatch(/refused as a whole/);
    await expectNothingWritten();
  });

  it('the same hostile tar compressed (listing reads through gzip)', async () => {
    const { gzipSync } = await import('node:zlib');
    const err = await failure(buildArchive(serve('hostile.tar.gz', gzipSync(handTar([['top/../../evil', '0']]))), ctx));
    expect(err.message).toContain('entry "top/../../evil"');
    await expectNothingWritten();
  });

  it.each([
    ['a ../ entry', [['top/ok', 'x'], ['../evil', 'y']], '../evil', /contains "\.\."/],
    ['an absolute path', [['/abs/evil', 'y']], '/abs/evil', /absolute path/],
  ] as [string, [string, string][], string, RegExp][])('a zip with %s, naming the entry', async (_what, files, entry, why) => {
    const err = await failure(buildArchive(serve(`hostile-${entry.replace(/\W/g, '_')}.zip`, handZip(files)), ctx));
    expect(err.message).toContain(`entry ${JSON.stringify(entry)}`);
    expect(err.message).toMatch(why);
    await expectNothingWritten();
  });

  it.each(['evil-link.zip', 'evil-link.7z'])('a %s with a symlink to /etc/passwd', async (name) => {
    const err = await failure(buildArchive(serve(name, archives.get(name)!, { stripComponents: 1 }), ctx));
    expect(err.message).toContain('entry "top/passwd"');
    expect(err.message).toMatch(/symlink to "\/etc\/passwd"/);
    await expectNothingWritten();
  });

  it('an archive that strips to nothing, suggesting a lower stripComponents', async () => {
    const err = await failure(buildArchive(serve('shallow.tar', archives.get('tar')!, { stripComponents: 5 }), ctx));
    expect(err.message).toMatch(/nothing is left after stripping 5.*lower stripComponents/);
    await expectNothingWritten();
  });

  it('a corrupt archive with the tool message', async () => {
    const err = await failure(buildArchive(serve('corrupt.tar.gz', Buffer.from('not gzip at all')), ctx));
    expect(err.message).toMatch(/tar failed/);
    await expectNothingWritten();
  });

  it('when the build is cancelled', async () => {
    const abort = new AbortController();
    abort.abort(new Error('build cancelled'));
    const err = await failure(buildArchive(serve('cancel.tar', archives.get('tar')!), { ...ctx, signal: abort.signal }));
    expect(err.message).toMatch(/build cancelled/);
    await expectNothingWritten();
  });

  it('leaves earlier files alone when refused', async () => {
    await writeFile(join(ctx.dir, 'earlier.cfg'), 'x');
    await failure(buildArchive(serve('again.tar', handTar([['top/fifo', '6']])), ctx));
    expect(await readdir(ctx.dir)).toEqual(['earlier.cfg']);
    expect((await lstat(join(ctx.dir, 'earlier.cfg'))).isFile()).toBe(true);
  });
});

describe('inspectTree (the second check, after extraction)', () => {
  async function tree(): Promise<string> {
    const root = join(ctx.tmpDir, 'tree');
    await mkdir(join(root, 'maps'), { recursive: true });
    await writeFile(join(root, 'maps/a.vpk'), 'vpk');
    return root;
  }

  it('normalises modes: dirs 0755, files 0644 keeping the x bit, no set-id', async () => {
    const root = await tree();
    await chmod(join(root, 'maps'), 0o700);
    await chmod(join(root, 'maps/a.vpk'), 0o4700);
    await writeFile(join(root, 'private.cfg'), 'x', { mode: 0o600 });
    await symlink('maps/a.vpk', join(root, 'ok-link'));
    expect(await inspectTree(root, 1000, 'here')).toEqual({ entries: 4, bytes: 4 });
    expect(await modeOf(join(root, 'maps'))).toBe(0o755);
    expect(await modeOf(join(root, 'maps/a.vpk'))).toBe(0o755);
    expect(await modeOf(join(root, 'private.cfg'))).toBe(0o644);
  });

  it.each([
    ['a symlink to /etc/passwd', (root: string) => symlink('/etc/passwd', join(root, 'maps/passwd')), 'maps/passwd', /leaves the target directory/],
    ['a symlink leaving through ..', (root: string) => symlink('../../x', join(root, 'maps/up')), 'maps/up', /leaves the target directory/],
    ['a chain through another link', async (root: string) => { await symlink('.', join(root, 'd')); await symlink('d/d/..', join(root, 'e')); }, 'e', /leaves the target directory/],
    ['a hard link', (root: string) => import('node:fs/promises').then((fs) => fs.link(join(root, 'maps/a.vpk'), join(root, 'maps/h'))), 'maps/', /hard link/],
    ['a FIFO', (root: string) => exec('mkfifo', ['--', join(root, 'maps/fifo')]).then(() => undefined), 'maps/fifo', /not a file, directory or symlink/],
  ] as [string, (root: string) => Promise<void>, string, RegExp][])('refuses %s', async (_what, plant, entry, why) => {
    const root = await tree();
    await plant(root);
    const err = await failure(inspectTree(root, 1000, 'overlay maps, source 1'));
    // Either name of a hard-linked pair may come first; the prefix is enough.
    expect(err.message).toContain(`overlay maps, source 1: extracted entry "${entry}`);
    expect(err.message).toMatch(why);
  });

  it('refuses a tree bigger than maxSize (a zip header that understated sizes)', async () => {
    const root = await tree();
    await writeFile(join(root, 'maps/b.vpk'), Buffer.alloc(2000));
    expect((await failure(inspectTree(root, 1000, 'here'))).message).toMatch(/larger than maxSize \(1000 bytes\)/);
  });
});
