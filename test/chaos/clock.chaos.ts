// npm run chaos: the wall clock of a running controller stepped a day or an hour either way, over six rounds.
import { expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos.js';
import { demoHostPerFile } from '../support/host-per-file.js';
import { clockJumps } from './clock.js';

const host = demoHostPerFile();

it('clock steps under a running controller: whenEmpty restarts and trash retention follow real time, five steady servers never restart', async () => {
  const report = await clockJumps(host(), { rounds: 6, steady: 5, delaySeconds: 15, ...chaosSeed('clock') });
  console.log(`chaos clock: ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
  expect(report.untouched).toBe(6);
}, 900_000);
