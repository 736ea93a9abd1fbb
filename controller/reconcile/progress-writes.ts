// Status writes of a running build's progress, throttled: progress may be
// reported thousands of times a second (every chunk of a download), the
// status file and the web's feed should see a few changes a second.

/**
 * Writes the newest snapshot at most once per `intervalMs`, and at once when
 * asked with `now` (a new step). A change that arrives within the interval
 * is not dropped: a trailing write takes the newest snapshot when the
 * interval is over, so a download that stalls still shows where it stopped.
 * Writes go one after another; `settle()` cancels what is pending and waits
 * for what runs, so the caller's final status always lands after them. Owns
 * its timer; a failed write is skipped (the final status repeats it all).
 */
export class ThrottledWrites<T> {
  private last = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private settled = false;

  constructor(
    private readonly snapshot: () => T,
    private readonly write: (snapshot: T) => Promise<unknown>,
    private readonly intervalMs: number,
  ) {}

  /** Asks for a write of what `snapshot()` will say: now when `now` or when the interval has passed, else at its end. */
  request(now = false): void {
    if (this.settled) return;
    const since = performance.now() - this.last;
    if (now || since >= this.intervalMs) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.intervalMs - since);
    }
  }

  /** No more writes: drops a pending one and resolves when every started write is done. */
  async settle(): Promise<void> {
    this.settled = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  private flush(): void {
    if (this.settled) return;
    this.last = performance.now();
    const snap = this.snapshot();
    this.chain = this.chain.then(() => this.write(snap)).catch(() => undefined);
  }
}
