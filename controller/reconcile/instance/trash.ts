/**
 * The trash: writable layers of reset or deleted instances are moved here and
 * kept for a while (the janitor empties it after the retention time), so a
 * mistaken reset or delete can still be undone by hand.
 */
import { onHost } from '../../config.js';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type InstanceHost } from './host.js';

/** Moves an instance's directories into a new, timestamped trash entry; missing ones are skipped. */
export async function moveToTrash(x: Pick<InstanceHost, 'cfg' | 'now' | 'elapsed'>, name: string, dirs: string[]): Promise<void> {
  const entry = `${name}-${new Date(x.now()).toISOString().replace(/[:.]/g, '')}-${randomBytes(3).toString('hex')}`;
  // Its retention counts from now on the monotonic clock, whatever the wall clock does before the janitor first meets it.
  x.elapsed.begin(`trash/${entry}`);
  const dest = onHost(x.cfg, join(x.cfg.trashDir, entry));
  await mkdir(dest, { recursive: true, mode: 0o700 });
  for (const d of dirs) {
    const from = onHost(x.cfg, d);
    if (await stat(from).then(() => true, () => false)) await rename(from, join(dest, d.split('/').pop()!));
  }
}
