// Timed waits under a stepped wall clock: the rules of elapsed.ts, and the
// whenEmpty rollout (observe.ts pendingSince + plan) that rests on them.
import { describe, expect, it } from 'vitest';
import { ElapsedClock } from './elapsed.js';
import { pendingSince } from './instance/observe.js';
import { planInstance, type InstanceIntent, type InstanceObservation } from './plan.js';

const M = 60_000;
const D = 86_400_000;

/** A wall clock and a monotonic one a test moves apart, as an NTP step does. */
function clocks(wallStart = 1_800_000_000_000) {
  const c = { wall: wallStart, mono: 5_000 };
  return {
    c,
    /** Real time passes: both clocks move. */
    pass(ms: number) {
      c.wall += ms;
      c.mono += ms;
    },
    /** The wall clock is stepped; monotonic time does not move. */
    step(ms: number) {
      c.wall += ms;
    },
    elapsed: new ElapsedClock(() => c.wall, () => c.mono),
  };
}

describe('ElapsedClock', () => {
  it('adopts a stamp once by its wall-clock age, then counts monotonic time whatever the wall clock does', () => {
    const t = clocks();
    expect(t.elapsed.age('k', t.c.wall - 3 * M)).toBe(3 * M);
    t.step(D);
    expect(t.elapsed.age('k', t.c.wall - 3 * M)).toBe(3 * M); // the stamp is not read again
    t.pass(M);
    t.step(-2 * D);
    expect(t.elapsed.age('k', 0)).toBe(4 * M);
  });

  it('adopts a stamp in the future, or one that is no time at all, as age 0', () => {
    const t = clocks();
    expect(t.elapsed.age('future', t.c.wall + D)).toBe(0);
    expect(t.elapsed.age('garbage', Number.NaN)).toBe(0);
    t.pass(M);
    expect(t.elapsed.age('future', 0)).toBe(M);
    expect(t.elapsed.age('garbage', 0)).toBe(M);
  });

  it('begin() starts a wait now; forget() and forgetExcept() drop waits so their stamps are adopted again', () => {
    const t = clocks();
    t.elapsed.begin('trash/a');
    t.elapsed.begin('trash/b');
    t.elapsed.begin('pending/x');
    t.pass(M);
    expect(t.elapsed.age('trash/a', 0)).toBe(M);
    t.elapsed.forgetExcept('trash/', new Set(['trash/a']));
    expect(t.elapsed.age('trash/b', t.c.wall - 7 * M)).toBe(7 * M); // forgotten: adopted from its stamp
    expect(t.elapsed.age('pending/x', 0)).toBe(M); // another prefix: kept
    t.elapsed.forget('trash/a');
    expect(t.elapsed.age('trash/a', t.c.wall)).toBe(0);
  });
});

describe('whenEmpty under a stepped clock (maxUpdateDelay is real time waited)', () => {
  const FILES = new Map([['a/launch.env', 'ENV v2']]);
  const intent: InstanceIntent = { name: 'a', state: 'running', updatePolicy: 'whenEmpty', maxUpdateDelayMs: 10 * M, files: FILES };
  const observed = (since: number | undefined): InstanceObservation => ({
    service: { activeState: 'active', subState: 'running' },
    mounted: true,
    enabled: true,
    files: new Map([['a/launch.env', 'ENV v1']]),
    layersPresent: true,
    players: 2,
    ...(since !== undefined ? { pendingSince: since } : {}),
  });
  /** One pass as the reconciler makes it: the stamp from status through pendingSince, the plan, the stamp written back. */
  function pass(t: ReturnType<typeof clocks>, stamp: number | undefined) {
    const x = { now: () => t.c.wall, elapsed: t.elapsed };
    const plan = planInstance(intent, observed(stamp === undefined ? undefined : pendingSince(x, 'a', stamp)), t.c.wall);
    if (plan.pending) t.elapsed.age('pending/a', plan.pending.since);
    return { restart: plan.actions.some((a) => a.type === 'stop'), stamp: plan.pending?.since };
  }

  it('a clock stepped a day forward does not restart early; one stepped a day back does not postpone the restart', () => {
    const t = clocks();
    let p = pass(t, undefined);
    expect(p.restart).toBe(false);
    const began = p.stamp!;
    t.pass(2 * M);
    t.step(D);
    p = pass(t, p.stamp);
    expect(p.restart).toBe(false);
    // The stamp written back agrees with the new wall clock: 2 minutes ago by it.
    expect(p.stamp).toBe(t.c.wall - 2 * M);
    expect(p.stamp).toBe(began + D);
    t.pass(3 * M);
    t.step(-2 * D);
    p = pass(t, p.stamp);
    expect(p.restart).toBe(false);
    expect(p.stamp).toBe(t.c.wall - 5 * M);
    t.pass(5 * M - 1);
    expect(pass(t, p.stamp).restart).toBe(false);
    t.pass(1);
    expect(pass(t, p.stamp).restart).toBe(true); // exactly maxUpdateDelay of real time after it began
  });

  it('keeps the stamp it read while the clocks agree, so status does not change pass by pass', () => {
    const t = clocks();
    const first = pass(t, undefined).stamp!;
    t.pass(M);
    t.c.mono += 500; // a slewed clock drifts a little
    expect(pass(t, first).stamp).toBe(first);
  });

  it('after a controller restart, adopts the persisted stamp by the wall clock; one in the future waits from now', () => {
    const t = clocks();
    expect(pass(t, t.c.wall - 9 * M).restart).toBe(false);
    t.pass(M);
    expect(pass(t, 0).restart).toBe(true); // 9 + 1 minutes: the stamp read at adoption counted
    const u = clocks();
    const p = pass(u, u.c.wall + D); // written before the clock was stepped a day back
    expect(p.restart).toBe(false);
    expect(p.stamp).toBe(u.c.wall);
    u.pass(10 * M);
    expect(pass(u, p.stamp).restart).toBe(true);
  });
});
