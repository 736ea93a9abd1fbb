/**
 * The controller's counters (reconciles, builds: counts and durations),
 * kept in memory and written to `<statusDir>/metrics.json` atomically when
 * they changed. The controller listens on no port: the web service reads this
 * file and serves it as Prometheus metrics. Counts only, no names of
 * documents, so the file says nothing a user may not know.
 */
import { writeFileAtomic } from '../fs/atomic.js';
import { readSmallFile } from '../fs/small-file.js';

/** Upper bounds (seconds) of the duration histograms; Prometheus adds +Inf. */
export const DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 3600] as const;

/** A duration histogram: cumulative-free bucket counts (one per bound, then +Inf), sum and count. */
export interface Histogram {
  /** Non-cumulative counts per bucket of DURATION_BUCKETS, the last entry for +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

/** What the controller counted since it started. */
export interface ControllerCountersFile {
  /** When this controller process started (counters restart from zero with it). */
  startedAt: string;
  /** When the file was written. */
  writtenAt: string;
  /** Reconciles per kind (instance, overlay, blueprint, installation) and outcome (ok, error). */
  reconciles: Record<string, { ok: number; error: number; duration: Histogram }>;
  /** Full passes (every key enqueued: start, resync, reconcile now). */
  passes: number;
  /** Builds that ran (not reused) per kind (overlay, installation): results and durations. */
  builds: Record<string, { succeeded: number; failed: number; duration: Histogram }>;
}

function emptyHistogram(): Histogram {
  return { buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
}

function observe(h: Histogram, seconds: number): void {
  const i = DURATION_BUCKETS.findIndex((b) => seconds <= b);
  h.buckets[i < 0 ? DURATION_BUCKETS.length : i]! += 1;
  h.sum += seconds;
  h.count += 1;
}

/** The kinds counted; anything else is not a key of ours and is not counted (bounded labels). */
const KINDS = new Set(['instance', 'overlay', 'blueprint', 'installation']);

/** The controller's counters; one per controller process. */
export class ControllerCounters {
  private readonly data: ControllerCountersFile;
  private dirty = true;

  constructor(
    readonly path: string,
    private readonly now: () => number = Date.now,
  ) {
    const t = new Date(now()).toISOString();
    this.data = { startedAt: t, writtenAt: t, reconciles: {}, passes: 0, builds: {} };
  }

  /** One reconcile of a key's kind ended. */
  reconciled(kind: string, ok: boolean, seconds: number): void {
    if (!KINDS.has(kind)) return;
    const r = (this.data.reconciles[kind] ??= { ok: 0, error: 0, duration: emptyHistogram() });
    if (ok) r.ok += 1;
    else r.error += 1;
    observe(r.duration, seconds);
    this.dirty = true;
  }

  /** Runs one reconcile of a work-queue key (`kind/name`), timing and counting it by kind. */
  timed<T>(key: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const done = (ok: boolean) => this.reconciled(key.slice(0, key.indexOf('/')), ok, (performance.now() - started) / 1000);
    return run().then((r) => (done(true), r), (err: unknown) => (done(false), Promise.reject(err)));
  }

  /** A full pass was started. */
  pass(): void {
    this.data.passes += 1;
    this.dirty = true;
  }

  /** A build ran to its end. */
  built(kind: 'overlay' | 'installation', ok: boolean, seconds: number): void {
    const b = (this.data.builds[kind] ??= { succeeded: 0, failed: 0, duration: emptyHistogram() });
    if (ok) b.succeeded += 1;
    else b.failed += 1;
    observe(b.duration, seconds);
    this.dirty = true;
  }

  /** A copy of the counters as they stand. */
  snapshot(): ControllerCountersFile {
    return structuredClone(this.data);
  }

  /** Writes the file when anything changed since the last write; true when it wrote. */
  async flush(): Promise<boolean> {
    if (!this.dirty) return false;
    this.dirty = false;
    this.data.writtenAt = new Date(this.now()).toISOString();
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(this.data)}\n`);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
    return true;
  }
}

/** Reads the counters file; undefined when there is none (no controller ran yet) or it is not ours. */
export function readCounters(path: string): ControllerCountersFile | undefined {
  try {
    const text = readSmallFile(path);
    if (text === undefined) return undefined;
    const v = JSON.parse(text) as ControllerCountersFile;
    if (typeof v !== 'object' || v === null || typeof v.reconciles !== 'object' || typeof v.builds !== 'object') return undefined;
    return v;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}
