/**
 * Coalesces daemon-reload requests: callers that ask while a reload runs share
 * the next one, so a pass that rewrites 100 mount units reloads systemd about
 * once, and every caller's files are covered by a reload that began after it asked.
 */
export class Reloader {
  private running?: Promise<void>;
  private next?: Promise<void>;
  /** Reloads performed, for the benchmark. */
  count = 0;

  constructor(private readonly doReload: () => Promise<void>) {}

  /** Resolves after a reload that started after this call. */
  reload(): Promise<void> {
    if (this.next) return this.next;
    if (!this.running) return (this.running = this.run());
    const after = this.running;
    this.next = after.catch(() => undefined).then(() => {
      this.next = undefined;
      return (this.running = this.run());
    });
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
