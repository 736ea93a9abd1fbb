import { existsSync, linkSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDeepTree } from '../../test/support/deep-tree.js';
import { removeTree } from '../fs/remove-tree.js';
import { controllerConfig } from '../config.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { ElapsedClock } from './elapsed.js';
import { HostJanitor } from './janitor.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-trash-'));
afterAll(async () => {
  await removeTree(root);
});

describe('trash', () => {
  it('keeps writable layers of deleted instances for the retention period, then removes them', async () => {
    const cfg = controllerConfig({ fsRoot: root, stateDir: join(root, 'state'), trashRetentionMs: 86_400_000 });
    const trash = join(root, cfg.trashDir);
    mkdirSync(join(trash, 'old-20261101'), { recursive: true });
    mkdirSync(join(trash, 'new-20261121'), { recursive: true });
    const twoDaysAgo = (Date.now() - 2 * 86_400_000) / 1000;
    utimesSync(join(trash, 'old-20261101'), twoDaysAgo, twoDaysAgo);
    // sweepTrash touches only files: the adapter is never called.
    const janitor = new HostJanitor(cfg, {} as SystemdAdapter, pino({ level: 'silent' }), Date.now);
    expect(await janitor.sweepTrash()).toEqual(['old-20261101']);
    expect(existsSync(join(trash, 'old-20261101'))).toBe(false);
    expect(existsSync(join(trash, 'new-20261121'))).toBe(true);
  });

  it('measures retention in real time: a clock stepped forward empties nothing early, one stepped back keeps nothing longer', async () => {
    const cfg = controllerConfig({ fsRoot: join(root, 'stepped'), stateDir: join(root, 'state'), trashRetentionMs: 3_600_000 });
    const trash = join(root, 'stepped', cfg.trashDir);
    const clock = { wall: Date.now(), mono: 0 };
    const janitor = new HostJanitor(cfg, {} as SystemdAdapter, pino({ level: 'silent' }), () => clock.wall, new ElapsedClock(() => clock.wall, () => clock.mono));
    mkdirSync(join(trash, 'stepped-forward'), { recursive: true });
    const halfAnHourAgo = (clock.wall - 1_800_000) / 1000;
    utimesSync(join(trash, 'stepped-forward'), halfAnHourAgo, halfAnHourAgo);
    expect(await janitor.sweepTrash()).toEqual([]); // met at half an hour old
    clock.wall += 86_400_000; // NTP steps the clock a day forward
    expect(await janitor.sweepTrash()).toEqual([]);
    // The clock is stepped two days back: this entry's mtime is now a day in the future.
    clock.wall -= 2 * 86_400_000;
    mkdirSync(join(trash, 'from-the-future'), { recursive: true });
    const tomorrow = (clock.wall + 86_400_000) / 1000;
    utimesSync(join(trash, 'from-the-future'), tomorrow, tomorrow);
    expect(await janitor.sweepTrash()).toEqual([]);
    clock.mono += 1_800_001;
    clock.wall += 1_800_001;
    expect(await janitor.sweepTrash()).toEqual(['stepped-forward']); // an hour of real time
    clock.mono += 1_800_000;
    clock.wall += 1_800_000;
    expect(await janitor.sweepTrash()).toEqual(['from-the-future']); // an hour after it was met, not a day later
  });

  it('drops workshop revisions no build links any more, once they are a day old', async () => {
    const cfg = controllerConfig({ fsRoot: root, stateDir: join(root, 'state') });
    const cache = join(root, cfg.units.layout.cacheDir, 'workshop');
    const build = join(root, cfg.units.layout.overlaysDir, 'maps', 'b1', 'left4dead2', 'addons');
    mkdirSync(cache, { recursive: true });
    mkdirSync(build, { recursive: true });
    const old = (Date.now() - 2 * 86_400_000) / 1000;
    for (const f of ['1-100.vpk', '2-200.vpk', '3-300.vpk']) {
      writeFileSync(join(cache, f), 'vpk');
      if (f !== '3-300.vpk') utimesSync(join(cache, f), old, old);
    }
    linkSync(join(cache, '2-200.vpk'), join(build, '2.vpk')); // still used by a build
    const janitor = new HostJanitor(cfg, {} as SystemdAdapter, pino({ level: 'silent' }), Date.now);
    expect(await janitor.sweepWorkshopCache()).toEqual(['1-100.vpk']);
    expect(existsSync(join(cache, '2-200.vpk'))).toBe(true);
    expect(existsSync(join(cache, '3-300.vpk'))).toBe(true); // fresh: a build may be about to link it
  });
});

describe('trees too deep to name', () => {
  // A script, or a server in its writable layer (moved to the trash by a reset),
  // can leave a tree deeper than PATH_MAX; the janitor must still remove it.
  it('empties a 2,500-level trash entry', async () => {
    const cfg = controllerConfig({ fsRoot: root, stateDir: join(root, 'state'), trashRetentionMs: 86_400_000 });
    const entry = join(root, cfg.trashDir, 'deep-20261101');
    mkdirSync(entry, { recursive: true });
    makeDeepTree(entry, 2500);
    const old = (Date.now() - 2 * 86_400_000) / 1000;
    utimesSync(entry, old, old);
    const janitor = new HostJanitor(cfg, {} as SystemdAdapter, pino({ level: 'silent' }), Date.now);
    expect(await janitor.sweepTrash()).toEqual(['deep-20261101']);
    expect(existsSync(entry)).toBe(false);
  });

  it('removes a 2,500-level unfinished build', async () => {
    const cfg = controllerConfig({ fsRoot: root, stateDir: join(root, 'state') });
    const tmp = join(root, cfg.units.layout.overlaysDir, 'maps', '.tmp-0123456789ab');
    mkdirSync(tmp, { recursive: true });
    makeDeepTree(tmp, 2500);
    // Listing build sandboxes fails on this adapter; that is a warning, and the sweep goes on.
    const janitor = new HostJanitor(cfg, {} as SystemdAdapter, pino({ level: 'silent' }), Date.now);
    await janitor.sweepTemporaries();
    expect(existsSync(tmp)).toBe(false);
  });

  it('stops the build sandboxes and steamcmd runs a killed controller left, and clears their failed state', async () => {
    const cfg = controllerConfig({ fsRoot: root, stateDir: join(root, 'state') });
    const asked: string[][] = [];
    const calls: string[] = [];
    const units = [
      { name: 'left4me-build-maps-0123abcd.service', activeState: 'active' },
      { name: 'left4me-steamcmd-l4d2-89abcdef.service', activeState: 'activating' },
      { name: 'left4me-steamcmd-l4d2-00000000.service', activeState: 'failed' },
    ];
    const systemd = {
      listUnits: async (patterns: string[]) => {
        asked.push(patterns);
        return units.filter((u) => patterns.some((p) => u.name.startsWith(p.slice(0, p.indexOf('*')))));
      },
      stop: async (unit: string) => void calls.push(`stop ${unit}`),
      resetFailed: async (unit: string) => void calls.push(`reset ${unit}`),
    } as unknown as SystemdAdapter;
    await new HostJanitor(cfg, systemd, pino({ level: 'silent' }), Date.now).sweepTemporaries();
    expect(asked).toEqual([['left4me-build-*.service', 'left4me-steamcmd-*.service']]);
    expect(calls).toEqual([
      'stop left4me-build-maps-0123abcd.service',
      'reset left4me-build-maps-0123abcd.service',
      'stop left4me-steamcmd-l4d2-89abcdef.service',
      'reset left4me-steamcmd-l4d2-89abcdef.service',
      'stop left4me-steamcmd-l4d2-00000000.service',
      'reset left4me-steamcmd-l4d2-00000000.service',
    ]);
  });

  it("removes the temp files a kill leaves beside status files, at the top and in each kind's folder, and nothing else", async () => {
    const cfg = controllerConfig({ fsRoot: root, stateDir: join(root, 'state') });
    const status = join(root, cfg.units.layout.statusDir);
    mkdirSync(join(status, 'instance'), { recursive: true });
    mkdirSync(join(status, 'overlay'), { recursive: true });
    const temps = [join(status, '.0123456789ab.tmp'), join(status, 'instance', '.c1596ed56df4.tmp'), join(status, 'overlay', '.eb775cd73165.tmp')];
    const kept = [join(status, 'leases.json'), join(status, 'instance', 'a.json'), join(status, 'instance', '.notours.tmp')];
    for (const f of [...temps, ...kept]) writeFileSync(f, '{');
    await new HostJanitor(cfg, {} as SystemdAdapter, pino({ level: 'silent' }), Date.now).sweepTemporaries();
    expect(temps.filter((f) => existsSync(f))).toEqual([]);
    expect(kept.filter((f) => existsSync(f))).toEqual(kept);
  });
});

