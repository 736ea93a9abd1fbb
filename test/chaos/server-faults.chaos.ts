// npm run chaos: a killed, a hung and a crash-looping game server among ten that must not restart.
import { expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos.js';
import { demoHostPerFile } from '../support/host-per-file.js';
import { serverFaults } from './scenarios.js';

const host = demoHostPerFile();

it('a killed, a hung and a crash-looping game server among ten bystanders are handled by their rules', async () => {
  const report = await serverFaults(host(), { bystanders: 10, ...chaosSeed('server-faults') });
  console.log(`chaos server-faults: ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
  expect(report.untouched).toBe(10);
}, 900_000);
