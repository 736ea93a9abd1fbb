// The bound on builds at once holds across kinds: overlay builds and Steam
// installation builds share one bound, counted as systemd sees it — the
// running transient build units (scripts, archives, steamcmd) on the bus.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootDemoHost, startController, waitFor, type DemoHost } from './support/demo-host.js';
import { ACCOUNTS, STAND_IN } from './support/steamcmd-stand-in.js';

const PORTS = { game: { min: 28120, max: 28199 }, client: { min: 29120, max: 29199 } };
const BOUND = 2;
const OVERLAYS = ['o1', 'o2', 'o3', 'o4'];
const INSTALLATIONS = ['i1', 'i2', 'i3'];
let demo: DemoHost;

// Every build takes a few seconds, so builds that may overlap do overlap.
const docs = [
  ...INSTALLATIONS.map((n) => `apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: ${n}}\nspec:\n  source: steam\n  steam: {windowsFirst: false, validate: false}\n`),
  ...OVERLAYS.map((n) => `apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: ${n}}\nspec:\n  sources:\n    - script:\n        run: "sleep 3; echo ${n} > /overlay/${n}.txt"\n`),
].join('---\n');

beforeAll(async () => {
  demo = await bootDemoHost();
  const steamHome = join(demo.host.dirs.varLib, 'steam');
  await mkdir(join(steamHome, 'steamcmd'), { recursive: true });
  await writeFile(join(steamHome, 'steamcmd', 'steamcmd.sh'), STAND_IN.replace('\n', '\nsleep 3\n'), { mode: 0o755 });
  await mkdir(join(demo.host.dirs.etc, 'secrets'), { recursive: true, mode: 0o700 });
  await writeFile(join(demo.host.dirs.etc, 'secrets', 'steam.json'), JSON.stringify(ACCOUNTS), { mode: 0o600 });
  await chmod(join(demo.host.dirs.etc, 'secrets', 'steam.json'), 0o600);
}, 60_000);

afterAll(async () => {
  await demo?.stop();
});

describe('builds at once', () => {
  it(`never runs more than buildConcurrency (${BOUND}) build sandboxes, overlays and installations together`, async () => {
    let most = 0;
    let watching = true;
    const count = async () => {
      const units = await demo.systemd.listUnits(['left4me-build-*', 'left4me-steamcmd-*']);
      most = Math.max(most, units.filter((u) => u.activeState === 'activating' || u.activeState === 'active' || u.activeState === 'deactivating').length);
    };
    const unsubscribe = demo.systemd.onUnitChanged(() => void count().catch(() => undefined));
    const poll = (async () => {
      while (watching) {
        await count().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await demo.write('builds.yaml', docs);
    const ctl = await startController(demo, { portRanges: PORTS, buildConcurrency: BOUND });
    let report = '';
    try {
      await waitFor(
        'every overlay and installation built',
        async () => {
          const statuses = await Promise.all([...OVERLAYS.map((n) => demo.status.read('Overlay', n)), ...INSTALLATIONS.map((n) => demo.status.read('Installation', n))]);
          report = statuses.map((st, i) => `${[...OVERLAYS, ...INSTALLATIONS][i]}: ${st?.build?.result ?? 'not started'} ${st?.lastError?.message ?? ''}`).join('; ');
          return statuses.every((st) => st?.build?.result === 'Succeeded');
        },
        120_000,
        250,
      ).catch((err: Error) => {
        throw new Error(`${err.message} (${report})`);
      });
    } finally {
      watching = false;
      unsubscribe();
      await poll;
      await ctl.stop();
    }
    expect(most).toBeLessThanOrEqual(BOUND);
    // The bound was reached, so the count could have seen more had there been more.
    expect(most).toBe(BOUND);
  }, 180_000);
});
