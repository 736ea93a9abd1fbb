// The short, seeded variants of the kill -9 scenarios during overlay builds
// and during an installation update (the long runs: test/chaos/kills.chaos.ts).
// LEFT4ME_CHAOS_SEED replays a printed seed.
import { afterEach, describe, expect, it } from 'vitest';
import { chaosSeed } from './support/chaos.js';
import type { DemoHost } from './support/demo-host.js';
import { bootKillsHost, installationUpdateKills, overlayBuildKills } from './chaos/kills.js';

let demo: DemoHost | undefined;
afterEach(async () => {
  await demo?.stop();
  demo = undefined;
});


describe('chaos kills (short)', () => {
  it('kill -9s of the controller during overlay builds leave complete builds, served and collected by the rule', async () => {
    demo = await bootKillsHost();
    const report = await overlayBuildKills(demo, { kills: 3, moving: 1, bystanders: 1, zeroMib: 2, maxLifeMs: 2000, ...chaosSeed('overlay-build-kills (short)') });
    console.log(`chaos overlay-build-kills (short): ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
    expect(report.untouched).toBe(2);
  }, 120_000);

  it('kill -9s of the controller during an installation update leave the new build installed and picked up per policy', async () => {
    demo = await bootKillsHost();
    const report = await installationUpdateKills(demo, { kills: 2, rounds: 1, bystanders: 1, maxLifeMs: 2500, ...chaosSeed('installation-update-kills (short)') });
    console.log(`chaos installation-update-kills (short): ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
    expect(report.untouched).toBe(2);
  }, 120_000);
});
