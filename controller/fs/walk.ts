// Walking a tree someone with fewer rights wrote, to change ownership and
// modes (handing a build tree to the build user and taking it back): every
// entry is opened O_PATH|O_NOFOLLOW and acted on through that descriptor, so
// what is changed is exactly what was looked at, never what a link leads to.
import { constants as C, type Stats } from 'node:fs';
import { chmod, chown, lchown, open, type FileHandle } from 'node:fs/promises';
import { Dir, kindOf, UnsafePathError, type Origin } from './beneath.js';

/** O_PATH (Linux; Node does not export it): names an inode without opening it, so no device's open ever runs. */
export const O_PATH = 0o10000000;

/** Deepest nesting a walk descends (no game tree comes near it); deeper is refused, not followed. */
export const MAX_WALK_DEPTH = 256;

/** One entry met by walkBeneath; its operations never follow a link. */
export interface TreeEntry {
  /** Path relative to the walk's root ('' for the root itself). */
  rel: string;
  /** What was opened (directories and files: fstat of the open descriptor) or found (lstat: links and special files). */
  st: Stats;
  chown(uid: number, gid: number): Promise<void>;
  /** Directories and regular files only. */
  chmod(mode: number): Promise<void>;
  /** Non-directories only. */
  remove(): Promise<void>;
}

/**
 * Visits `root` and everything below it, parents before children (so a
 * visitor may make a directory readable before it is listed), holding one
 * open directory per level. Every entry is opened O_PATH|O_NOFOLLOW before it
 * is acted on, so a visitor acts on exactly what was opened; an entry that
 * vanished meanwhile is skipped. Nesting deeper than `maxDepth` is refused
 * with UnsafePathError.
 */
export async function walkBeneath(root: string, visit: (entry: TreeEntry) => Promise<void>, opts: { maxDepth?: number } & Origin = {}): Promise<void> {
  const maxDepth = opts.maxDepth ?? MAX_WALK_DEPTH;
  const top = await Dir.root(root, opts);
  const stack: Array<{ dir: Dir; names: string[] }> = [];
  try {
    await visit(dirEntry(top, await top.stat()));
    stack.push({ dir: top, names: (await top.names()).reverse() });
    while (stack.length > 0) {
      const frame = stack.at(-1)!;
      const name = frame.names.pop();
      if (name === undefined) {
        if (stack.length > 1) await frame.dir.close();
        stack.pop();
        continue;
      }
      const child = await openEntry(frame.dir, name);
      if (!child) continue;
      if (child.kind === 'dir') {
        if (stack.length > maxDepth) {
          await child.dir.close();
          const shown = child.dir.rel.split('/').slice(0, 3).join('/');
          throw new UnsafePathError(`directories nest deeper than ${maxDepth} levels (below ${shown}/…); refusing to walk further`, child.dir.rel);
        }
        try {
          await visit(dirEntry(child.dir, child.st));
          stack.push({ dir: child.dir, names: (await child.dir.names()).reverse() });
        } catch (err) {
          await child.dir.close();
          throw err;
        }
        continue;
      }
      try {
        await visit(child.entry);
      } finally {
        await child.fh?.close().catch(() => undefined);
      }
    }
  } finally {
    for (const frame of stack) if (frame.dir !== top) await frame.dir.close();
    await top.close();
  }
}

type Opened = { kind: 'dir'; dir: Dir; st: Stats } | { kind: 'other'; entry: TreeEntry; fh?: FileHandle };

async function openEntry(parent: Dir, name: string): Promise<Opened | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(parent.at(name), O_PATH | C.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const st = await fh.stat();
  const rel = parent.relOf(name);
  if (st.isDirectory()) {
    // Reopening through the O_PATH descriptor yields the very inode that was checked.
    const dir = await Dir.root(`/proc/self/fd/${fh.fd}`, parent.origin, rel).finally(() => fh.close());
    return { kind: 'dir', dir, st };
  }
  const viaFd = `/proc/self/fd/${fh.fd}`;
  if (st.isFile()) {
    return {
      kind: 'other',
      fh,
      entry: { rel, st, chown: (u, g) => chown(viaFd, u, g), chmod: (m) => chmod(viaFd, m), remove: () => parent.unlink(name) },
    };
  }
  await fh.close();
  const refuse = () => Promise.reject(new UnsafePathError(`${rel} is ${kindOf(st)}; its mode is not changed`, rel));
  return { kind: 'other', entry: { rel, st, chown: (u, g) => lchown(parent.at(name), u, g), chmod: refuse, remove: () => parent.unlink(name) } };
}

function dirEntry(dir: Dir, st: Stats): TreeEntry {
  const noRemove = () => Promise.reject(new UnsafePathError(`${dir.rel || '.'} is a directory; walks never remove directories`, dir.rel));
  return { rel: dir.rel, st, chown: (u, g) => dir.chown(u, g), chmod: (m) => dir.chmod(m), remove: noRemove };
}

