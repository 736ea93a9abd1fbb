// npm run chaos: 100 kill -9s of the controller over a 30-instance converge with edits.
import { expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos.js';
import { demoHostPerFile } from '../support/host-per-file.js';
import { controllerKills } from './scenarios.js';

const host = demoHostPerFile();

it('100 kill -9s of the controller over a 30-instance converge with edits leave exactly the desired host', async () => {
  const report = await controllerKills(host(), { instances: 30, kills: 100, bystanders: 6, ...chaosSeed('controller-kills') });
  console.log(`chaos controller-kills: ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
  expect(report.running + report.stopped).toBeGreaterThan(0);
}, 900_000);
