// npm run chaos: kill -9s of the controller during overlay builds and during
// installation updates (with the converge's 100 in controller-kills.chaos.ts,
// the first scenario): 100 kills per part, which together took about
// six minutes on the 2-core machine (171 s + 202 s), under the eight allowed.
import { afterEach, expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos.js';
import type { DemoHost } from '../support/demo-host.js';
import { bootKillsHost, installationUpdateKills, overlayBuildKills } from './kills.js';

let demo: DemoHost | undefined;
afterEach(async () => {
  await demo?.stop();
  demo = undefined;
});


it('100 kill -9s of the controller during overlay builds leave complete builds, served and collected by the rule', async () => {
  demo = await bootKillsHost();
  const report = await overlayBuildKills(demo, { kills: 100, moving: 3, bystanders: 2, zeroMib: 16, ...chaosSeed('overlay-build-kills') });
  console.log(`chaos overlay-build-kills: ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
  expect(report.untouched).toBe(3);
}, 900_000);

it('100 kill -9s of the controller during installation updates leave the last build installed and picked up per policy', async () => {
  demo = await bootKillsHost();
  const report = await installationUpdateKills(demo, { kills: 100, rounds: 34, bystanders: 2, ...chaosSeed('installation-update-kills') });
  console.log(`chaos installation-update-kills: ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
  expect(report.untouched).toBe(3);
}, 900_000);
