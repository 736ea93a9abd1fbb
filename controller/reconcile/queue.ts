import PQueue from 'p-queue';

/** What a reconcile of one key asks for next (STYLE.md: done, retry with backoff, retry at a time). */
export type ReconcileResult = void | { requeueAfterMs: number };

/** Reconciles one key; throwing means "retry with backoff". */
export type Reconciler = (key: string) => Promise<ReconcileResult>;

/** Tuning of a work queue. */
export interface WorkQueueOptions {
  /** Keys reconciled at once (different keys only; one key never runs twice at once). */
  concurrency: number;
  /** First retry delay after a failure; doubles per consecutive failure. */
  baseBackoffMs: number;
  /** Longest retry delay. */
  maxBackoffMs: number;
  /** Called when a reconcile throws (after the retry is scheduled). */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

const DEFAULTS: WorkQueueOptions = { concurrency: 4, baseBackoffMs: 500, maxBackoffMs: 5 * 60_000 };

interface KeyState {
  /** Queued and not yet started. */
  queued: boolean;
  /** A reconcile is running now. */
  running: boolean;
  /** Added again while running: run once more afterwards. */
  dirty: boolean;
  failures: number;
  timer?: NodeJS.Timeout;
  timerDue?: number;
}

/**
 * A deduplicating work queue of keys such as `instance/versus-1`. Adding a key
 * that is already waiting does nothing; adding one that is running makes it run
 * once more when done; a key never runs twice at once; failures back off
 * exponentially with a cap. Owns its timers; `stop()` clears them and waits.
 */
export class WorkQueue {
  private readonly keys = new Map<string, KeyState>();
  private readonly pool: PQueue;
  private readonly opts: WorkQueueOptions;
  private stopped = false;

  constructor(
    private readonly reconcile: Reconciler,
    opts: Partial<WorkQueueOptions> = {},
  ) {
    this.opts = { ...DEFAULTS, ...opts };
    this.pool = new PQueue({ concurrency: this.opts.concurrency });
  }

  /** Enqueues a key now. */
  add(key: string): void {
    if (this.stopped) return;
    const s = this.state(key);
    if (s.timer) {
      clearTimeout(s.timer);
      s.timer = undefined;
      s.timerDue = undefined;
    }
    if (s.running) {
      s.dirty = true;
      return;
    }
    if (s.queued) return;
    s.queued = true;
    void this.pool.add(() => this.run(key));
  }

  /** Enqueues a key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) return this.add(key);
    const s = this.state(key);
    // Monotonic, like the timers themselves: a step of the wall clock must not make an earlier delay look later.
    const due = performance.now() + delayMs;
    if (s.queued || (s.timerDue !== undefined && s.timerDue <= due)) return;
    if (s.timer) clearTimeout(s.timer);
    s.timerDue = due;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      s.timerDue = undefined;
      this.add(key);
    }, delayMs);
    s.timer.unref?.();
  }

  /** Consecutive failures of a key (0 after a success). */
  failures(key: string): number {
    return this.keys.get(key)?.failures ?? 0;
  }

  /** Resolves when nothing is queued or running (timers may still be pending). */
  async idle(): Promise<void> {
    await this.pool.onIdle();
  }

  /** Stops taking keys, clears timers, waits for running reconciles. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.keys.values()) if (s.timer) clearTimeout(s.timer);
    this.pool.clear();
    await this.pool.onIdle();
  }

  private state(key: string): KeyState {
    let s = this.keys.get(key);
    if (!s) {
      s = { queued: false, running: false, dirty: false, failures: 0 };
      this.keys.set(key, s);
    }
    return s;
  }

  private async run(key: string): Promise<void> {
    const s = this.state(key);
    s.queued = false;
    if (this.stopped) return;
    s.running = true;
    let retryIn: number | undefined;
    try {
      const result = await this.reconcile(key);
      s.failures = 0;
      if (result && result.requeueAfterMs > 0) retryIn = result.requeueAfterMs;
    } catch (err) {
      s.failures++;
      retryIn = Math.min(this.opts.baseBackoffMs * 2 ** (s.failures - 1), this.opts.maxBackoffMs);
      this.opts.onError?.(key, err, retryIn);
    } finally {
      s.running = false;
    }
    if (s.dirty) {
      // Something changed while we ran: reconcile again now, ahead of any backoff.
      s.dirty = false;
      this.add(key);
    } else if (retryIn !== undefined) {
      this.addAfter(key, retryIn);
    } else if (!s.timer) {
      this.keys.delete(key); // forget idle keys so the map does not grow with deleted documents
    }
  }
}

/** A periodic resync: calls `fn` every `intervalMs` ± `jitter` (a fraction), so many hosts do not resync in step. */
export function startResync(fn: () => void, intervalMs: number, jitter = 0.1): () => void {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    const delay = intervalMs * (1 + (Math.random() * 2 - 1) * jitter);
    timer = setTimeout(() => {
      fn();
      schedule();
    }, delay);
    timer.unref?.();
  };
  schedule();
  return () => clearTimeout(timer);
}
