/**
 * A git source's on-disk layout made by hand, as the sync leaves it
 * (sources/types.ts): `checkouts/<commit>/` with the repository's files, a
 * relative `current` link to it, and the status file. Tests of everything that
 * only reads that layout (loader, CLI, web) use this instead of running git.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { HostLayout } from '../../controller/host/layout.js';
import { sourcePaths, type SourceStatus } from '../../controller/sources/types.js';

/** A made-up 40-hex commit id, stable per seed. */
export function fakeCommit(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

export interface FakeCheckout {
  /** Files of the repository at this commit, by repository path. */
  files: Record<string, string>;
  commit?: string;
  /** The documents directory inside the repository (default `.`). */
  path?: string;
  url?: string;
  /** Extra status fields (lastError and so on). */
  status?: Partial<SourceStatus>;
  /** Leave the status file out. */
  noStatus?: boolean;
}

/** Writes `checkouts/<commit>`, flips `current` to it (rename, as the sync does) and writes the status file. Returns the commit. */
export function writeSource(layout: HostLayout, name: string, c: FakeCheckout): string {
  const commit = c.commit ?? fakeCommit(`${name}:${JSON.stringify(c.files)}`);
  const paths = sourcePaths(layout, name);
  const checkout = join(paths.checkouts, commit);
  for (const [rel, text] of Object.entries(c.files)) {
    mkdirSync(dirname(join(checkout, rel)), { recursive: true });
    writeFileSync(join(checkout, rel), text);
  }
  mkdirSync(checkout, { recursive: true });
  const tmp = `${paths.current}.tmp`;
  symlinkSync(`checkouts/${commit}`, tmp);
  renameSync(tmp, paths.current);
  if (!c.noStatus) {
    const now = new Date().toISOString();
    const status: SourceStatus = {
      name,
      url: c.url ?? `https://git.example.org/fleet/${name}.git`,
      ref: { branch: 'main' },
      path: c.path ?? '.',
      intervalMs: 60_000,
      serving: { commit, author: 'Ada <ada@example.org>', date: now, subject: 'servers', since: now },
      lastFetch: { at: now, tip: commit },
      lastError: null,
      ...c.status,
    };
    mkdirSync(dirname(paths.status), { recursive: true });
    writeFileSync(paths.status, JSON.stringify(status));
  }
  return commit;
}
