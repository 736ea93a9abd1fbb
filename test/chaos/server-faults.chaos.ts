// npm run chaos: a killed, a hung and a crash-looping game server among ten that must not restart.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos.js';
import { bootDemoHost, type DemoHost } from '../support/demo-host.js';
import { serverFaults } from './scenarios.js';

let demo: DemoHost;
beforeAll(async () => {
  demo = await bootDemoHost();
});
afterAll(async () => {
  await demo?.stop();
});

it('a killed, a hung and a crash-looping game server among ten bystanders are handled by their rules', async () => {
  const report = await serverFaults(demo, { bystanders: 10, ...chaosSeed('server-faults') });
  console.log(`chaos server-faults: ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
  expect(report.untouched).toBe(10);
}, 900_000);
