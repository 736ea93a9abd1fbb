/**
 * The desired state as the web service sees it: loaded once, kept, and loaded
 * again only after the state directory changed (a watcher marks it stale),
 * after this service wrote to it, or when a git source's `current` flipped.
 * Requests share one load in flight.
 */
import { loadState, type DesiredState, type LoadOptions } from '../documents/loader.js';
import { watchTree, type TreeWatch } from '../documents/watch.js';
import type { HostLayout } from '../host/layout.js';
import { readActiveSources } from '../sources/active.js';

export class StateView {
  private current?: Promise<DesiredState>;
  private watcher?: TreeWatch;
  private generation = 0;
  /** The active sources the kept state was loaded with, as a comparable key. */
  private sourcesSeen?: string;

  /** `sources`: the host layout whose git sources are read beside `dir` (none when absent). */
  constructor(
    readonly dir: string,
    readonly load: LoadOptions,
    readonly sources?: { layout: HostLayout; fsRoot?: string },
  ) {}

  /** Starts following the directory; without it every get() loads afresh. */
  async follow(): Promise<void> {
    if (this.watcher) return;
    const w = watchTree(this.dir, { depth: 8 }, { change: () => this.invalidate(), error: () => this.invalidate() });
    await w.ready;
    this.watcher = w;
    this.invalidate();
  }

  /**
   * How the state is loaded now: the options given, and the git sources in
   * force. Read on every call (a readdir, a readlink and a small file per
   * source), so a flip is seen by the next request without a watcher on
   * directories the sync renames under it.
   */
  async loadOptions(): Promise<LoadOptions> {
    if (!this.sources) return this.load;
    const active = await readActiveSources(this.sources.layout, this.sources.fsRoot);
    return { ...this.load, sources: active.roots, sourceProblems: active.problems };
  }

  /** The desired state now. */
  async get(): Promise<DesiredState> {
    const opts = await this.loadOptions();
    if (!this.watcher) return loadState(this.dir, opts);
    const seen = JSON.stringify([opts.sources ?? [], (opts.sourceProblems ?? []).map((p) => p.message)]);
    if (seen !== this.sourcesSeen) {
      this.sourcesSeen = seen;
      this.invalidate();
    }
    if (!this.current) {
      const gen = this.generation;
      const p = loadState(this.dir, opts);
      this.current = p;
      // A change during the load makes the result stale at once; a failed load is not kept.
      p.then(
        () => { if (gen !== this.generation && this.current === p) this.current = undefined; },
        () => { if (this.current === p) this.current = undefined; },
      );
    }
    return this.current;
  }

  /** Forgets the kept state (a write of this service, or a change seen on disk). */
  invalidate(): void {
    this.generation++;
    this.current = undefined;
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
