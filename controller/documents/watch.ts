/**
 * Watching a state tree (the controller's reads and the web's kept state).
 * chokidar reads a new directory, then watches it: a file that lands between
 * the two is never reported, and without its 'add' its removal is not
 * reported either. So this also passes on the kernel's raw events for every
 * watched directory (whatever chokidar's bookkeeping makes of them), and
 * reports once more, with no path, a while after a new directory appeared,
 * when its watch is surely set. Callers re-read the whole tree on a change,
 * so the extra reports cost one coalesced read.
 */
import { watch } from 'chokidar';

/** A new directory is reported once more this long after it appeared (chokidar's readdir throttle is 1 s). */
const NEW_DIRECTORY_SETTLE_MS = 1_500;

export interface TreeWatch {
  /** Resolves once the first walk is done (or the watch failed: the caller's periodic reads cover that). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function watchTree(
  dir: string,
  opts: { depth?: number; ignored?: (path: string) => boolean },
  on: {
    /** A change at `path` (a full path, or a bare name for a raw event), or, with no path, "read it all again". */
    change(path: string | undefined, event: string): void;
    error(err: unknown): void;
  },
): TreeWatch {
  // A link out of the state directory must not make root watch (or stat) a tree someone else chose.
  const watcher = watch(dir, { ignoreInitial: true, followSymlinks: false, awaitWriteFinish: false, atomic: false, ...opts });
  let settle: NodeJS.Timeout | undefined;
  watcher.on('all', (event: string, path: string) => {
    on.change(path, event);
    if (event === 'addDir') {
      clearTimeout(settle);
      settle = setTimeout(() => on.change(undefined, 'settle'), NEW_DIRECTORY_SETTLE_MS);
      settle.unref?.();
    }
  });
  watcher.on('raw', (event: string, path: string | null) => {
    if (path && !opts.ignored?.(path)) on.change(path, `raw ${event}`);
  });
  watcher.on('error', (err: unknown) => on.error(err));
  const ready = new Promise<void>((resolve) => {
    watcher.once('ready', () => resolve());
    watcher.once('error', () => resolve());
  });
  return {
    ready,
    async close() {
      clearTimeout(settle);
      await watcher.close();
    },
  };
}
