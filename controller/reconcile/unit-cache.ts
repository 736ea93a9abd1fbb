import type { SystemdAdapter, UnitState } from '../systemd/adapter.js';

/**
 * systemd's view of left4me's units, shared by every reconcile of a pass: one
 * `listUnits` call serves them all until a unit changes (the adapter's
 * subscription marks the cache stale) or it grows older than `maxAgeMs`.
 * Concurrent readers share one in-flight refresh.
 */
export class UnitCache {
  private units = new Map<string, UnitState>();
  private fetchedAt = -Infinity;
  private stale = true;
  private inflight?: Promise<Map<string, UnitState>>;
  /** D-Bus list calls made, for the benchmark. */
  refreshes = 0;

  constructor(
    private readonly systemd: SystemdAdapter,
    private readonly patterns: string[],
    private readonly maxAgeMs: number,
  ) {}

  /** Marks the cache stale (a unit changed, or we just acted on one). */
  invalidate(): void {
    this.stale = true;
  }

  /** The current units by name. */
  async snapshot(): Promise<Map<string, UnitState>> {
    // Monotonic: a wall clock stepped back must not keep a listing fresh for as long as the step.
    if (!this.stale && performance.now() - this.fetchedAt < this.maxAgeMs) return this.units;
    if (this.inflight) return this.inflight;
    this.stale = false; // changes that arrive during the call mark it stale again
    const started = performance.now();
    this.inflight = this.systemd
      .listUnits(this.patterns)
      .then((list) => {
        this.refreshes++;
        this.units = new Map(list.map((u) => [u.name, u]));
        this.fetchedAt = started;
        return this.units;
      })
      .catch((err: unknown) => {
        this.stale = true;
        throw err;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}
