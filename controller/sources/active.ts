/**
 * Which commit of each git source is in force, as the loader, the CLI and the
 * web read it. The sync (sources/sync.ts) owns the layout and flips
 * `<sourcesDir>/NAME/current` to `checkouts/<commit>` with rename(2); this file
 * only reads it. Each `current` is read once per load and turned into the
 * directory of that commit's checkout, so a flip while a load runs cannot mix
 * two commits (a checkout never changes once written). Never throws on a
 * broken source: it is left out and said in `problems`, which the loader turns
 * into unreadable files so nothing that source may define is deleted.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceRoot } from '../documents/origin.js';
import type { Problem } from '../documents/problems.js';
import { onHostPath, type HostLayout } from '../host/layout.js';
import { sourcePaths, SOURCE_NAME, type SourceStatus } from './types.js';

/** The git sources in force, sorted by name, and the ones that could not be read. */
export interface ActiveSources {
  roots: SourceRoot[];
  /** One per source left out, at its `current` link or status file. */
  problems: Problem[];
}

/** A status file is a few kilobytes; anything much larger is not one. */
const MAX_STATUS_BYTES = 1 << 20;
const COMMIT = /^[0-9a-f]{40}$/;

/**
 * Every source with a `current` link, as this process reaches it (`fsRoot`
 * maps host paths, as for a private test host). The commit comes from the
 * link's target name, the path inside the repository from the source's status
 * file.
 */
export async function readActiveSources(layout: HostLayout, fsRoot = '/'): Promise<ActiveSources> {
  const roots: SourceRoot[] = [];
  const problems: Problem[] = [];
  let names: string[];
  try {
    names = (await readdir(onHostPath(fsRoot, layout.sourcesDir), { withFileTypes: true }))
      .filter((e) => e.isDirectory() && SOURCE_NAME.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    // No sources directory: no source was ever synced on this host.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { roots, problems };
    problems.push(problemAt(layout.sourcesDir, `cannot list the git sources: ${(err as NodeJS.ErrnoException).code ?? String(err)}`));
    return { roots, problems };
  }
  for (const name of names) {
    const paths = sourcePaths(layout, name);
    let target: string;
    try {
      target = await readlink(onHostPath(fsRoot, paths.current));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // No link yet: the source has never had a good commit, so it defines nothing.
      if (code === 'ENOENT') continue;
      problems.push(problemAt(paths.current, `git source ${name}: ${code === 'EINVAL' ? 'not a symbolic link' : `cannot read the link: ${code ?? String(err)}`}; its documents are not read`));
      continue;
    }
    const m = /^checkouts\/([0-9a-f]{40})\/?$/.exec(target);
    if (!m || !COMMIT.test(m[1]!)) {
      problems.push(problemAt(paths.current, `git source ${name}: the link points to ${JSON.stringify(target.slice(0, 200))}, not checkouts/<commit>; its documents are not read`));
      continue;
    }
    const commit = m[1]!;
    const status = await readStatusFile(onHostPath(fsRoot, paths.status));
    if (typeof status === 'string') {
      problems.push(problemAt(paths.status, `git source ${name}: ${status}; its documents are not read`));
      continue;
    }
    if (status.name !== name) {
      problems.push(problemAt(paths.status, `git source ${name}: the status file names ${JSON.stringify(status.name.slice(0, 100))}; its documents are not read`));
      continue;
    }
    const path = repoPath(status.path);
    if (path === undefined) {
      problems.push(problemAt(paths.status, `git source ${name}: path ${JSON.stringify(String(status.path).slice(0, 200))} is not a relative path inside the repository; its documents are not read`));
      continue;
    }
    const checkout = onHostPath(fsRoot, join(paths.checkouts, commit));
    roots.push({ name, commit, path, dir: path === '.' ? checkout : join(checkout, path) });
  }
  return { roots, problems };
}

/** Every source's status, sorted by name; files that cannot be read are left out. */
export async function readSourceStatuses(layout: HostLayout, fsRoot = '/'): Promise<SourceStatus[]> {
  const dir = onHostPath(fsRoot, join(layout.statusDir, 'sources'));
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return [];
  }
  const out: SourceStatus[] = [];
  for (const file of files.sort()) {
    const name = file.endsWith('.json') ? file.slice(0, -'.json'.length) : '';
    if (!SOURCE_NAME.test(name)) continue;
    const status = await readStatusFile(join(dir, file));
    if (typeof status !== 'string' && status.name === name) out.push(status);
  }
  return out;
}

/** A status file, or why it cannot be used. */
async function readStatusFile(path: string): Promise<SourceStatus | string> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_STATUS_BYTES) return `the status file is larger than ${MAX_STATUS_BYTES} bytes`;
    text = buf.toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no status file' : `cannot read the status file: ${code ?? String(err)}`;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return 'the status file is not JSON';
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'the status file is not an object';
  const s = data as Partial<SourceStatus>;
  if (typeof s.name !== 'string' || typeof s.url !== 'string' || typeof s.path !== 'string') return 'the status file lacks name, url or path';
  return data as SourceStatus;
}

/** A repository path as the status file names it, normalized; undefined when absolute, escaping or odd. */
function repoPath(path: unknown): string | undefined {
  if (typeof path !== 'string' || path.length > 1024 || path.startsWith('/') || /[\0-\x1f\x7f\\]/.test(path)) return undefined;
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return undefined;
  return parts.length === 0 ? '.' : parts.join('/');
}

function problemAt(file: string, message: string): Problem {
  return { file, line: 1, col: 1, pointer: '', message };
}
