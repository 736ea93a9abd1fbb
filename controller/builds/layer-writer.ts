import { randomBytes } from 'node:crypto';
import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { openDirBeneath, withDirBeneath } from '../fs/beneath.js';
import { removeTree } from '../fs/remove-tree.js';

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
 * and an optional mode. Every directory and file is created through no-follow
 * descriptors with its mode and owner set on the descriptor, so nothing is
 * ever visible with the wrong owner and no link is followed.
 */
export async function writeLayer(dir: string, files: Map<string, { text: string; mode?: number }>, own: LayerOwnership): Promise<void> {
  if (await layerExists(dir)) return;
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmpName = `.tmp-${randomBytes(6).toString('hex')}`;
  const tmp = join(parent, tmpName);
  const create = { mode: own.dirMode, uid: own.uid, gid: own.gid };
  try {
    await withDirBeneath(parent, [tmpName], { create }, async (top) => {
      for (const [rel, { text, mode }] of files) {
        const segments = rel.split('/');
        if (rel.startsWith('/') || segments.some((s) => s === '..' || s === '.' || s === '')) {
          throw new Error(`refusing unsafe layer path ${JSON.stringify(rel)}`);
        }
        const d = await openDirBeneath(top, segments.slice(0, -1), { create });
        try {
          await d.writeFile(segments.at(-1)!, text, mode ?? own.fileMode, { uid: own.uid, gid: own.gid });
        } finally {
          await d.close();
        }
      }
    });
    await rename(tmp, dir);
  } catch (err) {
    await removeTree(tmp).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') return; // someone else finished it
    throw err;
  }
}
