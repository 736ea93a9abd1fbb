/**
 * Build logs as the web service reads them: the path comes from the
 * controller's status (`build.log`, relative to the data directory), so it is
 * checked before it is opened — it must name a file under `<dataDir>/logs`,
 * with no `..`, through no symbolic link — and the file is opened without
 * following a link at its last step either.
 */
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** Why a build log cannot be read: `missing` (no such file yet), `refused` (a path the status should never hold), `denied` (root's alone). */
export class BuildLogError extends Error {
  override name = 'BuildLogError';
  constructor(
    readonly why: 'missing' | 'refused' | 'denied',
    message: string,
  ) {
    super(message);
  }
}

/** Checks a status' relative log path; returns its parts below the data directory. */
export function logPathParts(rel: string): string[] {
  const parts = rel.split('/');
  const ok = rel.length < 1024 && !posix.isAbsolute(rel) && parts.length >= 2 && parts[0] === 'logs' && parts.every((p) => p !== '' && p !== '.' && p !== '..' && !/[\0-\x1f]/.test(p)) && rel.endsWith('.log');
  if (!ok) throw new BuildLogError('refused', 'the status names a log outside the logs directory');
  return parts;
}

/** Opens `<dataDir>/<rel>` for reading after checking every step of the way is a real directory. */
export async function openBuildLog(dataDir: string, rel: string): Promise<FileHandle> {
  const parts = logPathParts(rel);
  let dir = dataDir;
  for (const p of parts.slice(0, -1)) {
    dir = join(dir, p);
    const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new BuildLogError('missing', 'the build has written no log yet');
      if (err.code === 'EACCES') throw new BuildLogError('denied', 'this log is readable by root only');
      throw err;
    });
    if (!st.isDirectory()) throw new BuildLogError('refused', 'the log path passes through something that is not a directory');
  }
  try {
    const fh = await open(join(dir, parts.at(-1)!), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!(await fh.stat()).isFile()) {
      await fh.close();
      throw new BuildLogError('refused', 'the log is not a regular file');
    }
    return fh;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BuildLogError('missing', 'the build has written no log yet');
    if (code === 'EACCES') throw new BuildLogError('denied', 'this log is readable by root only');
    if (code === 'ELOOP') throw new BuildLogError('refused', 'the log is a symbolic link');
    throw err;
  }
}

/** Reads from `offset` to the end (at most `max` bytes); returns the bytes read. */
export async function readFrom(fh: FileHandle, offset: number, max = 1 << 20): Promise<Buffer> {
  const size = (await fh.stat()).size;
  if (size <= offset) return Buffer.alloc(0);
  const len = Math.min(size - offset, max);
  const buf = Buffer.alloc(len);
  const { bytesRead } = await fh.read(buf, 0, len, offset);
  return buf.subarray(0, bytesRead);
}

/** The last `n` lines of a file, reading at most its last `maxBytes`; and the offset after them. */
export async function tailLines(fh: FileHandle, n: number, maxBytes = 4 << 20): Promise<{ lines: string[]; end: number }> {
  const size = (await fh.stat()).size;
  const start = Math.max(0, size - maxBytes);
  const buf = Buffer.alloc(size - start);
  const { bytesRead } = await fh.read(buf, 0, buf.length, start);
  let text = buf.subarray(0, bytesRead).toString('utf8');
  // Only whole lines: a partial last line is sent when it is complete (follow) or at the end.
  const lastNl = text.lastIndexOf('\n');
  const end = start + (lastNl >= 0 ? Buffer.byteLength(text.slice(0, lastNl + 1)) : 0);
  text = lastNl >= 0 ? text.slice(0, lastNl) : '';
  let lines = text === '' ? [] : text.split('\n');
  if (start > 0) lines = lines.slice(1); // the first line was cut by the byte limit
  return { lines: lines.slice(-n), end };
}
