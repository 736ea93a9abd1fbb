// The load benchmark's correctness side (load.ts), as pure functions over
// what the clients received and what systemd says, so that each check can be
// shown to fail (load-checks.test.ts): every client got every event, saw each
// stop and start, ends with the API's view; the right servers restarted.

export type ChangeKind = 'edit' | 'restart' | 'stop' | 'start';

/** The fields of an event's summary the checks read. */
export interface Summary {
  kind: string;
  name: string;
  ready: string;
  reason?: string;
  unit?: string;
}

/** A received event with the time it arrived (performance.now()). */
export interface Stamped {
  id?: string;
  event: string;
  data: Summary;
  at: number;
}

/** What one client received. */
export interface Feed {
  name: string;
  events: Stamped[];
}

/** One change the scripted user made, and (stop, start) the state every client must see after it was sent. */
export interface Change {
  kind: ChangeKind;
  name: string;
  sentAt: number;
  /** The event that shows this change; none for an edit or restart (see `shows`). */
  shows?: (summary: Summary) => boolean;
}

/** An instance as a client or the API sees it. */
export interface View {
  ready: string;
  unit?: string;
}

/**
 * What shows a change on the feed for good. The feed is level-triggered: it
 * sends a document's summary when it differs from the last one sent, and
 * gathers writes for 30 ms first, so a state shorter than that may never be
 * sent. A stop leaves the unit inactive and a start leaves it active: every
 * client must see that. An edit or a restart ends where it began (Ready,
 * active): its passing Ready=False is sent when it lasts long enough, and the
 * controller often clears it within milliseconds (it probes the new server
 * at once), so the run checks those on the host instead (a new InvocationID)
 * and counts how many the feed showed.
 */
export function shows(kind: ChangeKind): ((s: Summary) => boolean) | undefined {
  if (kind === 'stop') return (s) => s.unit === 'inactive';
  if (kind === 'start') return (s) => s.unit === 'active';
  return undefined;
}

/** The first event on `c`'s instance, arrived after `c` was sent, that `pred` accepts. */
export function firstShowing(f: Feed, c: Change, pred: (s: Summary) => boolean): Stamped | undefined {
  return f.events.find((e) => e.event === 'status' && e.at >= c.sentAt && e.data.kind === 'Instance' && e.data.name === c.name && pred(e.data));
}

/** The sequence number of an event id (`<epoch>-<seq>`). */
function seqOf(id: string | undefined): number {
  const m = /^[0-9a-f]+-(\d+)$/.exec(id ?? '');
  if (!m) throw new Error(`an event id that is not <epoch>-<seq>: ${JSON.stringify(id)}`);
  return Number(m[1]);
}

/**
 * Problems with what the clients received; none when all of them got the same
 * events, in the same order and without a gap, from the newest snapshot any
 * of them started from (every document here is visible to every client, so
 * each event numbered after it is for all), and each saw every stop and start.
 */
export function feedProblems(feeds: Feed[], changes: Change[]): string[] {
  const problems: string[] = [];
  let from = 0;
  for (const f of feeds) {
    const snapshot = f.events.find((e) => e.event === 'snapshot');
    if (!snapshot) problems.push(`${f.name} got no snapshot`);
    else from = Math.max(from, seqOf(snapshot.id));
  }
  const after = (f: Feed) => f.events.filter((e) => e.event !== 'snapshot' && seqOf(e.id) > from).map((e) => seqOf(e.id));
  for (const f of feeds) {
    const seqs = after(f);
    const gap = seqs.findIndex((s, i) => s !== from + 1 + i);
    if (gap >= 0) problems.push(`${f.name} got event ${seqs[gap]} where ${from + 1 + gap} was due (an event lost, repeated or out of order)`);
  }
  const counts = new Set(feeds.map((f) => after(f).length));
  if (counts.size > 1) problems.push(`the clients got different numbers of events: ${feeds.map((f) => `${f.name} ${after(f).length}`).join(', ')}`);
  for (const f of feeds) {
    for (const c of changes) if (c.shows && !firstShowing(f, c, c.shows)) problems.push(`${f.name} never saw the ${c.kind} of ${c.name}`);
  }
  return problems;
}

/** A client's last word on every instance: its snapshot, then each event after it. */
export function lastView(f: Feed): Map<string, View> {
  const view = new Map<string, View>();
  for (const e of f.events) {
    if (e.event === 'snapshot') {
      view.clear();
      for (const s of (e.data as unknown as { items: Summary[] }).items) if (s.kind === 'Instance') view.set(s.name, { ready: s.ready, unit: s.unit });
    } else if (e.event === 'status' && e.data.kind === 'Instance') view.set(e.data.name, { ready: e.data.ready, unit: e.data.unit });
  }
  return view;
}

/** Clients whose last view of an instance differs from what the API lists. */
export function viewProblems(feeds: Feed[], api: ReadonlyMap<string, View>): string[] {
  const problems: string[] = [];
  for (const f of feeds) {
    const mine = lastView(f);
    const wrong = [...api.keys()].filter((n) => mine.get(n)?.ready !== api.get(n)!.ready || mine.get(n)?.unit !== api.get(n)!.unit);
    if (wrong.length > 0) problems.push(`${f.name} ends with another view than the API of ${wrong.join(', ')}`);
  }
  return problems;
}

/**
 * Servers restarted or not against what the user did, from systemd's
 * InvocationID before and after: each one edited, restarted or started again
 * has a new one; each one nobody touched keeps its own (one stopped and not
 * started again is not judged).
 */
export function restartProblems(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>, restarted: ReadonlySet<string>, stopped: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [n, id] of before) {
    const changed = after.get(n) !== id;
    if (restarted.has(n) && !changed) problems.push(`${n} was changed through the API but its server was not restarted`);
    if (!restarted.has(n) && !stopped.has(n) && changed) problems.push(`${n}'s server was restarted though nobody changed it`);
  }
  return problems;
}

/** The seeded generator of the load script (one shared by the test suites). */
export { mulberry32 as prng } from '../support/prng.js';

/** A seeded Fisher–Yates shuffle. */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
