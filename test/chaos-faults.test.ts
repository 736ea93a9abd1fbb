// The host-fault scenarios' short, seeded variants (the long runs are in
// test/chaos/faults.chaos.ts): the system bus restarted under a running
// controller, and a full disk during a build and during status writes, each
// ending with the suite's one host check. LEFT4ME_CHAOS_SEED replays a seed.
import { afterEach, describe, expect, it } from 'vitest';
import { chaosSeed } from './support/chaos.js';
import { bootDemoHost, type DemoHost } from './support/demo-host.js';
import { busRestarts, diskFull, faultsSetup } from './chaos/faults.js';

let demo: DemoHost | undefined;
afterEach(async () => {
  await demo?.stop();
  demo = undefined;
});

describe('chaos: host faults (short)', () => {
  it('3 system bus restarts under a converging controller: it reconnects, resyncs and converges an edit made after them', async () => {
    demo = await bootDemoHost();
    faultsSetup(demo);
    const report = await busRestarts(demo, { instances: 3, restarts: 3, bystanders: 1, ...chaosSeed('bus-restarts (short)') });
    console.log(`chaos bus-restarts (short): ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
    expect(report.untouched).toBe(1);
  }, 120_000);

  it('a full disk during a build and during status writes: the build fails naming ENOSPC, nothing is torn, all recovers', async () => {
    demo = await bootDemoHost();
    faultsSetup(demo);
    const report = await diskFull(demo, { cycles: 1, ...chaosSeed('disk-full (short)') });
    console.log(`chaos disk-full (short): ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
    expect(report.untouched).toBe(1);
  }, 180_000);
});
