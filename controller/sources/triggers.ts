/**
 * The controller's side of "fetch now": watching the triggers directory the
 * web service drops `git-NAME` files into (its webhook route) and turning
 * each into one call of onTrigger(NAME). The web service stays unprivileged:
 * it may create files in that one directory and nothing reaches the
 * controller but a file's name. A file's content is never read.
 *
 * fs.watch wakes a scan at once; a rescan every second catches what it
 * misses (it can drop events under load, and sees nothing of a directory
 * replaced under it). Scans never overlap. For each entry:
 *   - `git-NAME` of a configured source, a regular file: unlinked first, then
 *     NAME is triggered; only the scan that unlinked it fires, so one file is
 *     one trigger.
 *   - anything else (an unknown or malformed name; a directory, link, fifo or
 *     socket, whatever its name): removed without following it, and logged
 *     once per name.
 *   - a writer's temporary file (`.…`, what an atomic write renames into
 *     place): left alone for a minute, then removed as litter.
 *
 * Coalescing: per source, at most one onTrigger runs at a time (when it
 * returns a promise, until it settles). Triggers that arrive meanwhile,
 * however many, are folded into one more call after it. A burst of a hundred
 * webhook calls during a fetch is one fetch now and one after it, never a
 * hundred concurrent fetches — and none is lost: the last push of the burst
 * is always followed by a fetch that starts after it.
 */
import { watch, type FSWatcher } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { removeTree } from '../fs/remove-tree.js';
import type { HostLayout } from '../host/layout.js';
import { SOURCE_NAME } from './types.js';

/** The prefix of a trigger file; the rest is the source's name. */
export const TRIGGER_PREFIX = 'git-';
/** How often the directory is rescanned besides fs.watch. */
const RESCAN_MS = 1000;
/** How long a writer's temporary file may sit before it is litter. */
const TEMP_GRACE_MS = 60_000;
/** Names whose removal was logged; forgotten past this many, so a flood cannot grow it. */
const MAX_LOGGED = 1000;

export interface TriggerWatchOptions {
  /** The configured sources now (asked at every scan: sources come and go with the configuration). */
  names: () => readonly string[];
  /** Asks for a fetch of `name`; a returned promise keeps further triggers of that source waiting (coalesced). */
  onTrigger: (name: string) => void | Promise<void>;
  log: Pick<Logger, 'warn' | 'info'>;
  /** Rescan interval in ms (default 1000). */
  rescanMs?: number;
}

export interface TriggerWatch {
  /** Scans now; resolves once a scan that started after this call is done. */
  scan(): Promise<void>;
  /** Stops watching; resolves when the running scan is done (running onTrigger calls are not waited for). */
  close(): Promise<void>;
}

/**
 * Makes the triggers directory as tmpfiles does on a real host: 2770
 * root:<web group> (the web may create files, setgid keeps them the web's
 * group), or root-only 0700 without that group. For hosts set up without
 * deploy/left4me.tmpfiles.conf (tests, `npm start`).
 */
export async function prepareTriggersDir(layout: HostLayout, webGroupGid?: number): Promise<void> {
  const dir = layout.triggersDir;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory; move it away and the controller recreates it`);
  await lchown(dir, process.getuid?.() ?? 0, webGroupGid ?? process.getgid?.() ?? 0);
  await chmod(dir, webGroupGid !== undefined ? 0o2770 : 0o700);
}

/** The source a trigger file's name asks for, when it is well-formed. */
export function triggerSource(entry: string): string | undefined {
  if (!entry.startsWith(TRIGGER_PREFIX)) return undefined;
  const name = entry.slice(TRIGGER_PREFIX.length);
  return SOURCE_NAME.test(name) ? name : undefined;
}

export function watchTriggers(layout: HostLayout, opts: TriggerWatchOptions): TriggerWatch {
  const dir = layout.triggersDir;
  const { log } = opts;
  let closed = false;
  let watcher: FSWatcher | undefined;
  const logged = new Set<string>();
  const once = (key: string, write: () => void) => {
    if (logged.has(key)) return;
    if (logged.size >= MAX_LOGGED) logged.clear();
    logged.add(key);
    write();
  };

  // Per source: whether an onTrigger runs, and whether another was asked for meanwhile.
  const firing = new Map<string, { again: boolean }>();
  const fire = (name: string) => {
    const running = firing.get(name);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    firing.set(name, state);
    void (async () => {
      do {
        state.again = false;
        try {
          await opts.onTrigger(name);
        } catch (err) {
          log.warn({ source: name, err: (err as Error).message }, 'the fetch a trigger asked for failed');
        }
      } while (state.again && !closed);
      firing.delete(name);
    })();
  };

  const remove = async (entry: string, why: string) => {
    const path = join(dir, entry);
    const printable = JSON.stringify(entry.slice(0, 100));
    once(`remove:${entry}`, () => log.warn({ entry: printable }, `removed ${printable} from the triggers directory: ${why}`));
    try {
      const st = await lstat(path);
      if (st.isDirectory()) {
        const { left } = await removeTree(path);
        if (left.length > 0) once(`left:${entry}`, () => log.warn({ entry: printable, left: left.slice(0, 5) }, 'could not remove all of a directory in the triggers directory'));
      } else {
        await unlink(path);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') once(`fail:${entry}`, () => log.warn({ entry: printable, err: (err as Error).message }, 'could not remove an entry of the triggers directory'));
    }
  };

  const scanOnce = async () => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      once('readdir', () => log.warn({ dir, err: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'cannot read the triggers directory; webhooks will not reach this controller until it can'));
      return;
    }
    logged.delete('readdir');
    startWatching();
    const known = new Set(opts.names());
    for (const e of entries) {
      if (closed) return;
      if (e.name.startsWith('.')) {
        // A writer's temporary file, about to be renamed into place: not ours to race.
        const st = await lstat(join(dir, e.name)).catch(() => undefined);
        if (st && (!st.isFile() || Date.now() - st.mtimeMs > TEMP_GRACE_MS)) await remove(e.name, 'a stale temporary file');
        continue;
      }
      const source = triggerSource(e.name);
      if (source === undefined) {
        await remove(e.name, `not a trigger (expected ${TRIGGER_PREFIX}NAME with NAME a source name)`);
        continue;
      }
      if (!known.has(source)) {
        await remove(e.name, `no source "${source}" is configured`);
        continue;
      }
      if (!e.isFile()) {
        await remove(e.name, 'a trigger must be a regular file');
        continue;
      }
      try {
        // unlink(2) never follows a link: whatever took the name meanwhile is removed, nothing behind it.
        await unlink(join(dir, e.name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') once(`fail:${e.name}`, () => log.warn({ entry: e.name, err: (err as Error).message }, 'could not remove a trigger file; it fires once it can be removed'));
        continue;
      }
      fire(source);
    }
  };

  let current: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    const p: Promise<void> = scanOnce()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'scanning the triggers directory failed'))
      .finally(() => {
        if (current === p) current = undefined;
      });
    current = p;
    return p;
  };
  const scan = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (queued) return queued;
    if (current) {
      const q: Promise<void> = current.then(() => {
        queued = undefined;
        return closed ? undefined : run();
      });
      queued = q;
      return q;
    }
    return run();
  };

  function startWatching() {
    if (watcher || closed) return;
    try {
      watcher = watch(dir, { persistent: false }, () => void scan());
      watcher.on('error', () => {
        // The directory went away or was replaced: the rescans go on and watch again once it is back.
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined;
    }
  }

  const timer = setInterval(() => void scan(), opts.rescanMs ?? RESCAN_MS);
  timer.unref();
  void scan();

  return {
    scan,
    async close() {
      closed = true;
      clearInterval(timer);
      watcher?.close();
      watcher = undefined;
      await (queued ?? current);
    },
  };
}
