// The clock-jump scenario's short, seeded variant (the long run is
// test/chaos/clock.chaos.ts), and the check that its tool works: under
// libfaketime a node process's Date.now() follows the stepped clock while
// performance.now() does not. LEFT4ME_CHAOS_SEED replays a printed seed.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chaosSeed } from './support/chaos.js';
import { bootDemoHost, type DemoHost } from './support/demo-host.js';
import { steppedClock } from './support/faketime.js';
import { clockJumps } from './chaos/clock.js';

let demo: DemoHost | undefined;
afterEach(async () => {
  await demo?.stop();
  demo = undefined;
});

/** A node process under the clock: each line on stdin asks it for Date.now() and performance.now(). */
const PROBE = `process.stdin.on('data', () => process.stdout.write(JSON.stringify({ wall: Date.now(), mono: performance.now() }) + '\\n'));`;

describe('chaos clock (short)', () => {
  it("libfaketime steps a node process's wall clock and leaves its monotonic clock alone", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'left4me-faketime-'));
    const clock = await steppedClock(dir);
    const child = spawn(process.execPath, ['-e', PROBE], { env: { ...process.env, ...clock.env }, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: Array<{ wall: number; mono: number }> = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, i)) as { wall: number; mono: number });
        buf = buf.slice(i + 1);
      }
    });
    const ask = async () => {
      const n = lines.length;
      child.stdin.write('?\n');
      const deadline = performance.now() + 10_000;
      while (lines.length === n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (lines.length === n) throw new Error('the probe did not answer');
      // Its wall clock minus the real one, and its monotonic reading.
      return { skew: lines[n]!.wall - Date.now(), mono: lines[n]!.mono };
    };
    try {
      const real = await ask();
      expect(Math.abs(real.skew)).toBeLessThan(5_000);
      await clock.set(86_400);
      const ahead = await ask();
      expect(Math.abs(ahead.skew - 86_400_000)).toBeLessThan(5_000);
      await clock.set(-86_400);
      const behind = await ask();
      expect(Math.abs(behind.skew + 86_400_000)).toBeLessThan(5_000);
      // The monotonic clock went on forward through both steps, by no more than the real time between the asks.
      expect(behind.mono).toBeGreaterThanOrEqual(ahead.mono);
      expect(ahead.mono).toBeGreaterThanOrEqual(real.mono);
      expect(behind.mono - real.mono).toBeLessThan(10_000);
    } finally {
      child.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('clock steps of a day and an hour either way under a running controller: whenEmpty waits and trash retention in real time, no server restarted', async () => {
    demo = await bootDemoHost();
    const report = await clockJumps(demo, { rounds: 1, steady: 1, delaySeconds: 8, ...chaosSeed('clock (short)') });
    console.log(`chaos clock (short): ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
    expect(report.untouched).toBe(2);
  }, 180_000);
});
