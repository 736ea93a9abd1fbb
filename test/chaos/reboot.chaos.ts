// npm run chaos: power-offs of a private host (some of a settled host, some in the middle of a converge) and
// boots on the same disks; servers come back by systemd alone and the controller finds nothing to change.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chaosSeed } from '../support/chaos.js';
import { bootRebootRig, reboots, type RebootRig } from './reboot.js';

let rig: RebootRig | undefined;
let disks: string;
beforeAll(async () => {
  disks = await mkdtemp(join(tmpdir(), 'left4me-disks-'));
  rig = await bootRebootRig(disks);
});
afterAll(async () => {
  await rig?.demo.stop();
  await rm(disks, { recursive: true, force: true });
});

it('20 power-offs of an 8-instance host, 10 of them mid-converge, bring back exactly the desired host without the controller', async () => {
  const report = await reboots(rig!, { instances: 8, reboots: 20, midConverge: 10, ...chaosSeed('reboot') });
  console.log(`chaos reboot: ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
  expect(report.running + report.stopped).toBe(8);
}, 900_000);
