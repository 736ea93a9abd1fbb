import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes a file atomically: a temp file in the same directory, fsync, rename.
 * A crash leaves either the old or the new content, never a torn file. An
 * `owner` is set on the temp file's descriptor before the rename, so the file
 * never has its name with another owner and no path is chowned afterwards.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o644, owner?: { uid: number; gid: number }): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  // O_EXCL|O_NOFOLLOW: a name planted in a directory someone else can write is never written through.
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    if (owner) await fh.chown(owner.uid, owner.gid);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
