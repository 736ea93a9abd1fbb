import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startResync, WorkQueue } from './queue.js';

/** A reconciler whose calls block until released, so tests control interleaving. */
function gated() {
  const calls: string[] = [];
  const gates: Array<() => void> = [];
  let active = 0;
  let maxActive = 0;
  const perKeyActive = new Map<string, number>();
  let overlap = false;
  const fn = async (key: string) => {
    calls.push(key);
    active++;
    maxActive = Math.max(maxActive, active);
    perKeyActive.set(key, (perKeyActive.get(key) ?? 0) + 1);
    if (perKeyActive.get(key)! > 1) overlap = true;
    await new Promise<void>((r) => gates.push(r));
    perKeyActive.set(key, perKeyActive.get(key)! - 1);
    active--;
  };
  return {
    fn,
    calls,
    releaseAll: () => gates.splice(0).forEach((r) => r()),
    get maxActive() { return maxActive; },
    get overlap() { return overlap; },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('WorkQueue', () => {
  it('dedupes a key that is already waiting', async () => {
    const g = gated();
    const q = new WorkQueue(g.fn, { concurrency: 1 });
    q.add('instance/a'); // starts running
    await tick();
    q.add('instance/b');
    q.add('instance/b');
    q.add('instance/b');
    g.releaseAll();
    await tick();
    g.releaseAll();
    await q.idle();
    expect(g.calls).toEqual(['instance/a', 'instance/b']);
  });

  it('never runs one key twice at once, but runs it again if it changed meanwhile', async () => {
    const g = gated();
    const q = new WorkQueue(g.fn, { concurrency: 4 });
    q.add('instance/a');
    await tick();
    q.add('instance/a'); // while running: marked dirty
    q.add('instance/a');
    await tick();
    expect(g.calls).toEqual(['instance/a']);
    g.releaseAll();
    await tick();
    await tick();
    expect(g.calls).toEqual(['instance/a', 'instance/a']);
    g.releaseAll();
    await q.idle();
    expect(g.overlap).toBe(false);
  });

  it('bounds concurrency across keys', async () => {
    const g = gated();
    const q = new WorkQueue(g.fn, { concurrency: 2 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(`instance/${k}`);
    for (let i = 0; i < 5; i++) {
      await tick();
      g.releaseAll();
    }
    await q.idle();
    expect(g.calls).toHaveLength(5);
    expect(g.maxActive).toBe(2);
  });

  describe('with fake timers', () => {
    beforeEach(() => vi.useFakeTimers());
    afterEach(() => vi.useRealTimers());

    it('backs off exponentially with a cap, and resets after a success', async () => {
      const times: number[] = [];
      let fail = 6;
      const errors: number[] = [];
      const q = new WorkQueue(
        async () => {
          times.push(Date.now());
          if (fail-- > 0) throw new Error('boom');
        },
        { baseBackoffMs: 100, maxBackoffMs: 1000, onError: (_k, _e, retry) => errors.push(retry) },
      );
      const start = Date.now();
      q.add('instance/a');
      await vi.runAllTimersAsync();
      expect(errors).toEqual([100, 200, 400, 800, 1000, 1000]);
      expect(times.map((t) => t - start)).toEqual([0, 100, 300, 700, 1500, 2500, 3500]);
      expect(q.failures('instance/a')).toBe(0);
    });

    it('requeues after the requested time, and an explicit add runs at once', async () => {
      const times: number[] = [];
      const q = new WorkQueue(async () => {
        times.push(Date.now());
        return times.length === 1 ? { requeueAfterMs: 5000 } : undefined;
      });
      const start = Date.now();
      q.add('instance/a');
      await vi.advanceTimersByTimeAsync(1000);
      q.add('instance/a'); // a change arrives: do not wait for the requeue
      await vi.advanceTimersByTimeAsync(10_000);
      expect(times.map((t) => t - start)).toEqual([0, 1000]);
    });

    it('a shorter delay wins over a pending one even after the wall clock is stepped forward (delays are monotonic)', async () => {
      let calls = 0;
      const q = new WorkQueue(async () => {
        calls++;
      });
      q.addAfter('instance/a', 60_000);
      vi.setSystemTime(Date.now() + 86_400_000); // NTP steps the clock a day forward; no time passes
      q.addAfter('instance/a', 20);
      await vi.advanceTimersByTimeAsync(100);
      expect(calls).toBe(1);
    });

    it('resync fires about every interval, with jitter inside the bound', async () => {
      const at: number[] = [];
      const start = Date.now();
      const stop = startResync(() => at.push(Date.now() - start), 1000, 0.2);
      await vi.advanceTimersByTimeAsync(10_000);
      stop();
      expect(at.length).toBeGreaterThanOrEqual(8);
      at.forEach((t, i) => {
        const gap = t - (at[i - 1] ?? 0);
        expect(gap).toBeGreaterThanOrEqual(800);
        expect(gap).toBeLessThanOrEqual(1200);
      });
    });

    it('stop() clears pending retries', async () => {
      let calls = 0;
      const q = new WorkQueue(async () => { calls++; throw new Error('x'); }, { baseBackoffMs: 100 });
      q.add('k');
      await vi.advanceTimersByTimeAsync(0);
      await q.stop();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(calls).toBe(1);
    });
  });
});
