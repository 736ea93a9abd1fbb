// npm run chaos: 20 system bus restarts over a 15-instance converge with edits,
// and 10 fill/free cycles of a full disk during builds and status writes.
import { afterEach, expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos.js';
import { bootDemoHost, type DemoHost } from '../support/demo-host.js';
import { busRestarts, diskFull, faultsSetup } from './faults.js';

let demo: DemoHost | undefined;
afterEach(async () => {
  await demo?.stop();
  demo = undefined;
});

it('20 system bus restarts at random moments over a 15-instance converge with edits: the controller reconnects, resyncs and converges', async () => {
  demo = await bootDemoHost();
  faultsSetup(demo);
  const report = await busRestarts(demo, { instances: 15, restarts: 20, bystanders: 3, ...chaosSeed('bus-restarts') });
  console.log(`chaos bus-restarts: ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
  expect(report.untouched).toBe(3);
}, 900_000);

it('10 fill/free cycles of a full disk during builds and status writes: builds fail naming ENOSPC, nothing is torn, all recovers', async () => {
  demo = await bootDemoHost();
  faultsSetup(demo);
  const report = await diskFull(demo, { cycles: 10, ...chaosSeed('disk-full') });
  console.log(`chaos disk-full: ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
  expect(report.untouched).toBe(1);
}, 900_000);
