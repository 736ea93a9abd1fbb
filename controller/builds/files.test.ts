import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failure, scratchBuildContext } from '../../test/support/build-context.js';
import { startFixtureServer, type FixtureServer } from '../../test/support/http-fixture.js';
import { buildFiles } from './files.js';
import { BuildStepError, type BuildContext } from './source.js';

const motd = Buffer.from('Welcome to the campaign\n');
const motdSha = createHash('sha256').update(motd).digest('hex');

let server: FixtureServer;
// The held download answers only once a test has done what it must while the step waits.
let requested: () => void = () => undefined;
let release: () => void = () => undefined;
let base: string;
let ctx: BuildContext;
let lines: string[];

beforeAll(async () => {
  server = await startFixtureServer({
    '/motd.txt': { body: motd },
    '/gone': { body: '', status: 410 },
    '/held/motd.txt': async (_req, res) => {
      requested();
      await new Promise<void>((r) => (release = r));
      res.writeHead(200, { 'content-length': String(motd.length) }).end(motd);
    },
  });
});
afterAll(() => server.close());
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ ctx, lines, base, cleanup } = await scratchBuildContext({ overlay: 'cfgs', step: 2, steamApiBase: server.url('/steam'), maxDownloadBytes: 1 << 20, allowDownloadNetworks: ['127.0.0.1/32'] }));
});
afterEach(() => cleanup());


const modeOf = async (p: string) => (await stat(p)).mode & 0o7777;

describe('buildFiles', () => {
  it('writes inline and downloaded files with their modes, creating parents 0755', async () => {
    await buildFiles(
      [
        { path: 'left4dead2/cfg/server-extra.cfg', content: 'sv_cheats 0\n', mode: '0600' },
        { path: 'left4dead2/addons/run.sh', content: '#!/bin/sh\n', mode: '755' },
        { path: 'left4dead2/motd.txt', url: server.url('/motd.txt'), sha256: motdSha, mode: '0644' },
      ],
      ctx,
    );
    const root = ctx.dir;
    expect(await readFile(join(root, 'left4dead2/cfg/server-extra.cfg'), 'utf8')).toBe('sv_cheats 0\n');
    expect(await modeOf(join(root, 'left4dead2/cfg/server-extra.cfg'))).toBe(0o600);
    expect(await modeOf(join(root, 'left4dead2/addons/run.sh'))).toBe(0o755);
    expect(await readFile(join(root, 'left4dead2/motd.txt'))).toEqual(motd);
    expect(await modeOf(join(root, 'left4dead2/motd.txt'))).toBe(0o644);
    expect(await modeOf(join(root, 'left4dead2/cfg'))).toBe(0o755);
    expect((await readdir(join(root, 'left4dead2'))).sort()).toEqual(['addons', 'cfg', 'motd.txt']);
    expect(lines.some((l) => l.includes(motdSha))).toBe(true);
  });

  it('refuses a mode with set-id bits even if it slips past the schema', async () => {
    const err = await failure(buildFiles([{ path: 'a', content: 'x', mode: '4755' }], ctx));
    expect(err.message).toMatch(/mode "4755" is not an octal permission/);
  });

  it('never grants group or other write, even to a mode that slips past the schema', async () => {
    await buildFiles([{ path: 'a.cfg', content: 'x', mode: '0777' }, { path: 'b.cfg', url: server.url('/motd.txt'), sha256: motdSha, mode: '0666' }], ctx);
    expect(await modeOf(join(ctx.dir, 'a.cfg'))).toBe(0o755);
    expect(await modeOf(join(ctx.dir, 'b.cfg'))).toBe(0o644);
  });

  it('lets a later entry replace an earlier file', async () => {
    await buildFiles([{ path: 'a.cfg', content: 'one', mode: '0644' }, { path: 'a.cfg', content: 'two', mode: '0640' }], ctx);
    expect(await readFile(join(ctx.dir, 'a.cfg'), 'utf8')).toBe('two');
    expect(await modeOf(join(ctx.dir, 'a.cfg'))).toBe(0o640);
  });

  it('refuses to write through a symlinked parent left by an earlier step', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside);
    await symlink(outside, join(ctx.dir, 'cfg'));
    const err = await failure(buildFiles([{ path: 'cfg/evil.cfg', content: 'x', mode: '0644' }], ctx));
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err.message).toContain('overlay cfgs, source 2, file "cfg/evil.cfg"');
    expect(err.message).toMatch(/cfg is a symlink/);
    expect(await readdir(outside)).toEqual([]);
  });

  it('never writes through a parent swapped for a symlink after it was checked', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside);
    const arrived = new Promise<void>((r) => (requested = r));
    const built = buildFiles([{ path: 'left4dead2/cfg/motd.txt', url: server.url('/held/motd.txt'), sha256: motdSha, mode: '0644' }], ctx);
    await arrived;
    // While the download is in flight, the checked directory is moved away and a link takes its place.
    await rename(join(ctx.dir, 'left4dead2', 'cfg'), join(ctx.dir, 'left4dead2', 'cfg-moved'));
    await symlink(outside, join(ctx.dir, 'left4dead2', 'cfg'));
    release();
    await built.catch(() => undefined);
    expect(await readdir(outside)).toEqual([]);
  });

  it('replaces a symlink at the file itself instead of writing through it', async () => {
    const outside = join(base, 'outside.txt');
    await writeFile(outside, 'keep');
    await symlink(outside, join(ctx.dir, 'motd.txt'));
    await buildFiles([{ path: 'motd.txt', content: 'new', mode: '0644' }], ctx);
    expect(await readFile(outside, 'utf8')).toBe('keep');
    expect((await lstat(join(ctx.dir, 'motd.txt'))).isFile()).toBe(true);
    expect(await readFile(join(ctx.dir, 'motd.txt'), 'utf8')).toBe('new');
  });

  it('refuses absolute and .. paths (defence in depth)', async () => {
    for (const path of ['/etc/passwd', '../evil', 'a/../../evil', 'a//b', './a']) {
      const err = await failure(buildFiles([{ path, content: 'x', mode: '0644' }], ctx));
      expect(err.message).toContain(JSON.stringify(path));
    }
    expect(await readdir(ctx.dir)).toEqual([]);
    expect((await readdir(base)).sort()).toEqual(['build', 'tmp']);
  });

  it('refuses a file path under an earlier file', async () => {
    const err = await failure(buildFiles([{ path: 'a', content: 'x', mode: '0644' }, { path: 'a/b', content: 'y', mode: '0644' }], ctx));
    expect(err.message).toMatch(/a is a file/);
  });

  it('names overlay, step, file and both digests on a checksum mismatch, leaving nothing', async () => {
    const wrong = 'f'.repeat(64);
    const err = await failure(buildFiles([{ path: 'left4dead2/motd.txt', url: server.url('/motd.txt'), sha256: wrong, mode: '0644' }], ctx));
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err.message).toContain('overlay cfgs, source 2, file "left4dead2/motd.txt"');
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(motdSha);
    expect(await readdir(join(ctx.dir, 'left4dead2'))).toEqual([]);
  });

  it('reports a non-2xx download with status and URL', async () => {
    const err = await failure(buildFiles([{ path: 'x', url: server.url('/gone'), sha256: motdSha, mode: '0644' }], ctx));
    expect(err.message).toContain('HTTP 410');
    expect(err.message).toContain(server.url('/gone'));
  });
});
