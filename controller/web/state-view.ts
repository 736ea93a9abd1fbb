/**
 * The desired state as the web service sees it: loaded once, kept, and loaded
 * again only after the state directory changed (a watcher marks it stale),
 * after this service wrote to it, or when a git source's `current` flipped.
 * Requests share one load in flight.
 */
import { watch, type FSWatcher } from 'chokidar';
import { loadState, type DesiredState, type LoadOptions } from '../documents/loader.js';
import type { HostLayout } from '../host/layout.js';
import { readActiveSources } from '../sources/active.js';

/** The kept state is dropped again this long after a new directory appeared (chokidar's readdir throttle is 1 s). */
const NEW_DIRECTORY_SETTLE_MS = 1_500;

export class StateView {
  private current?: Promise<DesiredState>;
  private watcher?: FSWatcher;
  private generation = 0;
  /** The active sources the kept state was loaded with, as a comparable key. */
  private sourcesSeen?: string;
  private settleTimer?: NodeJS.Timeout;

  /** `sources`: the host layout whose git sources are read beside `dir` (none when absent). */
  constructor(
    readonly dir: string,
    readonly load: LoadOptions,
    readonly sources?: { layout: HostLayout; fsRoot?: string },
  ) {}

  /** Starts following the directory; without it every get() loads afresh. */
  async follow(): Promise<void> {
    if (this.watcher) return;
    const w = watch(this.dir, { ignoreInitial: true, depth: 8, followSymlinks: false });
    w.on('all', (event: string) => {
      this.invalidate();
      // chokidar misses a file written into a new directory before that directory's watch is set (and then its
      // removal too): the kept state is dropped once more after the watch is surely set.
      if (event === 'addDir') {
        clearTimeout(this.settleTimer);
        this.settleTimer = setTimeout(() => this.invalidate(), NEW_DIRECTORY_SETTLE_MS);
        this.settleTimer.unref?.();
      }
    });
    // The kernel's events for every watched directory, including those chokidar cannot match to a file it knew.
    w.on('raw', () => this.invalidate());
    w.on('error', () => this.invalidate());
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
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
    clearTimeout(this.settleTimer);
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
