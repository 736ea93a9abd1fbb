import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The one way a file is replaced: `fill` writes a temp file beside `path`
 * (`.<12 hex>.tmp`, created O_EXCL|O_NOFOLLOW with `mode`, so a name planted
 * in a directory someone else can write is never written through), which is
 * fsynced and renamed over `path`, and then the directory is fsynced: without
 * that a power loss can forget the rename (ext4, xfs) and bring back the old
 * file or, for a new name, none. A crash leaves either the old or the new
 * content, never a torn file; on any failure before the rename the temp file
 * is removed and `path` is untouched (a full disk fails the write or the
 * fsync, never the rename).
 */
export async function replaceFile(path: string, mode: number, fill: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fill(fh);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(dirname(path));
}

/** fsyncs a directory, so the names in it (a rename) are on disk; filesystems that cannot (EINVAL) are left as they are. */
export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename is atomic all the same. An I/O error is not swallowed.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
  } finally {
    await fh.close();
  }
}

/**
 * Writes a file atomically (replaceFile), creating its directory. An `owner`
 * is set on the temp file's descriptor before the rename, so the file never
 * has its name with another owner and no path is chowned afterwards.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o644, owner?: { uid: number; gid: number }): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await replaceFile(path, mode, async (fh) => {
    await fh.writeFile(data);
    if (owner) await fh.chown(owner.uid, owner.gid);
  });
}
