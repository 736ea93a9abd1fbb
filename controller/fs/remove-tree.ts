// Removing trees that someone with fewer rights shaped: a script's build
// output, a game server's writable layer in the trash. fs.rm builds full
// paths and fails with ENAMETOOLONG past PATH_MAX (a 2,500-level tree is
// enough), and recursion is bounded by the stack. Here nothing recurses and
// no path grows: the tree is flattened from the top — the entries of each
// subdirectory are renamed up into the top directory, which is then emptied
// pass by pass — so at most two directories are open at a time and any depth
// is removed. Nothing follows a link (links are unlinked themselves) and no
// mount point is crossed: a directory on another filesystem is left in place
// and reported.
import { randomBytes } from 'node:crypto';
import { rename, rmdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Dir } from './beneath.js';

/** What removeTree could not remove; empty when the tree is gone. */
export interface RemoveOutcome {
  /** One line per entry left behind: where (relative to the removed path) and why. */
  left: string[];
}

/**
 * Removes `path` and everything below it without following links, crossing
 * mount points or depending on path length. Links in `path`'s parent
 * directories are followed (they are the caller's); `path` itself is never
 * followed (a link there is unlinked). A missing path is fine. Never throws
 * for what it finds inside the tree: entries it cannot remove are listed in
 * `left`; throws only when the parent cannot be opened.
 */
export async function removeTree(path: string): Promise<RemoveOutcome> {
  let parent: Dir;
  try {
    parent = await Dir.root(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { left: [] };
    throw err;
  }
  try {
    return await removeEntry(parent, basename(path));
  } finally {
    await parent.close();
  }
}

/** Removes the entry `name` of an open directory (see removeTree). */
export async function removeEntry(parent: Dir, name: string): Promise<RemoveOutcome> {
  const left: string[] = [];
  const note = (where: string, err: unknown) => left.push(`${where}: ${describe(err)}`);
  const st = await parent.lstat(name);
  if (!st) return { left };
  if (!st.isDirectory()) {
    await parent.unlink(name).catch((err: unknown) => note(name, err));
    return { left };
  }
  let top: Dir;
  try {
    top = await parent.dir(name);
  } catch (err) {
    note(name, err);
    return { left };
  }
  // Names in `top` given up on (a mount point, an error): later passes skip them.
  const kept = new Set<string>();
  try {
    const dev = (await top.stat()).dev;
    for (;;) {
      const names = (await top.names()).filter((n) => !kept.has(n));
      if (names.length === 0) break;
      for (const n of names) {
        try {
          await clearChild(top, n, dev);
        } catch (err) {
          kept.add(n);
          note(`${name}/${n}`, err);
        }
      }
    }
  } finally {
    await top.close();
  }
  if (kept.size === 0) await rmdir(parent.at(name)).catch((err: unknown) => note(name, err));
  return { left };
}

/**
 * Removes `n` from `top` if it is not a directory or an empty one; otherwise
 * removes its non-directory entries and renames its subdirectories up into
 * `top` (a later pass handles them), then removes it. Throws what stops it.
 */
async function clearChild(top: Dir, n: string, dev: number): Promise<void> {
  const st = await top.lstat(n);
  if (!st) return;
  if (!st.isDirectory()) return top.unlink(n);
  if (st.dev !== dev) throw Object.assign(new Error('a mount point; not crossed, left in place'), { code: 'EXDEV' });
  try {
    await rmdir(top.at(n));
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  const child = await top.dir(n);
  try {
    for (const m of await child.names()) {
      const cst = await child.lstat(m);
      if (!cst) continue;
      if (!cst.isDirectory()) await child.unlink(m);
      else if (cst.dev !== dev) throw Object.assign(new Error(`${m} is a mount point; not crossed, left in place`), { code: 'EXDEV' });
      else await hoist(child, m, top);
    }
  } finally {
    await child.close();
  }
  await rmdir(top.at(n));
}

/** Renames directory `m` of `from` into `to` under a fresh name, retrying on the (unlikely) clash. */
async function hoist(from: Dir, m: string, to: Dir): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(from.at(m), to.at(`.left4me-rm-${randomBytes(8).toString('hex')}`));
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt >= 3 || (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR')) throw err;
    }
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EXDEV') return e.message;
  return e?.code ?? (err instanceof Error ? err.message : String(err));
}
