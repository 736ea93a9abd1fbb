/**
 * The git steps of a source sync, each one small and on its own: create the
 * bare repository, fetch the followed ref shallowly into a private ref, tell
 * whether the new tip descends from the serving commit (deepening the shallow
 * history until it knows), read a commit's description, check its tree
 * before anything reaches the disk, and check it out. sync.ts orders them and
 * keeps the status; nothing here decides what serves.
 */
import { chmod, lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GitError, hitFileSizeLimit, printable, runGit, type GitEnv } from './git.js';
import type { CommitInfo, GitSourceConfig } from './types.js';

/** The private ref a fetch writes: never a branch, so nothing of git's own porcelain acts on it. */
export const TIP_REF = 'refs/left4me/tip';

/** Limits on what a commit may put on the disk. */
export interface TreeLimits {
  /** Total bytes of the files below the source's path (default 64 MiB). */
  maxBytes: number;
  /** Files below the source's path (default 10 000, the loader's own file limit). */
  maxFiles: number;
}

export const DEFAULT_TREE_LIMITS: TreeLimits = { maxBytes: 64 << 20, maxFiles: 10_000 };

/** What one fetch may take: time, and the largest file (the pack) it may write. */
export interface FetchLimits {
  timeoutMs: number;
  maxFileBytes: number;
}

/** A step that failed for a reason status names (`ref-missing`, `fetch-failed`, `invalid`, `checkout-failed`). */
export class SyncStepError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Creates the bare repository once (no template: no sample hooks, no description). */
export async function initRepo(g: GitEnv, repo: string): Promise<void> {
  try {
    await stat(join(repo, 'HEAD'));
    return;
  } catch {
    /* not there yet */
  }
  await mkdir(repo, { recursive: true, mode: 0o700 });
  await runGit(g, ['init', '--bare', '--quiet', '--template=', repo]);
}

/** The remote ref a source follows. */
export function remoteRef(ref: GitSourceConfig['ref']): string {
  return 'branch' in ref ? `refs/heads/${ref.branch}` : `refs/tags/${ref.tag}`;
}

/**
 * Fetches the followed ref, `depth` commits deep, into TIP_REF (forced: the
 * decision about a force-push is made afterwards, from the history) and
 * returns the commit it names. A ref the remote does not have is
 * `ref-missing`; anything else that stops the fetch is `fetch-failed`.
 */
export async function fetchTip(g: GitEnv, repo: string, url: string, ref: GitSourceConfig['ref'], depth: number, limits: FetchLimits): Promise<string> {
  const src = remoteRef(ref);
  try {
    await runGit(
      g,
      ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', `--recurse-submodules=${g.submodules ? 'yes' : 'no'}`, `--depth=${depth}`, '--', url, `+${src}:${TIP_REF}`],
      { gitDir: repo, timeoutMs: limits.timeoutMs, maxFileBytes: limits.maxFileBytes },
    );
  } catch (err) {
    if (!(err instanceof GitError)) throw err;
    if (/couldn't find remote ref/i.test(err.stderr)) {
      throw new SyncStepError('ref-missing', `the remote has no ${'branch' in ref ? `branch "${ref.branch}"` : `tag "${ref.tag}"`} (deleted or renamed?): the serving commit stays`);
    }
    if (hitFileSizeLimit(err.stderr)) {
      throw new SyncStepError('fetch-failed', `the fetch would write a file larger than ${limits.maxFileBytes} bytes: a repository this large is refused (keep only documents in it, or raise the fetch size cap)`);
    }
    throw new SyncStepError('fetch-failed', err.message);
  }
  return resolveCommit(g, repo, `${TIP_REF}^{commit}`);
}

/** The full commit id a revision names. */
export async function resolveCommit(g: GitEnv, repo: string, rev: string): Promise<string> {
  const r = await runGit(g, ['rev-parse', '--verify', '--quiet', '--end-of-options', rev], { gitDir: repo });
  return r.stdout.trim();
}

/** Whether `ancestor` is reachable from `tip` in the history fetched so far (false while it is cut off or absent). */
async function reachable(g: GitEnv, repo: string, ancestor: string, tip: string): Promise<boolean> {
  try {
    const r = await runGit(g, ['merge-base', '--is-ancestor', ancestor, tip], { gitDir: repo, okCodes: [1] });
    return r.code === 0;
  } catch (err) {
    if (err instanceof GitError && err.code === 128) return false; // the serving commit is not in this repository (yet)
    throw err;
  }
}

/** Commits reachable from `tip` in the history fetched so far (shallow boundaries count as roots). */
async function historyLength(g: GitEnv, repo: string, tip: string): Promise<number> {
  const r = await runGit(g, ['rev-list', '--count', tip], { gitDir: repo });
  return Number(r.stdout.trim());
}

/** The answer to "does the new tip descend from the serving commit?" and the tip it was asked about (a deepening fetch may move it). */
export interface Descent {
  descends: boolean | 'unknown';
  tip: string;
  /** How deep the history was fetched to answer. */
  depth: number;
}

/**
 * Shallow fetches keep the repository small, but a depth-1 history cannot
 * show that the serving commit is an ancestor of the new tip. So the history
 * is deepened (×16 each time) until the serving commit is reachable from the
 * tip (a fast-forward), the whole history is there without it (a force-push:
 * fewer commits came than asked for), or `maxDepth` is reached — `unknown`,
 * which the caller treats like a force-push: more than maxDepth commits
 * between two fetches is not something to accept unseen. Chosen over
 * `--shallow-since`, which trusts committer dates a rewritten history can set
 * to anything.
 */
export async function descendsFrom(g: GitEnv, repo: string, url: string, ref: GitSourceConfig['ref'], serving: string, tip: string, maxDepth: number, limits: FetchLimits): Promise<Descent> {
  let depth = 1;
  for (;;) {
    if (await reachable(g, repo, serving, tip)) return { descends: true, tip, depth };
    if ((await historyLength(g, repo, tip)) < depth) return { descends: false, tip, depth };
    if (depth >= maxDepth) return { descends: 'unknown', tip, depth };
    depth = Math.min(depth * 16, maxDepth);
    tip = await fetchTip(g, repo, url, ref, depth, limits);
  }
}

/** The commit as status shows it: id, author, committer date, subject. */
export async function commitInfo(g: GitEnv, repo: string, commit: string): Promise<CommitInfo> {
  const r = await runGit(g, ['log', '-1', '--no-show-signature', '--format=%H%x00%an <%ae>%x00%cI%x00%s', commit, '--'], { gitDir: repo });
  const [id, author, date, subject] = r.stdout.replace(/\n$/, '').split('\0');
  return { commit: id ?? commit, author: printable(author ?? ''), date: date ?? '', subject: printable(subject ?? '') };
}

/** One entry of `git ls-tree -r -l -z`. */
interface TreeEntry {
  mode: string;
  type: string;
  size: number;
  path: string;
}

function parseTree(out: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const rec of out.split('\0')) {
    if (!rec) continue;
    const m = /^(\d{6}) (\w+) [0-9a-f]+ +(-|\d+)\t([\s\S]*)$/.exec(rec);
    if (!m) throw new SyncStepError('checkout-failed', `git ls-tree printed an entry left4me cannot read: ${printable(rec, 80)}`);
    entries.push({ mode: m[1]!, type: m[2]!, size: m[3] === '-' ? 0 : Number(m[3]), path: m[4]! });
  }
  return entries;
}

/**
 * Checks the commit's tree below `path` without writing a file: the path must
 * be a directory; no symlink (it could point anywhere on the host once checked
 * out) and no gitlink (a submodule: a second repository left4me does not
 * fetch) may sit below it; the files must stay under the size and count caps,
 * so a hostile repository cannot fill the disk through a checkout. Every
 * refusal is `invalid` and names the file.
 */
export async function checkTree(g: GitEnv, repo: string, commit: string, path: string, limits: TreeLimits): Promise<void> {
  const spec = path === '.' ? [] : ['--', path];
  if (path !== '.') {
    const self = parseTree((await runGit(g, ['ls-tree', '-z', '-l', '--full-tree', commit, ...spec], { gitDir: repo })).stdout).find((e) => e.path === path);
    if (!self) throw new SyncStepError('invalid', `the documents path "${path}" does not exist in this commit`);
    if (self.mode === '120000') throw new SyncStepError('invalid', `the documents path "${path}" is a symlink; left4me reads only regular files and directories from a repository`);
    if (self.type !== 'tree') throw new SyncStepError('invalid', `the documents path "${path}" is not a directory in this commit`);
  }
  // Output cap: a listing line is ~100 bytes plus the path; past this the file-count cap is broken anyway.
  let out: string;
  try {
    out = (await runGit(g, ['ls-tree', '-r', '-l', '-z', '--full-tree', commit, ...spec], { gitDir: repo, maxOutputBytes: limits.maxFiles * 4200 + (1 << 20) })).stdout;
  } catch (err) {
    if (err instanceof GitError && err.killed === 'output') throw new SyncStepError('invalid', `the documents path "${path}" holds more than ${limits.maxFiles} files`);
    throw err;
  }
  const entries = parseTree(out);
  let bytes = 0;
  for (const e of entries) {
    if (e.mode === '120000') throw new SyncStepError('invalid', `${e.path}: a symlink; left4me checks out only regular files from a repository (replace it with the file)`);
    if (e.mode === '160000' || e.type === 'commit') {
      // Documents come from one repository, reviewed in one place: a second repository below them is refused even when
      // the source allows submodules (that setting is kept for fetching; checking them out is not built).
      throw new SyncStepError('invalid', `${e.path}: a submodule (gitlink); left4me does not check out submodules below the documents path${g.submodules ? ' (submodules: true does not change that yet)' : ''}`);
    }
    bytes += e.size;
  }
  if (entries.length > limits.maxFiles) throw new SyncStepError('invalid', `the documents path "${path}" holds ${entries.length} files, more than the ${limits.maxFiles} allowed`);
  if (bytes > limits.maxBytes) throw new SyncStepError('invalid', `the documents path "${path}" holds ${bytes} bytes, more than the ${limits.maxBytes} allowed`);
}

/**
 * Writes the commit's `path` subtree to `<dest>/<path>` with git's plumbing
 * (read-tree into a private index, checkout-index): no hooks, no HEAD moved,
 * nothing outside `dest`. Only the documents path is written — the rest of
 * the repository is not the controller's business.
 */
export async function checkoutTree(g: GitEnv, repo: string, commit: string, path: string, dest: string, indexFile: string): Promise<void> {
  const target = path === '.' ? dest : join(dest, path);
  await mkdir(target, { recursive: true });
  const env = { GIT_INDEX_FILE: indexFile };
  try {
    await runGit(g, ['read-tree', '--empty'], { gitDir: repo, env });
    await runGit(g, ['read-tree', path === '.' ? `${commit}^{tree}` : `${commit}:${path}`], { gitDir: repo, env });
    // .gitattributes can rewrite files on checkout (eol, ident, working-tree-encoding): out of the index they go, so
    // what the loader reads is byte for byte the blob reviewers saw.
    const listed = (await runGit(g, ['ls-files', '-z'], { gitDir: repo, env, maxOutputBytes: 64 << 20 })).stdout.split('\0');
    const attributes = listed.filter((f) => f === '.gitattributes' || f.endsWith('/.gitattributes'));
    if (attributes.length > 0) await runGit(g, ['update-index', '--force-remove', '--', ...attributes], { gitDir: repo, workTree: dest, env });
    await runGit(g, ['checkout-index', '--all', '--force', `--prefix=${target}/`], { gitDir: repo, workTree: dest, env, timeoutMs: 120_000 });
  } finally {
    await rm(indexFile, { force: true });
    await rm(`${indexFile}.lock`, { force: true });
  }
}

/** Sets every directory below `dir` (and `dir`) to `dirMode` and every file to `fileMode`; links are left alone. */
export async function chmodTree(dir: string, dirMode: number, fileMode: number): Promise<void> {
  const stack = [dir];
  const dirs: string[] = [];
  while (stack.length > 0) {
    const d = stack.pop()!;
    // Writable first, so a read-only tree can be walked and emptied; set to dirMode after its entries.
    await chmod(d, 0o755);
    dirs.push(d);
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) await chmod(p, fileMode);
    }
  }
  for (const d of dirs.reverse()) await chmod(d, dirMode);
}

/** True when the path exists (as anything, links not followed). */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
