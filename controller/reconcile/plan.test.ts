import { describe, expect, it } from 'vitest';
import { planInstance, type InstanceIntent, type InstanceObservation } from './plan.js';

const H = 3_600_000;
const NOW = 10 * H;
const FILES = new Map([
  ['var-lib-left4me-runtime-a.mount', 'MOUNT v2'],
  ['a/launch.env', 'ENV v2'],
]);
const OLD = new Map<string, string | undefined>([
  ['var-lib-left4me-runtime-a.mount', 'MOUNT v1'],
  ['a/launch.env', 'ENV v1'],
]);
const MISSING = new Map<string, string | undefined>();

function intent(over: Partial<InstanceIntent> = {}): InstanceIntent {
  return { name: 'a', state: 'running', updatePolicy: 'whenEmpty', maxUpdateDelayMs: 6 * H, files: FILES, ...over };
}
function obs(over: Partial<InstanceObservation> = {}): InstanceObservation {
  return { service: { activeState: 'active', subState: 'running' }, mounted: true, enabled: true, files: new Map(FILES), layersPresent: true, ...over };
}
const types = (p: ReturnType<typeof planInstance>) => p.actions.map((a) => a.type);

describe('planInstance', () => {
  const table: Array<[string, Partial<InstanceIntent>, Partial<InstanceObservation>, string[], Record<string, unknown>?]> = [
    // create
    ['new instance: layers, files, start, then enable (a start never waits for it)', {}, { service: undefined, mounted: false, enabled: false, files: MISSING, layersPresent: false }, ['writeLayers', 'writeFiles', 'start', 'enable']],
    ['running but not enabled (disabled by hand): enable, nothing else', {}, { enabled: false }, ['enable']],
    ['desired stopped while enabled: disable, stop, unmount', { state: 'stopped' }, {}, ['disable', 'stop', 'unmount']],
    ['in sync and running: nothing to do', {}, {}, []],
    ['in sync and stopped as desired: nothing', { state: 'stopped' }, { service: { activeState: 'inactive', subState: 'dead' }, mounted: false, enabled: false }, []],
    // start / stop
    ['stopped by hand: start again', {}, { service: { activeState: 'inactive', subState: 'dead' } }, ['start']],
    ['failed (not by its start limit): reset-failed, start', {}, { service: { activeState: 'failed', subState: 'failed', gaveUp: false }, mounted: true }, ['resetFailed', 'start']],
    // a crash loop systemd ended (StartLimitBurst): left down until a person acts
    ['crash loop ended by the start limit: left failed, reported', {}, { service: { activeState: 'failed', subState: 'failed', gaveUp: true }, mounted: true }, [], { crashLoop: true }],
    ['crash loop, then restartedAt: reset-failed, start', { restartedAt: 't1' }, { service: { activeState: 'failed', subState: 'failed', gaveUp: true }, mounted: true }, ['resetFailed', 'start'], { handled: { restartedAt: 't1' } }],
    ['crash loop, then new documents: new files, reset-failed, start', {}, { service: { activeState: 'failed', subState: 'failed', gaveUp: true }, mounted: true, files: OLD }, ['unmount', 'writeFiles', 'resetFailed', 'start']],
    ['desired stopped: stop and unmount', { state: 'stopped' }, { enabled: false }, ['stop', 'unmount']],
    ['stopped with outdated files: write them while it is down', { state: 'stopped' }, { service: { activeState: 'inactive', subState: 'dead' }, mounted: false, enabled: false, files: OLD }, ['writeFiles']],
    ['starting: wait and look again', {}, { service: { activeState: 'activating', subState: 'start' } }, [], { requeueAfterMs: 1000 }],
    // drift
    ['mount missing while the server is down: start mounts it', {}, { service: { activeState: 'inactive', subState: 'dead' }, mounted: false }, ['start']],
    ['unit file edited by hand, server down: rewrite, remount, start', {}, { service: { activeState: 'inactive', subState: 'dead' }, files: OLD }, ['unmount', 'writeFiles', 'start']],
    ['a build missing on disk: rebuild layers first', {}, { layersPresent: false }, ['writeLayers']],
    // restart-needed with each policy
    ['changed spec, immediate: restart now with new files', { updatePolicy: 'immediate' }, { files: OLD }, ['stop', 'unmount', 'writeFiles', 'start']],
    ['changed spec, manual: wait for the annotation', { updatePolicy: 'manual' }, { files: OLD }, [], { pending: expect.objectContaining({ reason: 'WaitingForManualRestart' }) }],
    ['changed spec, whenEmpty, players unknown: ask', {}, { files: OLD }, [], { needsPlayers: true, requeueAfterMs: 15_000, pending: expect.objectContaining({ reason: 'WaitingForEmpty' }) }],
    ['changed spec, whenEmpty, 3 players: wait', {}, { files: OLD, players: 3, pendingSince: NOW - H }, [], { requeueAfterMs: 15_000, pending: expect.objectContaining({ reason: 'WaitingForEmpty', message: '3 players connected; restarting when the server is empty or in 5h, whichever comes first', since: NOW - H }) }],
    ['changed spec, whenEmpty, empty: restart', {}, { files: OLD, players: 0 }, ['stop', 'unmount', 'writeFiles', 'start']],
    ['changed spec, whenEmpty, max delay passed: restart anyway', {}, { files: OLD, players: 5, pendingSince: NOW - 6 * H }, ['stop', 'unmount', 'writeFiles', 'start']],
    ['whenEmpty near the deadline: poll no later than the deadline', {}, { files: OLD, players: 1, pendingSince: NOW - 6 * H + 5000 }, [], { requeueAfterMs: 5000, pending: expect.objectContaining({ reason: 'WaitingForEmpty' }) }],
    // imperative annotations
    ['restartedAt set: restart even when in sync, once', { restartedAt: 't1' }, {}, ['stop', 'unmount', 'start'], { handled: { restartedAt: 't1' } }],
    ['restartedAt already handled: nothing', { restartedAt: 't1' }, { handledRestartAt: 't1' }, []],
    ['manual policy with a new restartedAt: the go-ahead', { updatePolicy: 'manual', restartedAt: 't2' }, { files: OLD, handledRestartAt: 't1' }, ['stop', 'unmount', 'writeFiles', 'start'], { handled: { restartedAt: 't2' } }],
    ['resetAt set while running: stop, unmount, wipe, start', { resetAt: 'r1' }, {}, ['stop', 'unmount', 'wipeWritableLayer', 'start'], { handled: { resetAt: 'r1' } }],
    ['resetAt set while stopped: wipe only', { state: 'stopped', resetAt: 'r1' }, { service: { activeState: 'inactive', subState: 'dead' }, mounted: false, enabled: false }, ['wipeWritableLayer'], { handled: { resetAt: 'r1' } }],
    ['resetAt while down and desired running: unmount, wipe, start', { resetAt: 'r1' }, { service: { activeState: 'inactive', subState: 'dead' } }, ['unmount', 'wipeWritableLayer', 'start'], { handled: { resetAt: 'r1' } }],
  ];

  for (const [name, i, o, expected, extra] of table) {
    it(name, () => {
      const plan = planInstance(intent(i), obs(o), NOW);
      expect(types(plan)).toEqual(expected);
      if (extra) expect(plan).toMatchObject(extra);
      if (!extra?.pending) expect(plan.pending).toBeUndefined();
    });
  }

  it('a plan names the annotation values it acts on (status records them once every action succeeded)', () => {
    const plan = planInstance(intent({ restartedAt: 't9', resetAt: 'r9' }), obs({ handledResetAt: 'r9' }), NOW);
    expect(plan.handled).toEqual({ restartedAt: 't9', resetAt: 'r9' });
    expect(planInstance(intent({ restartedAt: 't9' }), obs({ handledRestartAt: 't9' }), NOW).handled).toBeUndefined();
  });

  it('never touches a running, matching server, whatever the policy', () => {
    for (const updatePolicy of ['whenEmpty', 'immediate', 'manual'] as const) {
      expect(planInstance(intent({ updatePolicy }), obs(), NOW).actions).toEqual([]);
    }
  });
});
