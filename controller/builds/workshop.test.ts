import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostLayout } from '../host/layout.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COLLECTION_PATH, DETAILS_PATH, startSteamFixture, type SteamFixture } from '../../test/support/steam-fixture.js';
import { EgressGuard } from './egress.js';
import type { BuildContext } from './source.js';
import { BuildStepError } from './source.js';
import { buildWorkshop, resolveWorkshop, workshopFingerprint, WorkshopItemsError, WorkshopRetryError, type WorkshopSpec } from './workshop.js';

let steam: SteamFixture;
let root: string;
let logs: string[];

beforeEach(async () => {
  steam = await startSteamFixture();
  root = await mkdtemp(join(tmpdir(), 'l4m-workshop-'));
  logs = [];
});
afterEach(async () => {
  await steam.close();
  await rm(root, { recursive: true, force: true });
});

/** A build context for overlay `name`: its own unfinished dir, the shared cache under the temp root. */
async function ctx(name: string, extra: Partial<BuildContext> = {}): Promise<BuildContext> {
  const dir = join(root, 'overlays', name, `.tmp-${Math.random().toString(36).slice(2)}`);
  await mkdir(dir, { recursive: true });
  return {
    overlay: name,
    step: 0,
    dir,
    hostDir: dir,
    cacheDir: join(root, 'cache'),
    tmpDir: join(root, 'tmp'),
    log: (line) => logs.push(line),
    signal: AbortSignal.timeout(20_000),
    systemd: undefined as never,
    steamApiBase: steam.base,
    maxDownloadBytes: 1 << 20,
    // The stand-in (API and file host) listens on loopback: allowed explicitly, as an operator would.
    egress: new EgressGuard(['127.0.0.1/32']),
    layout: hostLayout(),
    ...extra,
  };
}

const vpk = (c: BuildContext, id: string) => join(c.dir, 'left4dead2', 'addons', `${id}.vpk`);
const cached = (id: string, revision: number) => join(root, 'cache', 'workshop', `${id}-${revision}.vpk`);

describe('resolving', () => {
  it('expands nested collections in sortorder, survives a cycle, and dedupes items', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run' });
    steam.setItem({ id: '2524204971', title: 'Dark Carnival Remix' });
    steam.setItem({ id: '1959405608', title: 'Urban Flight' });
    steam.setItem({ id: '2800000001', title: 'Left 4 Bagels' });
    // Outer lists its children out of sortorder; inner lists outer again (a cycle) and itself.
    steam.setCollection({
      id: '2900000000',
      children: [
        { id: '1959405608', sortorder: 3 },
        { id: '2900000001', filetype: 2, sortorder: 2 },
        { id: '698857882', sortorder: 1 },
      ],
    });
    steam.setCollection({
      id: '2900000001',
      children: [
        { id: '2800000001', sortorder: 1 },
        { id: '2900000000', filetype: 2, sortorder: 2 },
        { id: '2900000001', filetype: 2, sortorder: 3 },
        { id: '698857882', sortorder: 4 },
      ],
    });
    const items = await resolveWorkshop({ items: ['2524204971', '698857882'], collections: ['2900000000'] }, await ctx('maps'));
    expect(items.map((i) => [i.id, i.title])).toEqual([
      ['2524204971', 'Dark Carnival Remix'],
      ['698857882', 'Tank Run'],
      ['2800000001', 'Left 4 Bagels'],
      ['1959405608', 'Urban Flight'],
    ]);
    expect(items[0]).toEqual({ id: '2524204971', revision: 1600000000, title: 'Dark Carnival Remix', fileUrl: `${steam.base}ugc/2524204971/1600000000/2524204971.vpk`, fileSize: expect.any(Number) });
    // Each collection asked for once (one request per nesting level), every item in one details request.
    expect(steam.count(COLLECTION_PATH)).toBe(2);
    expect(steam.count(DETAILS_PATH)).toBe(1);
    // The form is Steam's documented shape.
    expect(steam.forms(COLLECTION_PATH)[0]).toEqual({ collectioncount: '1', 'publishedfileids[0]': '2900000000' });
    expect(steam.forms(DETAILS_PATH)[0]).toMatchObject({ itemcount: '4', 'publishedfileids[0]': '2524204971' });
  });

  it('a malformed API answer is a clear error naming the overlay, step and endpoint', async () => {
    steam.override(DETAILS_PATH, { status: 200, body: '{"response":{"result":1,"publishedfiledetails":[{"publishedfileid":"698857882"}]}}' });
    const err = await resolveWorkshop({ items: ['698857882'] }, { ...(await ctx('maps')), step: 2 }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(BuildStepError); // retried: a broken answer is not the document's fault
    expect((err as Error).message).toBe(
      'overlay maps, source 2 (workshop): Steam Web API GetPublishedFileDetails: unexpected answer: response.publishedfiledetails[0].result is missing; retry later, or check steamApiBase if it persists',
    );
  });

  it('a non-JSON collection answer is a clear error', async () => {
    steam.override(COLLECTION_PATH, { status: 200, body: '<html>maintenance</html>', contentType: 'text/html' });
    await expect(resolveWorkshop({ collections: ['2900000000'] }, await ctx('maps'))).rejects.toThrow(
      /^overlay maps, source 0 \(workshop\): Steam Web API GetCollectionDetails: .* answered something that is not JSON \(starts with "<html>maintenance<\/html>"\)/,
    );
  });
});

describe('building', () => {
  it('installs items as left4dead2/addons/<id>.vpk, hard links of the cache', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run', timeUpdated: 1690000000, content: 'tank run vpk' });
    steam.setCollection({ id: '2900000000', children: [{ id: '2524204971' }] });
    steam.setItem({ id: '2524204971', title: 'Dark Carnival Remix', timeUpdated: 1700000000 });
    const c = await ctx('standard');
    const items = await buildWorkshop({ items: ['698857882'], collections: ['2900000000'] }, c);
    expect(items.map((i) => i.id)).toEqual(['698857882', '2524204971']);
    expect((await readdir(join(c.dir, 'left4dead2', 'addons'))).sort()).toEqual(['2524204971.vpk', '698857882.vpk']);
    expect(await readFile(vpk(c, '698857882'), 'utf8')).toBe('tank run vpk');
    const s = await stat(vpk(c, '698857882'));
    expect(s.ino).toBe((await stat(cached('698857882', 1690000000))).ino);
    expect(s.mode & 0o777).toBe(0o644);
    expect((await stat(cached('2524204971', 1700000000))).nlink).toBe(2);
  });

  it('two overlays sharing an item, built at once: one download, one inode', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run', content: Buffer.alloc(200_000, 7) });
    steam.setItem({ id: '2524204971', title: 'Dark Carnival Remix' });
    steam.setDownloadDelay(100); // both builds are waiting on the same transfer
    const [a, b] = [await ctx('standard'), await ctx('versus-maps')];
    await Promise.all([buildWorkshop({ items: ['698857882'] }, a), buildWorkshop({ items: ['2524204971', '698857882'] }, b)]);
    expect(steam.downloads('698857882')).toBe(1);
    const ino = (await stat(cached('698857882', 1600000000))).ino;
    expect((await stat(vpk(a, '698857882'))).ino).toBe(ino);
    expect((await stat(vpk(b, '698857882'))).ino).toBe(ino);
    expect((await stat(cached('698857882', 1600000000))).nlink).toBe(3);
    // No half files or leftovers in the cache.
    expect((await readdir(join(root, 'cache', 'workshop'))).sort()).toEqual(['2524204971-1600000000.vpk', '698857882-1600000000.vpk']);
  });

  it('a later build of the same revision links the cached file without downloading', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run' });
    await buildWorkshop({ items: ['698857882'] }, await ctx('a'));
    await buildWorkshop({ items: ['698857882'] }, await ctx('b'));
    expect(steam.downloads('698857882')).toBe(1);
    expect(logs).toContain('workshop: 698857882 (Tank Run) revision 1600000000 is cached');
  });

  it('refresh: unchanged items keep the fingerprint and download nothing; a revision bump downloads the new file', async () => {
    const spec: WorkshopSpec = { items: ['698857882', '2524204971'] };
    steam.setItem({ id: '698857882', title: 'Tank Run', timeUpdated: 1690000000, content: 'old' });
    steam.setItem({ id: '2524204971', title: 'Dark Carnival Remix', timeUpdated: 1700000000 });
    const first = await resolveWorkshop(spec, await ctx('standard'));
    await buildWorkshop(spec, await ctx('standard'), first);
    expect(steam.count(DETAILS_PATH)).toBe(1); // the resolved list was reused

    const again = await resolveWorkshop(spec, await ctx('standard'));
    expect(workshopFingerprint(again)).toBe(workshopFingerprint(first));
    expect(workshopFingerprint([...again].reverse())).toBe(workshopFingerprint(first));
    await buildWorkshop(spec, await ctx('standard'), again);
    expect(steam.downloads('698857882')).toBe(1);
    expect(steam.downloads('2524204971')).toBe(1);

    steam.setItem({ id: '698857882', title: 'Tank Run', timeUpdated: 1710000000, content: 'new!' });
    const bumped = await resolveWorkshop(spec, await ctx('standard'));
    expect(workshopFingerprint(bumped)).not.toBe(workshopFingerprint(first));
    const c = await ctx('standard');
    await buildWorkshop(spec, c, bumped);
    expect(steam.downloads('698857882')).toBe(1); // the new revision's URL, once
    expect(steam.count('/ugc/698857882/1690000000/698857882.vpk')).toBe(1);
    expect(steam.downloads('2524204971')).toBe(1);
    expect(await readFile(vpk(c, '698857882'), 'utf8')).toBe('new!');
    // The old revision stays cached for builds that still use it.
    expect(await readFile(cached('698857882', 1690000000), 'utf8')).toBe('old');
  });

  it('a later step replaces the file an earlier step put at the same path', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run', content: 'from steam' });
    const c = await ctx('standard');
    await mkdir(join(c.dir, 'left4dead2', 'addons'), { recursive: true });
    await writeFile(vpk(c, '698857882'), 'from an earlier files step');
    await buildWorkshop({ items: ['698857882'] }, c);
    expect(await readFile(vpk(c, '698857882'), 'utf8')).toBe('from steam');
  });
});

describe('progress', () => {
  it("reports every item's bytes together against the items' sizes from Steam; a cached item counts whole", async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run', content: Buffer.alloc(300_000, 1) });
    steam.setItem({ id: '2524204971', title: 'Dark Carnival Remix', content: Buffer.alloc(200_000, 2) });
    await buildWorkshop({ items: ['698857882'] }, await ctx('first'));
    const seen: Array<{ label: string; bytes?: number; totalBytes?: number }> = [];
    await buildWorkshop({ items: ['698857882', '2524204971'] }, await ctx('maps', { progress: (a) => seen.push(a) }));
    expect(seen.every((a) => a.totalBytes === 500_000)).toBe(true);
    expect(seen.map((a) => a.label)).toContain('workshop 2524204971 (2/2)');
    expect(seen.map((a) => a.label)).toContain('workshop 698857882 (1/2)');
    // Parallel downloads add up: the total never goes back and ends at the whole.
    const bytes = seen.map((a) => a.bytes!);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(bytes.at(-1)).toBe(500_000);
  });
});

describe('links an earlier step left', () => {
  // A script step runs as the build user and may leave any symlink in the build;
  // the workshop step runs as root and must never create or link through one.
  for (const [what, plant] of [
    ['left4dead2', async (c: BuildContext, outside: string) => symlink(outside, join(c.dir, 'left4dead2'))],
    ['left4dead2/addons', async (c: BuildContext, outside: string) => {
      await mkdir(join(c.dir, 'left4dead2'));
      await symlink(outside, join(c.dir, 'left4dead2', 'addons'));
    }],
  ] as const) {
    it(`refuses to install through ${what} when it is a symlink, creating nothing outside the build`, async () => {
      steam.setItem({ id: '698857882', title: 'Tank Run' });
      const outside = join(root, 'outside');
      await mkdir(outside);
      const c = await ctx('standard');
      await plant(c, outside);
      const err = await buildWorkshop({ items: ['698857882'] }, c).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BuildStepError);
      expect((err as Error).message).toBe(`overlay standard, source 0 (workshop): ${what} is a symlink left by an earlier step; refusing to write through it (remove the link in that step, or do not install workshop items into it)`);
      expect(await readdir(outside)).toEqual([]);
      expect(steam.downloads('698857882')).toBe(0);
    });
  }
});

describe('per-item errors', () => {
  it('lists every item that cannot be installed, once, naming the overlay, step, id and title', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run' }); // fine
    steam.setItem({ id: '2524204971', title: 'Private Map', result: 9 });
    steam.setItem({ id: '2100000001', title: 'Naughty Skin', banned: true });
    steam.setItem({ id: '2100000002', title: 'Portal Hat', appId: 620 });
    steam.setItem({ id: '2100000003', title: 'Big Campaign', emptyFileUrl: true });
    steam.setItem({ id: '2100000004', title: 'Vanished File', fileMissing: true });
    steam.setItem({ id: '2100000005', title: 'Wrong Size', content: 'abc', fileSize: 10 });
    steam.setCollection({ id: '2900000000', children: [{ id: '2100000001' }, { id: '2100000002' }] });
    const c = { ...(await ctx('standard')), step: 1 };
    const err = await buildWorkshop(
      { items: ['698857882', '2524204971', '2100000003', '2100000004', '2100000005'], collections: ['2900000000', '2900000404'] },
      c,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkshopItemsError);
    expect(err).toBeInstanceOf(BuildStepError);
    const message = (err as Error).message;
    const lines = message.split('\n');
    expect(lines[0]).toBe('overlay standard, source 1 (workshop): 6 items and 1 collection cannot be installed:');
    const line = (id: string) => lines.find((l) => l.includes(`workshop item ${id} `)) ?? `(no line for ${id})`;
    expect(lines).toContain('  - workshop collection 2900000404 is not available (result 9: removed, private, or not a collection id); remove it from the document');
    // Steam withholds the title of an unavailable item; the id alone must do.
    expect(line('2524204971')).toBe(
      '  - workshop item 2524204971 is not available on the Steam Workshop (result 9: removed, private, or not a published file id); remove it from the document or ask its author to make it public',
    );
    expect(line('2100000001')).toBe('  - workshop item 2100000001 "Naughty Skin" is banned on the Steam Workshop; remove it from the document (from collection 2900000000)');
    expect(line('2100000002')).toBe(
      '  - workshop item 2100000002 "Portal Hat" is an item for Steam app 620, not Left 4 Dead 2 (550); check the id (from collection 2900000000)',
    );
    expect(line('2100000003')).toMatch(
      /^ {2}- workshop item 2100000003 "Big Campaign" has no direct download \(Steam's file_url is empty\): it can only be downloaded through the Steam client or steamcmd \(workshop_download_item 550 2100000003\)/,
    );
    expect(line('2100000004')).toMatch(/^ {2}- workshop item 2100000004 "Vanished File" could not be installed from Steam's file_url: http:\/\/127\.0\.0\.1:\d+\/ugc\/2100000004\/1600000000\/2100000004\.vpk answered HTTP 404 Not Found/);
    expect(line('2100000005')).toMatch(/^ {2}- workshop item 2100000005 "Wrong Size" could not be installed from Steam's file_url: .* is 3 bytes, but 10 were expected/);
    expect((err as WorkshopItemsError).problems.map((p) => p.id).sort()).toEqual(
      ['2100000001', '2100000002', '2100000003', '2100000004', '2100000005', '2524204971', '2900000404'],
    );
    // The good item was still installed and nothing half-written is left in the cache.
    expect((await readdir(join(root, 'cache', 'workshop'))).sort()).toEqual(['698857882-1600000000.vpk']);
    expect(await readdir(join(c.dir, 'left4dead2', 'addons'))).toEqual(['698857882.vpk']);
  });

  it('resolveWorkshop refuses the same items before any download', async () => {
    steam.setItem({ id: '2100000001', title: 'Naughty Skin', banned: true });
    await expect(resolveWorkshop({ items: ['2100000001'] }, await ctx('standard'))).rejects.toThrow(
      'overlay standard, source 0 (workshop): 1 item cannot be installed:\n  - workshop item 2100000001 "Naughty Skin" is banned on the Steam Workshop; remove it from the document',
    );
  });

  it('a dropped download alone is worth a retry, not a person', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run' });
    const [item] = await resolveWorkshop({ items: ['698857882'] }, await ctx('standard'));
    const unreachable = { ...item!, fileUrl: 'http://127.0.0.1:9/ugc/698857882.vpk' };
    const err = await buildWorkshop({ items: ['698857882'] }, await ctx('standard'), [unreachable]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkshopRetryError);
    expect(err).not.toBeInstanceOf(BuildStepError);
    expect((err as Error).message).toMatch(/workshop item 698857882 "Tank Run" could not be installed from Steam's file_url: download of http:\/\/127\.0\.0\.1:9\/ugc\/698857882\.vpk failed/);
  });

  it('a cancelled build stops with the reason, not a list of items', async () => {
    steam.setItem({ id: '698857882', title: 'Tank Run' });
    steam.setDownloadDelay(2_000);
    const ac = new AbortController();
    const c = await ctx('standard', { signal: ac.signal });
    const built = buildWorkshop({ items: ['698857882'] }, c).catch((e: unknown) => e);
    setTimeout(() => ac.abort(new Error('build cancelled')), 200);
    const err = await built;
    expect((err as Error).message).toBe('overlay standard, source 0 (workshop): stopped: build cancelled');
  });
});
