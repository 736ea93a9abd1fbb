import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Ownership and modes for a layer's files. */
export interface LayerOwnership {
  uid: number;
  gid: number;
  dirMode: number;
  fileMode: number;
}

/** World-readable, root-owned: overlay builds hold nothing secret. */
export const PUBLIC_LAYER: LayerOwnership = { uid: 0, gid: 0, dirMode: 0o755, fileMode: 0o644 };

/** Whether a finished layer exists (builds are renamed into place only when complete). */
export async function layerExists(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Writes a layer atomically: every file into a temp directory beside `dir`,
 * then one rename. A layer that exists is never touched again (a mounted
 * lower layer must not change), so a second writer of the same content just
 * finds it done. `files` maps safe relative paths (validated upstream) to text
 * and an optional mode.
 */
export async function writeLayer(dir: string, files: Map<string, { text: string; mode?: number }>, own: LayerOwnership): Promise<void> {
  if (await layerExists(dir)) return;
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(tmp, { mode: own.dirMode });
    const dirs = new Set<string>();
    for (const [rel, { text, mode }] of files) {
      if (rel.startsWith('/') || rel.split('/').some((s) => s === '..' || s === '.' || s === '')) {
        throw new Error(`refusing unsafe layer path ${JSON.stringify(rel)}`);
      }
      const path = join(tmp, rel);
      for (let d = dirname(path); d !== tmp && !dirs.has(d); d = dirname(d)) dirs.add(d);
      await mkdir(dirname(path), { recursive: true, mode: own.dirMode });
      await writeFile(path, text, { mode: mode ?? own.fileMode });
      await chmod(path, mode ?? own.fileMode); // umask must not narrow what servers may read
      await chown(path, own.uid, own.gid);
    }
    for (const d of [...dirs, tmp]) {
      await chmod(d, own.dirMode);
      await chown(d, own.uid, own.gid);
    }
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') return; // someone else finished it
    throw err;
  }
}
