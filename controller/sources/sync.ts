/**
 * One concern: one git source kept in sync. Fetch the followed ref, and only
 * when the new tip descends from what serves, passes the tree checks and
 * validates (the caller's validate: the whole resulting state) flip `current`
 * to its checkout with rename(2). Every other outcome — an unreachable
 * remote, a deleted branch, a force-push, an invalid commit — leaves `current`
 * as it was and is reported in the source's status file, written atomically
 * after every attempt. One attempt runs at a time per source; a request
 * during one coalesces into one more run. A restart finds `current` and the
 * status file and serves on without a fetch.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, stat, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceRoot } from '../documents/origin.js';
import type { Problem } from '../documents/problems.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { removeTree } from '../fs/remove-tree.js';
import type { HostLayout } from '../host/layout.js';
import { CredentialError, prepareCredentials } from './credentials.js';
import { checkoutTree, checkTree, chmodTree, commitInfo, DEFAULT_TREE_LIMITS, descendsFrom, exists, fetchTip, initRepo, SyncStepError, type TreeLimits } from './fetch.js';
import { GitError, printable, redact, runGit, transportOf, type GitEnv } from './git.js';
import { SOURCE_NAME, sourcePaths, type CommitInfo, type GitSourceConfig, type SourcePaths, type SourceStatus } from './types.js';

/** The pino-like logger a sync writes to (messages and fields are redacted before they get here). */
export interface SyncLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** What a SourceSync needs from the rest of the controller. */
export interface SyncDeps {
  /** Validates the whole state that would result from serving `candidate` (its documents plus the local ones); [] when it may serve. */
  validate(candidate: SourceRoot): Promise<Problem[]>;
  log: SyncLog;
  /** Called after `current` flipped to a new commit. */
  onServe?(name: string, commit: string): void;
  /** The clock (tests). */
  now?: () => Date;
  /** The ssh program (a stand-in in tests); see CredentialOptions. */
  sshProgram?: string;
  /** Caps on what a commit may check out. */
  limits?: Partial<TreeLimits>;
  /** How deep a fetch may deepen the history to find the serving commit (default 4096 commits). */
  maxDepth?: number;
  /** One fetch's time limit (default 120 s). */
  fetchTimeoutMs?: number;
  /** The largest file (pack) one fetch may write (default 512 MiB): a hostile remote cannot fill the disk. */
  maxFetchBytes?: number;
}

/** What one attempt did. */
export interface SyncOutcome {
  /** `served`: current flipped to `tip`; `unchanged`: the tip already serves; `refused`/`failed`: nothing changed, see error. */
  result: 'served' | 'unchanged' | 'refused' | 'failed';
  /** The commit serving after the attempt. */
  serving: string | null;
  tip?: string;
  error: SourceStatus['lastError'];
}

const MAX_REPORTED_PROBLEMS = 100;
const COMMIT_DIR = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

interface Deferred {
  reason: string;
  promise: Promise<SyncOutcome>;
  resolve(o: SyncOutcome): void;
}

function deferred(reason: string): Deferred {
  let resolve!: (o: SyncOutcome) => void;
  const promise = new Promise<SyncOutcome>((r) => (resolve = r));
  return { reason, promise, resolve };
}

/** `.`, or `a/b` with no empty, `.` or `..` part and no control character. */
export function validDocumentsPath(path: string): boolean {
  if (path === '.') return true;
  // eslint-disable-next-line no-control-regex
  return path.length > 0 && path.length <= 1024 && !/[\u0000-\u001f\\]/.test(path) && path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** The configured URL as status and logs show it: userinfo and token-like parts removed. */
export function displayUrl(url: string): string {
  return redact(url).replace(/\*\*\*@/, '');
}

/** Keeps one git source's `current` on its newest good commit and its status file up to date. */
export class SourceSync {
  readonly paths: SourcePaths;
  private readonly home: string;
  private readonly limits: TreeLimits;
  private loading: Promise<void> | null = null;
  private status!: SourceStatus;
  /** The checkout served before the current one: kept for a quick look back, removed at the next flip. */
  private previous: string | null = null;
  private running: Deferred | null = null;
  private queued: Deferred | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;

  constructor(
    readonly cfg: GitSourceConfig,
    readonly layout: HostLayout,
    private readonly deps: SyncDeps,
  ) {
    // The configuration file checks these too; here they become paths, so they are checked again where they are used.
    if (!SOURCE_NAME.test(cfg.name)) throw new Error(`git source name ${JSON.stringify(cfg.name)} must match ${SOURCE_NAME}`);
    if (!validDocumentsPath(cfg.path)) throw new Error(`git source ${cfg.name}: path ${JSON.stringify(cfg.path)} must be "." or a relative path inside the repository without "." or ".." parts`);
    this.paths = sourcePaths(layout, cfg.name);
    this.home = join(this.paths.root, 'home');
    this.limits = { ...DEFAULT_TREE_LIMITS, ...deps.limits };
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** The serving commit's documents as the loader reads them, or null before the first good commit. */
  serving(): SourceRoot | null {
    const s = this.status?.serving;
    if (!s) return null;
    return { name: this.cfg.name, dir: join(this.paths.checkouts, s.commit, this.cfg.path), commit: s.commit, path: this.cfg.path };
  }

  /** The status as last written. */
  currentStatus(): SourceStatus {
    return structuredClone(this.status);
  }

  /**
   * Fetches now (a webhook, a trigger file, the poll). One attempt runs at a
   * time; calls during one share a single further attempt, which starts when
   * the running one ends. Never rejects: every failure is in the outcome and
   * in status.
   */
  fetchNow(reason: string): Promise<SyncOutcome> {
    if (this.queued) return this.queued.promise;
    if (this.running) {
      this.queued = deferred(reason);
      return this.queued.promise;
    }
    const d = deferred(reason);
    this.running = d;
    void this.drain(d);
    return d.promise;
  }

  private async drain(first: Deferred): Promise<void> {
    let d: Deferred | null = first;
    while (d) {
      this.running = d;
      d.resolve(await this.attempt(d.reason));
      d = this.queued;
      this.queued = null;
    }
    this.running = null;
  }

  /** Fetches now, then every intervalMs ± 10 %. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const next = () => {
      if (this.stopped) return;
      const jitter = 1 + (Math.random() * 0.2 - 0.1);
      this.timer = setTimeout(() => void this.fetchNow('poll').then(next), Math.round(this.cfg.intervalMs * jitter));
    };
    void this.fetchNow('start').then(next);
  }

  /** Stops polling and waits for a running attempt to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running) await this.running.promise;
  }

  /** The environment of this source's git runs, with its credentials prepared. */
  private async gitEnv(): Promise<GitEnv> {
    let transport;
    try {
      transport = transportOf(this.cfg.url);
    } catch (err) {
      throw new SyncStepError('fetch-failed', (err as Error).message);
    }
    const safe = [this.paths.repo];
    if (transport === 'file') safe.push(this.cfg.url.startsWith('file://') ? decodeURIComponent(new URL(this.cfg.url).pathname) : this.cfg.url);
    const creds = await prepareCredentials(this.cfg, this.layout, transport, this.home, { sshProgram: this.deps.sshProgram });
    return { home: this.home, safeDirectories: safe, transport, env: creds.env, secrets: creds.secrets, submodules: this.cfg.submodules };
  }

  /**
   * Reads what a previous process left — the `current` link and the status
   * file — without fetching, and returns what serves: a restarted controller
   * calls this and serves the last good commit at once, even with the remote
   * down. Attempts call it too; it reads the disk once.
   */
  async restore(): Promise<SourceRoot | null> {
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = null;
      throw err;
    });
    await this.loading;
    return this.serving();
  }

  private async load(): Promise<void> {
    await mkdir(this.paths.root, { recursive: true, mode: 0o755 });
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    await mkdir(this.paths.checkouts, { recursive: true, mode: 0o755 });
    const commit = await this.readCurrent();
    let old: SourceStatus | null = null;
    try {
      old = JSON.parse(await readFile(this.paths.status, 'utf8')) as SourceStatus;
    } catch {
      /* first start, or a status file that cannot be read: rebuilt below */
    }
    let serving: SourceStatus['serving'] = null;
    if (commit) {
      if (old?.serving?.commit === commit) serving = old.serving;
      else {
        let info: CommitInfo = { commit, author: '', date: '', subject: '' };
        try {
          info = await commitInfo(await this.gitEnv(), this.paths.repo, commit);
        } catch {
          /* the repository is gone: the checkout still serves */
        }
        serving = { ...info, since: this.now().toISOString() };
      }
    }
    this.status = {
      ...this.configFields(),
      serving,
      lastFetch: old?.lastFetch ?? null,
      lastError: old?.lastError ?? null,
    };
    // After a restart the checkout served before is not known: the newest other complete checkout stands in.
    if (commit) {
      let best: { name: string; mtime: number } | null = null;
      for (const name of await readdir(this.paths.checkouts)) {
        if (name === commit || !COMMIT_DIR.test(name)) continue;
        const st = await stat(join(this.paths.checkouts, name)).catch(() => null);
        if (st && (!best || st.mtimeMs > best.mtime)) best = { name, mtime: st.mtimeMs };
      }
      this.previous = best?.name ?? null;
    }
  }

  private configFields(): Pick<SourceStatus, 'name' | 'url' | 'ref' | 'path' | 'intervalMs'> {
    return { name: this.cfg.name, url: displayUrl(this.cfg.url), ref: this.cfg.ref, path: this.cfg.path, intervalMs: this.cfg.intervalMs };
  }

  /** The commit `current` points at, or null. */
  private async readCurrent(): Promise<string | null> {
    let target: string;
    try {
      target = await readlink(this.paths.current);
    } catch {
      return null;
    }
    const m = /^checkouts\/([0-9a-f]+)$/.exec(target);
    if (!m || !COMMIT_DIR.test(m[1]!) || !(await exists(join(this.paths.checkouts, m[1]!)))) return null;
    return m[1]!;
  }

  /** One attempt, start to status write. */
  private async attempt(reason: string): Promise<SyncOutcome> {
    const at = this.now().toISOString();
    let outcome: SyncOutcome;
    try {
      await this.restore();
      outcome = await this.steps(at);
    } catch (err) {
      // Whatever was not foreseen still changes nothing and is reported.
      const message = err instanceof Error ? err.message : String(err);
      outcome = { result: 'failed', serving: this.status?.serving?.commit ?? null, error: { at, reason: err instanceof SyncStepError ? err.reason : 'fetch-failed', message: printable(redact(message), 2000) } };
    }
    if (!this.status) {
      this.status = { ...this.configFields(), serving: null, lastFetch: null, lastError: null };
    }
    const before = this.status.lastError;
    this.status.lastError = outcome.error;
    // A fetch that found no tip still happened; one that found a tip recorded it in steps().
    if (this.status.lastFetch?.at !== at) this.status.lastFetch = { at };
    try {
      await writeFileAtomic(this.paths.status, `${JSON.stringify(this.status, null, 2)}\n`, 0o644);
    } catch (err) {
      this.deps.log.warn({ source: this.cfg.name, err: (err as Error).message }, 'cannot write the source status');
    }
    const e = outcome.error;
    if (e && (e.reason !== before?.reason || e.message !== before?.message || e.commit?.commit !== before?.commit?.commit)) {
      // Transitions only: a remote that stays down is one line, not one per poll.
      this.deps.log.warn({ source: this.cfg.name, trigger: reason, reason: e.reason, commit: e.commit?.commit, problems: e.problems?.length }, `git source ${this.cfg.name}: ${e.message}`);
    } else if (!e && before) {
      this.deps.log.info({ source: this.cfg.name, commit: outcome.serving }, `git source ${this.cfg.name}: recovered`);
    } else {
      this.deps.log.debug({ source: this.cfg.name, trigger: reason, result: outcome.result, tip: outcome.tip }, 'git source fetched');
    }
    return outcome;
  }

  /** The ordered sub-steps; each failure is a SyncStepError whose reason lands in lastError. */
  private async steps(at: string): Promise<SyncOutcome> {
    const serving = this.status.serving?.commit ?? null;
    const fail = (reason: string, message: string, tip?: string, commit?: CommitInfo, problems?: Problem[]): SyncOutcome => ({
      result: reason === 'fetch-failed' || reason === 'ref-missing' || reason === 'checkout-failed' ? 'failed' : 'refused',
      serving,
      ...(tip ? { tip } : {}),
      error: { at, reason, message, ...(commit ? { commit } : {}), ...(problems ? { problems } : {}) },
    });

    let g: GitEnv;
    try {
      g = await this.gitEnv();
    } catch (err) {
      if (err instanceof CredentialError || err instanceof SyncStepError) return fail('fetch-failed', (err as Error).message);
      throw err;
    }
    const repo = this.paths.repo;
    const fetchLimits = { timeoutMs: this.deps.fetchTimeoutMs ?? 120_000, maxFileBytes: this.deps.maxFetchBytes ?? 512 << 20 };
    let tip: string;
    try {
      await initRepo(g, repo);
      tip = await fetchTip(g, repo, this.cfg.url, this.cfg.ref, 1, fetchLimits);
    } catch (err) {
      if (err instanceof SyncStepError) return fail(err.reason, err.message);
      if (err instanceof GitError) return fail('fetch-failed', err.message);
      throw err;
    }
    this.status.lastFetch = { at, tip };
    if (tip === serving) return { result: 'unchanged', serving, tip, error: null };

    if (serving && !this.cfg.allowForcePush) {
      const d = await descendsFrom(g, repo, this.cfg.url, this.cfg.ref, serving, tip, this.deps.maxDepth ?? 4096, fetchLimits).catch((err: unknown) => {
        if (err instanceof SyncStepError) return err;
        throw err;
      });
      if (d instanceof SyncStepError) return fail(d.reason, d.message, tip);
      tip = d.tip;
      this.status.lastFetch = { at, tip };
      if (tip === serving) return { result: 'unchanged', serving, tip, error: null };
      if (d.descends !== true) {
        const info = await commitInfo(g, repo, tip);
        const why =
          d.descends === false
            ? `the new tip ${tip.slice(0, 12)} does not descend from the serving commit ${serving.slice(0, 12)} (a force-push or a rewritten history)`
            : `the serving commit ${serving.slice(0, 12)} is not among the ${d.depth} commits before the new tip ${tip.slice(0, 12)}, so it cannot be shown to descend from it`;
        return fail('force-push', `${why}: the serving commit stays; set allowForcePush to follow rewritten history`, tip, info);
      }
    }

    const info = await commitInfo(g, repo, tip);
    try {
      await checkTree(g, repo, tip, this.cfg.path, this.limits);
    } catch (err) {
      if (err instanceof SyncStepError) return fail(err.reason, err.message, tip, info);
      throw err;
    }

    const dir = join(this.paths.checkouts, tip);
    if (!(await exists(dir))) {
      const tmp = `${dir}.tmp`;
      try {
        await this.removeCheckout(`${tip}.tmp`);
        await mkdir(tmp, { mode: 0o755 });
        await checkoutTree(g, repo, tip, this.cfg.path, tmp, join(this.paths.root, 'index.tmp'));
        await chmodTree(tmp, 0o555, 0o444);
        await rename(tmp, dir);
      } catch (err) {
        await this.removeCheckout(`${tip}.tmp`);
        return fail('checkout-failed', `cannot check out ${tip.slice(0, 12)}: ${(err as Error).message}`, tip, info);
      }
    }

    const candidate: SourceRoot = { name: this.cfg.name, dir: join(dir, this.cfg.path), commit: tip, path: this.cfg.path };
    let problems: Problem[];
    try {
      problems = await this.deps.validate(candidate);
    } catch (err) {
      problems = [{ file: candidate.dir, line: 1, col: 1, pointer: '', message: `validation failed: ${(err as Error).message}` }];
    }
    if (problems.length > 0) {
      await this.prune().catch((err: unknown) => this.deps.log.warn({ source: this.cfg.name, err: (err as Error).message }, 'cannot remove old checkouts'));
      const shown = problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => ({ ...p, file: this.repoRelative(p.file, dir) }));
      const more = problems.length > shown.length ? ` (the first ${shown.length} of ${problems.length} are listed)` : '';
      const first = shown[0]!;
      return fail(
        'invalid',
        `commit ${tip.slice(0, 12)} by ${info.author} ("${info.subject}") does not validate: ${problems.length} problem${problems.length === 1 ? '' : 's'}${more}, first ${first.file}:${first.line}:${first.col} ${first.message}`,
        tip,
        info,
        shown,
      );
    }

    try {
      await this.flip(tip);
    } catch (err) {
      return fail('checkout-failed', `cannot switch to ${tip.slice(0, 12)}: ${(err as Error).message}`, tip, info);
    }
    if (serving && serving !== tip) this.previous = serving;
    this.status.serving = { ...info, since: this.now().toISOString() };
    // From here on the new commit serves: housekeeping and the callback can fail without turning that into a failure.
    await this.prune().catch((err: unknown) => this.deps.log.warn({ source: this.cfg.name, err: (err as Error).message }, 'cannot remove old checkouts'));
    await runGit(g, ['-c', 'gc.auto=6700', '-c', 'gc.autoDetach=false', 'gc', '--auto', '--quiet'], { gitDir: repo, timeoutMs: 300_000 }).catch((err: unknown) => {
      this.deps.log.warn({ source: this.cfg.name, err: (err as Error).message }, 'git gc failed');
    });
    this.deps.log.info({ source: this.cfg.name, commit: tip, author: info.author, subject: info.subject }, `git source ${this.cfg.name}: serving ${tip.slice(0, 12)}`);
    try {
      this.deps.onServe?.(this.cfg.name, tip);
    } catch (err) {
      this.deps.log.warn({ source: this.cfg.name, err: (err as Error).message }, 'the serve callback failed');
    }
    return { result: 'served', serving: tip, tip, error: null };
  }

  /** A problem's file as the repository names it (`<path>/…`); problems about local documents keep their path. */
  private repoRelative(file: string, checkout: string): string {
    return file.startsWith(`${checkout}/`) ? file.slice(checkout.length + 1) : file;
  }

  /** Points `current` at `checkouts/<commit>` in one rename(2): readers see the old tree or the new one, never neither. */
  private async flip(commit: string): Promise<void> {
    const tmp = join(this.paths.root, `.current.${randomBytes(6).toString('hex')}`);
    await symlink(`checkouts/${commit}`, tmp);
    try {
      await rename(tmp, this.paths.current);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  /** Removes every checkout but the serving one and the one before it (rejected candidates, leftovers of a crash). */
  private async prune(): Promise<void> {
    const keep = new Set([this.status.serving?.commit, this.previous].filter((c): c is string => !!c));
    for (const name of await readdir(this.paths.checkouts)) {
      if (!keep.has(name)) await this.removeCheckout(name);
    }
  }

  private async removeCheckout(name: string): Promise<void> {
    const p = join(this.paths.checkouts, name);
    const st = await lstat(p).catch(() => null);
    if (!st) return;
    try {
      if (st.isDirectory()) await chmodTree(p, 0o755, 0o644);
    } catch {
      /* a half-written tree: removeTree reports what it cannot remove */
    }
    const { left } = await removeTree(p);
    if (left.length > 0) this.deps.log.warn({ source: this.cfg.name, left: left.slice(0, 5) }, `cannot remove the old checkout ${name}`);
  }
}
