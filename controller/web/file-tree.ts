/**
 * Read-only browsing of one tree the web service may show (an overlay's ready
 * build, an instance's writable layer): a URL path becomes checked path
 * components, every component is opened with O_NOFOLLOW from the tree's root
 * (controller/fs/beneath.ts), and the last one is either listed or opened as
 * a regular file for download. A link anywhere on the way is refused, never
 * followed; links inside a listed directory are shown as links. Owns nothing
 * after it returns but the file handle it hands to the caller.
 */
import { lstat, opendir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { Dir, UnsafePathError, openDirBeneath } from '../fs/beneath.js';
import { ApiError } from './errors.js';

/** Largest file served, in bytes: a download streams, but a writable layer can hold core dumps or demos of any size. */
export const MAX_FILE_BYTES = 64 * 2 ** 20;
/** Most entries one listing returns; the rest is cut off (`truncated`), so a huge directory costs a bounded answer. */
export const MAX_LIST_ENTRIES = 10_000;
/** Deepest path asked for: each component costs an open, and no game tree is this deep. */
const MAX_DEPTH = 64;

/** What an entry is: `deleted` is an overlayfs whiteout (a character device 0/0 in an upper layer that hides a lower file). */
export type EntryType = 'file' | 'dir' | 'link' | 'deleted' | 'other';

/** One entry of a listing. */
export interface FileEntry {
  name: string;
  type: EntryType;
  size: number;
  /** ISO 8601. */
  mtime: string;
}

/** A listed directory: `path` is relative to the tree's root ('' for the root itself). */
export interface Listing {
  path: string;
  entries: FileEntry[];
  /** True when the directory had more than MAX_LIST_ENTRIES entries and only that many are listed. */
  truncated: boolean;
}

/** A regular file opened for reading; the caller streams `size` bytes from `fh` and closes it. */
export interface OpenedFile {
  path: string;
  name: string;
  size: number;
  mtime: Date;
  fh: FileHandle;
}

/**
 * The path components of the raw (still percent-encoded) part of a URL after
 * `/files`: each segment decoded on its own, so `%2F` cannot smuggle a
 * separator in and `%2e%2e` is refused as `..`. A trailing slash is allowed;
 * empty, `.`, `..`, NUL-bearing and undecodable segments, and a path that
 * does not start with `/` (when not empty), are a 400 naming the problem.
 */
export function pathSegments(raw: string): string[] {
  if (raw === '' || raw === '/') return [];
  if (!raw.startsWith('/')) throw new ApiError(400, `file path ${JSON.stringify(raw)} must follow /files/`);
  const parts = raw.slice(1).split('/');
  if (parts.at(-1) === '') parts.pop();
  if (parts.length > MAX_DEPTH) throw new ApiError(400, `file path is deeper than ${MAX_DEPTH} components`);
  return parts.map((part, i) => {
    let s: string;
    try {
      s = decodeURIComponent(part);
    } catch {
      throw new ApiError(400, `file path component ${i + 1} is not valid percent-encoding`);
    }
    if (s === '' || s === '.' || s === '..') throw new ApiError(400, `file path component ${i + 1} is ${JSON.stringify(s)}; use names only (no empty, "." or ".." components)`);
    if (s.includes('/') || s.includes('\0')) throw new ApiError(400, `file path component ${i + 1} holds an encoded "/" or NUL; use names only`);
    return s;
  });
}

/**
 * Lists the directory or opens the regular file at `segments` below `root`
 * (an open tree root; the caller closes it). A link, device or other special
 * file at the end, or on the way, is a 400; a missing entry a 404; a file
 * over MAX_FILE_BYTES a 413 saying the cap. `maxBytes` may lower the cap.
 */
export async function browse(root: Dir, segments: readonly string[], opts: { maxBytes?: number; maxEntries?: number } = {}): Promise<{ listing: Listing } | { file: OpenedFile }> {
  const path = segments.join('/');
  const parent = await openIn(root, segments.slice(0, -1));
  try {
    const last = segments.at(-1);
    if (last === undefined) return { listing: await list(parent, path, opts.maxEntries ?? MAX_LIST_ENTRIES) };
    const st = await parent.lstat(last).catch(denied(path));
    if (!st) throw new ApiError(404, `${path} not found`);
    if (st.isDirectory()) {
      const dir = await openIn(parent, [last]);
      try {
        return { listing: await list(dir, path, opts.maxEntries ?? MAX_LIST_ENTRIES) };
      } finally {
        await dir.close();
      }
    }
    if (!st.isFile()) throw new ApiError(400, `${path} is ${describe(st)}; only regular files can be downloaded`);
    const max = opts.maxBytes ?? MAX_FILE_BYTES;
    // The open refuses a link swapped in after the lstat (O_NOFOLLOW) and anything not a regular file (fstat).
    const { fh, st: opened } = await parent.openFile(last).catch(async (err: unknown) => {
      throw (await treeError(err, path)) ?? err;
    });
    if (opened.size > max) {
      await fh.close();
      throw new ApiError(413, `${path} is ${opened.size} bytes; downloads are capped at ${max} bytes (${Math.floor(max / 2 ** 20)} MiB)`, { size: opened.size, limit: max });
    }
    return { file: { path, name: last, size: opened.size, mtime: opened.mtime, fh } };
  } finally {
    await parent.close();
  }
}

/** Opens `segments` below `dir` without following links; tree problems become API errors. */
async function openIn(dir: Dir, segments: readonly string[]): Promise<Dir> {
  try {
    return await openDirBeneath(dir, segments, { reading: true });
  } catch (err) {
    throw (await treeError(err, segments.join('/'))) ?? err;
  }
}

/** Up to `max` entries of `dir`, sorted by name, each lstat'ed (never followed). */
async function list(dir: Dir, path: string, max: number): Promise<Listing> {
  const names: Buffer[] = [];
  let truncated = false;
  // Read the directory lazily: a huge one costs `max` names, not all of them. Names
  // as bytes: one that is not UTF-8 is still listed (lossily), not silently lost.
  // (Node's opendir takes 'buffer' at run time; its types list only text encodings.)
  const handle = await opendir(`/proc/self/fd/${dir.fd}`, { encoding: 'buffer' as BufferEncoding }).catch(denied(path));
  try {
    for (let e = await handle.read(); e !== null; e = await handle.read()) {
      if (names.length === max) {
        truncated = true;
        break;
      }
      names.push(e.name as unknown as Buffer);
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
  names.sort(Buffer.compare);
  const prefix = Buffer.from(`/proc/self/fd/${dir.fd}/`);
  const entries: FileEntry[] = [];
  for (const raw of names) {
    const st = await lstat(Buffer.concat([prefix, raw])).catch(() => undefined);
    if (!st) continue; // gone since it was read
    entries.push({ name: raw.toString('utf8'), type: entryType(st), size: st.isFile() ? st.size : 0, mtime: st.mtime.toISOString() });
  }
  return { path, entries, truncated };
}

function entryType(st: Stats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'link';
  if (st.isCharacterDevice() && st.rdev === 0) return 'deleted';
  return 'other';
}

function describe(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symlink (links are listed, never followed)';
  if (st.isCharacterDevice() && st.rdev === 0) return 'deleted (an overlayfs whiteout hiding a lower file)';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a device node';
}

/** The API error for a failure inside the tree, or undefined for one that is the service's own (a 500). */
async function treeError(err: unknown, path: string): Promise<ApiError | undefined> {
  if (err instanceof UnsafePathError) return new ApiError(400, `${err.message}; links are listed, never followed`);
  if (err instanceof ApiError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ApiError(404, `${path} not found`);
  if (code === 'EACCES' || code === 'EPERM') return new ApiError(403, `the web service may not read ${path || 'this tree'} (its permissions do not let the left4me-web group read it)`);
  if (code === 'ELOOP') return new ApiError(400, `${path} is a symlink; links are listed, never followed`);
  if (code === 'ENOTDIR') return new ApiError(400, `a component of ${path} is not a directory`);
  return undefined;
}

function denied(path: string) {
  return async (err: unknown): Promise<never> => {
    throw (await treeError(err, path)) ?? err;
  };
}
