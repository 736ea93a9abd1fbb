// Root-side file handling inside trees that someone with fewer rights wrote
// (overlay builds after a script step, Steam installations and steamcmd's
// home after a sandboxed run, the state tree): every component below the root
// is opened with O_NOFOLLOW, and every later operation names one entry of an
// already-open directory as /proc/self/fd/<fd>/<name> — the standard openat(2)
// emulation in Node. The kernel resolves such a path from the open directory
// itself, so swapping a checked directory for a link afterwards changes
// nothing; a link found in the way is an error naming it, never followed.
// Links inside the root path itself (an operator's choice, or /proc/PID/root
// of a test host) are followed when the root is opened.
import { closeSync, constants as C, fstatSync, openSync, readSync, type Dirent, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, opendir, rename, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/** A path below a root that cannot be used safely (a link, or not a directory where one is needed); the message names it relative to the root. */
export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
  constructor(
    message: string,
    /** The offending path, relative to the root. */
    readonly rel: string,
  ) {
    super(message);
  }
}

/** Who may have left a link, and whether the caller reads or writes there, for messages ("left by an earlier step; refusing to write through it"). */
export interface Origin {
  by?: string;
  reading?: boolean;
}

/** Creation settings for missing directories: mode (applied through the fd, so the umask cannot narrow it) and optional owner. */
export interface CreateDirs {
  mode: number;
  uid?: number;
  gid?: number;
}

/**
 * A directory opened without following a link, and the operations on its
 * entries by name. Owns its descriptor until close().
 */
export class Dir {
  private constructor(
    private readonly fh: FileHandle,
    /** Path relative to the walk's root ('' for the root), for messages. */
    readonly rel: string,
    /** Who may have left links here, for messages. */
    readonly origin: Origin,
  ) {}

  /**
   * Opens `path` as a root: links in the path itself are followed, nothing
   * below it ever is. `rel` names it in messages when it is itself below a
   * root (a walk reopening a checked directory through its descriptor).
   */
  static async root(path: string, origin: Origin = {}, rel = ''): Promise<Dir> {
    return new Dir(await open(path, C.O_RDONLY | C.O_DIRECTORY), rel, origin);
  }

  /** The descriptor, for callers that act on the directory itself (fstat, fsync). */
  get fd(): number {
    return this.fh.fd;
  }

  /** `/proc/self/fd/<fd>/<name>`: one entry of this directory, resolved from the open descriptor. */
  at(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new UnsafePathError(`${JSON.stringify(name)} is not a single path component`, this.relOf(name));
    }
    return `/proc/self/fd/${this.fh.fd}/${name}`;
  }

  /** An entry's path relative to the root, for messages. */
  relOf(name: string): string {
    return this.rel ? `${this.rel}/${name}` : name;
  }

  /** lstat of an entry (never follows it); undefined when it does not exist. */
  async lstat(name: string): Promise<Stats | undefined> {
    return lstat(this.at(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  /** fstat of the directory itself. */
  stat(): Promise<Stats> {
    return this.fh.stat();
  }

  /** Entry names, sorted (so walks and messages are deterministic). */
  async names(): Promise<string[]> {
    return (await this.entries()).map((e) => e.name);
  }

  /** Entries with the type readdir reported (a hint to save an lstat: only an O_NOFOLLOW open proves what an entry is), sorted by name. */
  async entries(): Promise<Dirent[]> {
    const entries: Dirent[] = [];
    for await (const e of await opendir(`/proc/self/fd/${this.fh.fd}`)) entries.push(e);
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Opens the subdirectory `name` without following a link, creating it when
   * missing and `create` is given (mode and owner set through its fd). Throws
   * UnsafePathError when a link or a non-directory is there.
   */
  async dir(name: string, create?: CreateDirs): Promise<Dir> {
    let made = false;
    if (create) {
      made = await mkdir(this.at(name), { mode: create.mode }).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'EEXIST') return false;
          throw err;
        },
      );
    }
    let fh: FileHandle;
    try {
      fh = await open(this.at(name), DIR_FLAGS);
    } catch (err) {
      throw await this.explain(err, name, this.origin.reading ? 'read' : 'write');
    }
    const child = new Dir(fh, this.relOf(name), this.origin);
    if (made && create) {
      try {
        await fh.chmod(create.mode);
        if (create.uid !== undefined) await fh.chown(create.uid, create.gid ?? -1);
      } catch (err) {
        await child.close();
        throw err;
      }
    }
    return child;
  }

  /** Opens the regular file `name` for reading without following a link; refuses anything else (a FIFO cannot block: O_NONBLOCK). */
  async readFile(name: string): Promise<FileHandle> {
    return (await this.openFile(name)).fh;
  }

  /** readFile, with the fstat that proved it a regular file. */
  /**
   * Reads the regular file `name` whole, synchronously, or undefined when it
   * cannot be read that way (then openFile says why). For small files read in
   * bulk, such as a state tree: the promise API costs about 25 times the CPU
   * for files this size. O_NOFOLLOW refuses a link, O_NONBLOCK keeps a FIFO
   * from blocking, and fstat refuses anything but a regular file. `null`:
   * larger than `max` bytes (nothing past max + 1 is read).
   */
  readFileSync(name: string, max: number): string | null | undefined {
    let fd: number;
    try {
      fd = openSync(this.at(name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch {
      return undefined;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return undefined;
      const buf = Buffer.allocUnsafe(Math.min(st.size, max) + 1);
      let length = 0;
      for (;;) {
        const n = readSync(fd, buf, length, buf.length - length, length);
        if (n === 0) break;
        length += n;
        if (length > max) return null;
        if (length === buf.length) return undefined; // grew while being read: the careful path decides
      }
      return buf.toString('utf8', 0, length);
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  async openFile(name: string): Promise<{ fh: FileHandle; st: Stats }> {
    let fh: FileHandle;
    try {
      fh = await open(this.at(name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (err) {
      throw await this.explain(err, name, 'read');
    }
    const st = await fh.stat().catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
    if (!st.isFile()) {
      await fh.close();
      throw new UnsafePathError(`${this.relOf(name)} is not a regular file; refusing to read it`, this.relOf(name));
    }
    return { fh, st };
  }

  /**
   * Writes `data` as `name`: a new temp file (O_EXCL|O_NOFOLLOW: nothing
   * planted can be reused) gets its mode and owner through its fd, then
   * replaces `name` with one rename, which replaces a link at `name` instead of
   * following it. A directory at `name` is refused. `data` may be a function
   * that writes into the temp file (to stream a large copy).
   */
  async writeFile(name: string, data: string | Uint8Array | ((fh: FileHandle) => Promise<void>), mode: number, owner?: { uid: number; gid: number }): Promise<void> {
    const tmp = this.tempName();
    const fh = await open(this.at(tmp), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
    try {
      try {
        if (typeof data === 'function') await data(fh);
        else await fh.writeFile(data);
        await fh.chmod(mode); // the umask must not narrow it
        if (owner) await fh.chown(owner.uid, owner.gid);
      } finally {
        await fh.close();
      }
      await this.replace(tmp, name);
    } catch (err) {
      await unlink(this.at(tmp)).catch(() => undefined);
      throw err;
    }
  }

  /** fchmod of the regular file `name`, opened without following a link. */
  async chmodFile(name: string, mode: number): Promise<void> {
    const fh = await this.readFile(name);
    try {
      await fh.chmod(mode);
    } finally {
      await fh.close();
    }
  }

  /** Hard-links the trusted file `existing` (a path outside any hostile tree, e.g. the download cache) as `name`, replacing what is there. */
  linkFrom(existing: string, name: string): Promise<void> {
    return this.placeAs(name, (tmp) => link(existing, tmp));
  }

  /** Makes `name` a symlink to `target`, replacing a file or link there (never a directory). */
  symlink(target: string, name: string): Promise<void> {
    return this.placeAs(name, (tmp) => symlink(target, tmp));
  }

  /** Makes a new entry under a temp name with `make`, then renames it over `name` (the temp entry goes if that fails). */
  private async placeAs(name: string, make: (tmpPath: string) => Promise<void>): Promise<void> {
    const tmp = this.tempName();
    await make(this.at(tmp));
    try {
      await this.replace(tmp, name);
    } catch (err) {
      await unlink(this.at(tmp)).catch(() => undefined);
      throw err;
    }
  }

  /** Renames the entry `from` of this directory over `to`, refusing to replace a directory. */
  async replace(from: string, to: string): Promise<void> {
    if ((await this.lstat(to))?.isDirectory()) {
      throw new UnsafePathError(`${this.relOf(to)} is a directory (left by ${this.origin.by ?? 'someone else'}); refusing to replace it`, this.relOf(to));
    }
    await rename(this.at(from), this.at(to));
  }

  /** Removes a non-directory entry (a link itself, never its target); missing is fine. */
  async unlink(name: string): Promise<void> {
    await unlink(this.at(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** fchmod of the directory itself. */
  chmod(mode: number): Promise<void> {
    return this.fh.chmod(mode);
  }

  /** fchown of the directory itself. */
  chown(uid: number, gid: number): Promise<void> {
    return this.fh.chown(uid, gid);
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  /** A fresh name in this directory for a file about to be renamed into place. */
  tempName(): string {
    return `.left4me-tmp-${randomBytes(6).toString('hex')}`;
  }

  /** Turns a failed open of `name` into a message saying what is in the way. */
  private async explain(err: unknown, name: string, verb: 'read' | 'write'): Promise<unknown> {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'ENOTDIR' && code !== 'EMLINK') return err;
    const st = await this.lstat(name).catch(() => undefined);
    const rel = this.relOf(name);
    const by = this.origin.by ? ` left by ${this.origin.by}` : '';
    if (st?.isSymbolicLink()) return new UnsafePathError(`${rel} is a symlink${by}; refusing to ${verb} through it`, rel);
    if (st && !st.isDirectory()) return new UnsafePathError(`${rel} is ${kindOf(st)}${by}, not a directory`, rel);
    return err;
  }
}

/**
 * Opens the directory `rel` (segments, or a '/'-separated path) below
 * `root` (a path, or an open Dir) one component at a time without following
 * a link, creating missing components when `create` is given. The caller
 * owns the returned Dir.
 */
export async function openDirBeneath(root: string | Dir, rel: string | readonly string[], opts: { create?: CreateDirs } & Origin = {}): Promise<Dir> {
  const segments = typeof rel === 'string' ? splitRelative(rel) : rel;
  // Below an open Dir, start from its descriptor: the very directory it checked.
  let dir = typeof root === 'string' ? await Dir.root(root, opts) : await Dir.root(`/proc/self/fd/${root.fd}`, { ...root.origin, ...opts }, root.rel);
  try {
    for (const segment of segments) {
      const next = await dir.dir(segment, opts.create);
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (err) {
    await dir.close();
    throw err;
  }
}

/** Runs `fn` with the directory `rel` below `root` (see openDirBeneath) and closes it afterwards. */
export async function withDirBeneath<T>(root: string | Dir, rel: string | readonly string[], opts: { create?: CreateDirs } & Origin, fn: (dir: Dir) => Promise<T>): Promise<T> {
  const dir = await openDirBeneath(root, rel, opts);
  try {
    return await fn(dir);
  } finally {
    await dir.close();
  }
}

/** Splits a relative path into components, refusing absolute paths, '.', '..' and empty segments. */
export function splitRelative(rel: string): string[] {
  if (rel === '') return [];
  const segments = rel.split('/');
  if (rel.startsWith('/') || rel.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new UnsafePathError(`${JSON.stringify(rel)} must be a relative path without '.', '..' or empty segments`, rel);
  }
  return segments;
}

/** "a symlink", "a file", "a FIFO", … for messages. */
export function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a file';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a device node';
}
