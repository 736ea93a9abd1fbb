// npm run chaos: torn state files at start, three rounds over twenty servers that must not restart.
import { expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos.js';
import { demoHostPerFile } from '../support/host-per-file.js';
import { corruptFiles } from './scenarios.js';

const host = demoHostPerFile();

it('torn leases, uid leases, status and secrets files at start, three times over twenty servers', async () => {
  const report = await corruptFiles(host(), { instances: 20, rounds: 3, ...chaosSeed('corrupt-files') });
  console.log(`chaos corrupt-files: ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
  expect(report.untouched).toBe(20);
}, 900_000);
