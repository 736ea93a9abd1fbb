// The reliability suite's short, seeded variants (the long runs are `npm run
// chaos`): each scenario at a small size, ending with the same host check.
// LEFT4ME_CHAOS_SEED replays a printed seed.
import { afterEach, describe, expect, it } from 'vitest';
import { chaosSeed } from './support/chaos.js';
import { bootDemoHost, type DemoHost } from './support/demo-host.js';
import { controllerKills } from './chaos/scenarios.js';

let demo: DemoHost | undefined;
afterEach(async () => {
  await demo?.stop();
  demo = undefined;
});

describe('chaos (short)', () => {
  it('5 kill -9s of the controller over a 5-instance converge with edits leave exactly the desired host', async () => {
    demo = await bootDemoHost();
    const report = await controllerKills(demo, { instances: 5, kills: 5, bystanders: 1, ...chaosSeed('controller-kills (short)') });
    console.log(`chaos controller-kills (short): ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
    expect(report.running + report.stopped).toBeGreaterThan(0);
  }, 180_000);
});
