// An overlay's refresh interval is real time waited since its last check: a
// wall clock stepped forward does not check early, one stepped back does not
// put the next check off by the step (elapsed.ts). The build reconciler over
// a real pipeline and status store; the clocks are the test's.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { controllerConfig, documentLoadOptions, onHost } from '../config.js';
import { loadState } from '../documents/loader.js';
import { StatusStore } from '../status/store.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { BuildReconciler } from './build-reconciler.js';
import { ElapsedClock } from './elapsed.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-refresh-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const H = 3_600_000;
const D = 24 * H;

/** An overlay `cfg` refreshed hourly, in its own state directory and host, with the test's two clocks. */
function rig(name: string) {
  const stateDir = join(root, name, 'state');
  mkdirSync(join(stateDir, 'overlays'), { recursive: true });
  writeFileSync(join(stateDir, 'overlays', 'cfg.yaml'), 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: cfg}\nspec:\n  refresh: 1h\n  sources:\n    - files:\n        - {path: left4dead2/cfg/a.cfg, content: "sv_cheats 0"}\n');
  const cfg = controllerConfig({ stateDir, fsRoot: join(root, name, 'host') });
  const store = new StatusStore(onHost(cfg, cfg.units.layout.statusDir));
  const clock = { wall: Date.now(), mono: 1_000 };
  const elapsed = new ElapsedClock(() => clock.wall, () => clock.mono);
  const builds = new BuildReconciler({ cfg, systemd: {} as SystemdAdapter, log: pino({ level: 'silent' }), store, now: () => clock.wall, elapsed, enqueue: () => undefined });
  return { stateDir, cfg, store, clock, elapsed, builds };
}

describe('overlay refresh under a stepped clock', () => {
  it('checks again after the interval of real time, whatever steps the wall clock takes', async () => {
    const { stateDir, cfg, store, clock, builds } = rig('state');
    const state = await loadState(stateDir, documentLoadOptions(cfg));
    expect(state.problems).toEqual([]);
    const checkedAt = async () => (await store.read('Overlay', 'cfg'))?.build?.checkedAt;

    expect(await builds.reconcileOverlay('cfg', state)).toEqual({ requeueAfterMs: H });
    const first = await checkedAt();
    clock.mono += 10 * 60_000;
    clock.wall += 10 * 60_000 + D; // ten minutes pass, and NTP steps the clock a day forward
    expect(await builds.reconcileOverlay('cfg', state)).toEqual({ requeueAfterMs: 50 * 60_000 });
    expect(await checkedAt()).toBe(first);
    clock.wall -= 2 * D; // and two days back
    expect(await builds.reconcileOverlay('cfg', state)).toEqual({ requeueAfterMs: 50 * 60_000 });
    expect(await checkedAt()).toBe(first);
    clock.mono += 50 * 60_000;
    clock.wall += 50 * 60_000;
    expect(await builds.reconcileOverlay('cfg', state)).toEqual({ requeueAfterMs: H });
    expect(await checkedAt()).toBe(new Date(clock.wall).toISOString());
  });

  it("forgets a deleted overlay's refresh age at the next full pass", async () => {
    const { stateDir, cfg, clock, elapsed, builds } = rig('gone');
    await builds.reconcileOverlay('cfg', await loadState(stateDir, documentLoadOptions(cfg)));
    clock.mono += 10 * 60_000;
    rmSync(join(stateDir, 'overlays', 'cfg.yaml'));
    await builds.collectUnused(await loadState(stateDir, documentLoadOptions(cfg)));
    // Forgotten: its age is adopted afresh from the stamp given (now), not the ten minutes it had counted.
    expect(elapsed.age('refresh/cfg', clock.wall)).toBe(0);
  });
});
