/**
 * Coalesces daemon-reload requests: callers that ask while a reload runs share
 * the next one, so a pass that rewrites 100 mount units reloads systemd about
 * once, and every caller's files are covered by a reload that began after it asked.
 */
export class Reloader {
  private running?: Promise<void>;
  private next?: Promise<void>;
  private gathering = false;
  /** Reloads performed, for the benchmark. */
  count = 0;

  constructor(
    private readonly doReload: () => Promise<void>,
    /** A reload waits this long for more callers, so a burst of writers shares the first one too. */
    private readonly gatherMs = 5,
  ) {}

  /** Resolves after a reload that started after this call. */
  reload(): Promise<void> {
    if (this.next) return this.next;
    if (this.running && this.gathering) return this.running; // not begun yet: it covers this caller too
    if (!this.running) {
      this.gathering = true;
      return (this.running = new Promise<void>((r) => setTimeout(r, this.gatherMs)).then(() => {
        this.gathering = false;
        return this.run();
      }));
    }
    const after = this.running;
    this.next = after.catch(() => undefined).then(() => {
      this.next = undefined;
      return (this.running = this.run());
    });
    // The follow-up reload starts the moment the current one ends; nothing more to gather.
    return this.next;
  }

  private async run(): Promise<void> {
    try {
      this.count++;
      await this.doReload();
    } finally {
      this.running = undefined;
    }
  }
}
