import type { Dirent, Stats } from 'node:fs';
import { readlink, realpath } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Dir, openDirBeneath, UnsafePathError } from '../fs/beneath.js';
import type { Problem } from './problems.js';

/** Limits that keep a hostile or broken state tree from exhausting the controller. */
export interface ScanLimits {
  /** Largest YAML file read, in bytes. */
  maxFileBytes: number;
  /** Most YAML files read from one tree. */
  maxFiles: number;
  /** Deepest directory nesting followed. */
  maxDepth: number;
}

/** Default scan limits: 1 MiB per file, 10,000 files, 16 directory levels. */
export const DEFAULT_LIMITS: ScanLimits = { maxFileBytes: 1 << 20, maxFiles: 10_000, maxDepth: 16 };

/** A YAML file found in the state tree, with its text. */
export interface StateFile {
  /** Path for messages: the state directory as given, joined with the file's relative path. */
  path: string;
  /** Path relative to the state directory, '/'-separated. */
  rel: string;
  text: string;
}

/** What a scan found. */
export interface ScanResult {
  files: StateFile[];
  problems: Problem[];
}

const isYaml = (name: string) => name.endsWith('.yaml') || name.endsWith('.yml');
/** Links followed in a row before a chain counts as a loop (the kernel's limit). */
const MAX_LINK_HOPS = 40;

/**
 * Reads every *.yaml / *.yml below `dir`, refusing what could hurt: files over the
 * size limit, special files (FIFOs would block), symlinks that lead outside the
 * tree, link loops. Hidden entries (`.git`, editor swap files) are skipped.
 * Reads the file system only, and never outside `dir`, even while someone
 * swaps its directories for links: every directory is opened component by
 * component without following links (controller/fs/beneath), every file is
 * opened O_NOFOLLOW in a directory already open, and a link is only followed
 * by resolving its target component by component inside the tree. Never throws.
 */
export async function scanStateDir(dir: string, limits: ScanLimits = DEFAULT_LIMITS, opts: { resolveRoot?: boolean } = {}): Promise<ScanResult> {
  const files: StateFile[] = [];
  const problems: Problem[] = [];
  const problem = (path: string, message: string) => problems.push({ file: path, line: 1, col: 1, pointer: '', message });

  let rootReal: string;
  let root: Dir;
  try {
    // The state directory itself may be reached through links (the operator's choice); nothing below it is.
    // A git source's directory is taken as given (`resolveRoot: false`): it may be reached through
    // /proc/PID/root, which realpath(3) cannot see through; an absolute link inside it then counts as outside.
    rootReal = opts.resolveRoot === false ? dir : await realpath(dir);
    root = await Dir.root(rootReal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problem(dir, code === 'ENOTDIR' ? 'the state directory is not a directory' : `cannot read the state directory: ${code ?? String(err)}`);
    return { files, problems };
  }
  const visited = new Set<string>();

  const readYaml = async (parent: Dir, name: string, shown: string, rel: string): Promise<'stop' | void> => {
    if (files.length >= limits.maxFiles) {
      problem(shown, `more than ${limits.maxFiles} YAML files in the state directory; the rest are not read`);
      return 'stop';
    }
    // The common case, synchronously; anything unusual takes the careful path below, which says what it was.
    const quick = parent.readFileSync(name, limits.maxFileBytes);
    if (typeof quick === 'string') {
      files.push({ path: shown, rel, text: quick });
      return;
    }
    let fh: FileHandle;
    let size: number;
    try {
      ({ fh, st: { size } } = await parent.openFile(name));
    } catch (err) {
      if (err instanceof UnsafePathError && /not a regular file/.test(err.message)) problem(shown, 'not a regular file (device, FIFO or socket); refused');
      else if (err instanceof UnsafePathError) problem(shown, 'changed into a symbolic link while being read; not read');
      // Gone since it was listed (removed, or renamed over by an editor): not a file that cannot be read.
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      else problem(shown, `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return;
    }
    const text = await readLimited(fh, size, limits.maxFileBytes).catch((err: NodeJS.ErrnoException) => {
      problem(shown, `cannot read file: ${err.code ?? err.message}`);
      return undefined;
    });
    if (text === undefined) return;
    if (text === null) {
      problem(shown, `file is larger than ${limits.maxFileBytes} bytes; refused`);
      return;
    }
    files.push({ path: shown, rel, text });
  };

  const walk = async (d: Dir, path: string[], shownDir: string, relDir: string, depth: number): Promise<'stop' | void> => {
    let entries: Dirent[];
    try {
      entries = await d.entries();
    } catch (err) {
      problem(shownDir, `cannot list directory: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return;
    }
    for (const entry of entries) {
      const name = entry.name;
      if (name.startsWith('.')) continue;
      const shown = join(shownDir, name);
      const rel = relDir ? `${relDir}/${name}` : name;
      // readdir's type saves an lstat per file; the O_NOFOLLOW opens below are what is relied on.
      const st = entry.isFile() || entry.isDirectory() ? entry : await d.lstat(name).catch(() => undefined);
      if (!st) continue; // gone since it was listed
      // Where the entry really is, as components below the root; its parent directory, open.
      let parent = d;
      let at = [...path, name];
      let kind: Pick<Stats, 'isDirectory' | 'isFile'> = st;
      if (st.isSymbolicLink()) {
        const target = await followInside(root, rootReal, path, name, d);
        if (target.kind !== 'inside') {
          if (target.kind === 'outside') problem(shown, `symbolic link leads outside the state directory (to ${target.to}); refused`);
          else if (target.kind === 'loop') problem(shown, `symbolic link loops (more than ${MAX_LINK_HOPS} links); refused`);
          else if (target.kind === 'nowhere' && isYaml(name)) problem(shown, 'symbolic link points nowhere');
          // 'root': a link back to the state directory, which is being read already.
          continue;
        }
        at = target.segments;
        kind = target.st;
        try {
          parent = await openDirBeneath(root, at.slice(0, -1));
        } catch {
          problem(shown, 'changed while being read; not read');
          continue;
        }
      }
      try {
        if (kind.isDirectory()) {
          let sub: Dir;
          try {
            sub = await parent.dir(at.at(-1)!);
          } catch {
            problem(shown, 'changed into a symbolic link or file while being read; not read');
            continue;
          }
          try {
            const id = inode(await sub.stat());
            if (visited.has(id)) continue; // a link back into the tree: already read there
            if (depth >= limits.maxDepth) {
              problem(shown, `directory nesting deeper than ${limits.maxDepth} levels; not read`);
              continue;
            }
            visited.add(id);
            if ((await walk(sub, at, shown, rel, depth + 1)) === 'stop') return 'stop';
          } finally {
            await sub.close();
          }
          continue;
        }
        if (!isYaml(name)) continue;
        if (!kind.isFile()) {
          problem(shown, 'not a regular file (device, FIFO or socket); refused');
          continue;
        }
        if ((await readYaml(parent, at.at(-1)!, shown, rel)) === 'stop') return 'stop';
      } finally {
        if (parent !== d) await parent.close();
      }
    }
  };
  try {
    visited.add(inode(await root.stat()));
    await walk(root, [], dir, '', 0);
  } catch (err) {
    // Out of descriptors or memory, say: a problem on the whole tree, so nothing is deleted on its account.
    problem(dir, `cannot read the state directory: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  } finally {
    await root.close();
  }
  return { files, problems };
}

type Followed = { kind: 'inside'; segments: string[]; st: Stats } | { kind: 'root' } | { kind: 'outside'; to: string } | { kind: 'nowhere' } | { kind: 'loop' };

/**
 * Resolves the link `name` in the directory `linkDir` (components below the
 * root, open as `d`) the way the kernel would, but one component at a time
 * from the root without ever leaving it: `..` above the root, or an absolute
 * target not below the root's real path, is outside. Returns the components
 * of what it leads to (none of them a link when checked) and its lstat.
 */
async function followInside(root: Dir, rootReal: string, linkDir: string[], name: string, d: Dir): Promise<Followed> {
  let to: string;
  try {
    to = await readlink(d.at(name));
  } catch {
    return { kind: 'nowhere' };
  }
  const shownTarget = to;
  let hops = 1;
  // Components still to resolve, and the resolved directory they are relative to.
  let pending: string[];
  let at: string[];
  const start = (target: string, from: string[]): boolean => {
    if (target.startsWith('/')) {
      if (target !== rootReal && !target.startsWith(`${rootReal}/`)) return false;
      at = [];
      pending = target.slice(rootReal.length).split('/');
    } else {
      at = [...from];
      pending = target.split('/');
    }
    return true;
  };
  if (!start(to, linkDir)) return { kind: 'outside', to: shownTarget };
  for (;;) {
    const c = pending!.shift();
    if (c === undefined) break;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (at!.length === 0) return { kind: 'outside', to: shownTarget };
      at!.pop();
      continue;
    }
    let st: Stats | undefined;
    let parent: Dir;
    try {
      parent = await openDirBeneath(root, at!);
    } catch {
      return { kind: 'nowhere' };
    }
    try {
      st = await parent.lstat(c);
      if (st?.isSymbolicLink()) {
        if (++hops > MAX_LINK_HOPS) return { kind: 'loop' };
        const next = await readlink(parent.at(c));
        const rest = pending!;
        if (!start(next, at!)) return { kind: 'outside', to: shownTarget };
        pending = [...pending!, ...rest];
        continue;
      }
    } catch {
      return { kind: 'nowhere' };
    } finally {
      await parent.close();
    }
    if (!st) return { kind: 'nowhere' };
    if (pending!.some((p) => p !== '' && p !== '.') && !st.isDirectory()) return { kind: 'nowhere' };
    at!.push(c);
  }
  if (at!.length === 0) return { kind: 'root' };
  const parent = await openDirBeneath(root, at!.slice(0, -1)).catch(() => undefined);
  const st = await parent?.lstat(at!.at(-1)!).catch(() => undefined);
  await parent?.close();
  if (!st || st.isSymbolicLink()) return { kind: 'nowhere' };
  return { kind: 'inside', segments: at!, st };
}

function inode(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

/** Reads at most `max` bytes of an open regular file of fstat size `size`; null when it is larger. Closes the handle. */
async function readLimited(fh: FileHandle, size: number, max: number): Promise<string | null> {
  try {
    if (size > max) return null;
    // Sized by fstat, grown if the file grows while we read; never past max + 1.
    let buf = Buffer.alloc(Math.min(size, max) + 1);
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        if (length > max) return null;
        const bigger = Buffer.alloc(Math.min(buf.length * 2, max + 1));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) return null;
    return buf.subarray(0, length).toString('utf8');
  } finally {
    await fh.close();
  }
}
