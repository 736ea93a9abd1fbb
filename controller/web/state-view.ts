/**
 * The desired state as the web service sees it: loaded once, kept, and loaded
 * again only after the state directory changed (a watcher marks it stale) or
 * after this service wrote to it. Requests share one load in flight.
 */
import { watch, type FSWatcher } from 'chokidar';
import { loadState, type DesiredState, type LoadOptions } from '../documents/loader.js';

export class StateView {
  private current?: Promise<DesiredState>;
  private watcher?: FSWatcher;
  private generation = 0;

  constructor(
    readonly dir: string,
    readonly load: LoadOptions,
  ) {}

  /** Starts following the directory; without it every get() loads afresh. */
  async follow(): Promise<void> {
    if (this.watcher) return;
    const w = watch(this.dir, { ignoreInitial: true, depth: 8, followSymlinks: false });
    w.on('all', () => this.invalidate());
    w.on('error', () => this.invalidate());
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
    this.watcher = w;
    this.invalidate();
  }

  /** The desired state now. */
  get(): Promise<DesiredState> {
    if (!this.watcher) return loadState(this.dir, this.load);
    if (!this.current) {
      const gen = this.generation;
      const p = loadState(this.dir, this.load);
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
