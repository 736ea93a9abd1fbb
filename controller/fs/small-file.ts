/**
 * Reading the controller's own small files (status JSON, unit files,
 * launch.env, leases): synchronously, on purpose. A resync reads a few of
 * them per instance, and fs.promises.readFile costs about 25 times the CPU
 * of readFileSync for a file of a few hundred bytes (open, fstat, read and
 * close each through the thread pool: measured 141 µs against 5.5 µs per
 * read here), which was most of a no-op resync. Each read blocks the event
 * loop for microseconds; never use these for documents, downloads or logs.
 */
import { readFileSync, readlinkSync, statSync } from 'node:fs';

/** A small file's text, or undefined when it does not exist. */
export function readSmallFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Whether a directory exists (a link is followed: callers ask about trees the controller made). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Whether a symbolic link exists at path (systemctl enable's [Install] links). */
export function isLink(path: string): boolean {
  try {
    readlinkSync(path);
    return true;
  } catch {
    return false;
  }
}
