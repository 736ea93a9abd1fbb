import { describe, expect, it } from 'vitest';
import { feedProblems, lastView, prng, restartProblems, shows, shuffled, viewProblems, type Change, type Feed, type Stamped } from './load-checks.js';

const snapshot = (seq: number, at: number, items: Array<{ name: string; ready: string; unit?: string }>): Stamped => ({
  id: `cafe0001-${seq}`,
  event: 'snapshot',
  data: { items: items.map((i) => ({ kind: 'Instance', ...i })) } as never,
  at,
});
const status = (seq: number, at: number, name: string, ready: string, unit: string): Stamped => ({ id: `cafe0001-${seq}`, event: 'status', data: { kind: 'Instance', name, ready, unit }, at });

const ALL_UP = [
  { name: 'a', ready: 'True', unit: 'active' },
  { name: 'b', ready: 'True', unit: 'active' },
];
const stopB: Change = { kind: 'stop', name: 'b', sentAt: 100, shows: shows('stop') };
const startB: Change = { kind: 'start', name: 'b', sentAt: 300, shows: shows('start') };

/** Two clients that got everything: b stopped (event 6) and started (7); a's restart shows as 5. */
function goodFeeds(): Feed[] {
  const events = (snapSeq: number, snapAt: number): Stamped[] => [
    // A snapshot taken after event 5 shows a as event 5 left it.
    snapshot(snapSeq, snapAt, snapSeq < 5 ? ALL_UP : [{ name: 'a', ready: 'False', unit: 'active' }, ALL_UP[1]!]),
    ...(snapSeq < 5 ? [status(5, 60, 'a', 'False', 'active')] : []),
    status(6, 150, 'b', 'True', 'inactive'),
    status(7, 400, 'b', 'False', 'active'),
    status(8, 1400, 'b', 'True', 'active'),
  ];
  // The second client connected later, after event 5: its snapshot is numbered 5.
  return [
    { name: 'c1', events: events(4, 10) },
    { name: 'c2', events: events(5, 70) },
  ];
}

describe('feedProblems', () => {
  it('finds nothing when every client got every event from the newest snapshot on and saw each stop and start', () => {
    expect(feedProblems(goodFeeds(), [stopB, startB])).toEqual([]);
  });

  it('names a client that lost an event (a gap in the numbers)', () => {
    const feeds = goodFeeds();
    feeds[1]!.events.splice(2, 1); // event 7
    expect(feedProblems(feeds, [])).toEqual(expect.arrayContaining([expect.stringMatching(/^c2 got event 8 where 7 was due/), expect.stringMatching(/different numbers of events: c1 3, c2 2/)]));
  });

  it('names a client that got an event twice or out of order', () => {
    const feeds = goodFeeds();
    const [, six, seven] = feeds[0]!.events.slice(1);
    feeds[0]!.events.splice(2, 2, seven!, six!);
    expect(feedProblems(feeds, [])).toEqual([expect.stringMatching(/^c1 got event 7 where 6 was due/)]);
  });

  it('names a client that never saw a stop (only events from before it was sent)', () => {
    const feeds = goodFeeds();
    const late: Change = { ...stopB, sentAt: 200 };
    expect(feedProblems(feeds, [late])).toEqual(['c1 never saw the stop of b', 'c2 never saw the stop of b']);
  });

  it('names a client without a snapshot', () => {
    const feeds = goodFeeds();
    feeds[0]!.events.shift();
    expect(feedProblems(feeds, [])).toContain('c1 got no snapshot');
  });

  it('asks nothing of an edit or a restart on the feed (their Ready=False may pass within the coalescing window)', () => {
    expect(shows('edit')).toBeUndefined();
    expect(shows('restart')).toBeUndefined();
    expect(feedProblems(goodFeeds(), [{ kind: 'restart', name: 'a', sentAt: 5000 }])).toEqual([]);
  });
});

describe('lastView and viewProblems', () => {
  it('apply the snapshot, then every event after it', () => {
    expect(lastView(goodFeeds()[0]!)).toEqual(
      new Map([
        ['a', { ready: 'False', unit: 'active' }],
        ['b', { ready: 'True', unit: 'active' }],
      ]),
    );
  });

  it('name a client whose last view differs from the API’s list', () => {
    const api = new Map([
      ['a', { ready: 'True', unit: 'active' }],
      ['b', { ready: 'True', unit: 'active' }],
    ]);
    expect(viewProblems(goodFeeds(), api)).toEqual(['c1 ends with another view than the API of a', 'c2 ends with another view than the API of a']);
    api.set('a', { ready: 'False', unit: 'active' });
    expect(viewProblems(goodFeeds(), api)).toEqual([]);
  });
});

describe('restartProblems', () => {
  const before = new Map([
    ['a', 'inv-a1'],
    ['b', 'inv-b1'],
    ['c', 'inv-c1'],
  ]);

  it('finds nothing when exactly the changed servers have a new invocation', () => {
    expect(restartProblems(before, new Map([...before, ['a', 'inv-a2']]), new Set(['a']), new Set())).toEqual([]);
  });

  it('names a changed server that was not restarted, and an untouched one that was', () => {
    expect(restartProblems(before, new Map([...before, ['c', 'inv-c2']]), new Set(['a']), new Set())).toEqual([
      'a was changed through the API but its server was not restarted',
      "c's server was restarted though nobody changed it",
    ]);
  });

  it('does not judge a server stopped and not started again', () => {
    expect(restartProblems(before, new Map([...before, ['b', '']]), new Set(), new Set(['b']))).toEqual([]);
  });
});

describe('the seeded script', () => {
  it('replays from its seed and shuffles without losing or repeating a name', () => {
    const a = prng(14);
    const b = prng(14);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const names = Array.from({ length: 100 }, (_, i) => `l${i}`);
    const s = shuffled(names, prng(14));
    expect(s).not.toEqual(names);
    expect([...s].sort()).toEqual([...names].sort());
    expect(shuffled(names, prng(14))).toEqual(s);
  });
});
