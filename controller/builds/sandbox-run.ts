/**
 * One concern: running one transient build-sandbox unit to its end.
 *
 * Running one build sandbox (scripts, archives, steamcmd): the per-run
 * directory with the sandbox's root skeleton, the build account, handing a
 * tree to it and taking it back, following the run's log, and waiting for the
 * transient unit's final result.
 *
 * Per-run directory `<runDir>/<unit>/` (root, 0700, removed afterwards):
 *   root/        the empty skeleton systemd chroots into (RootDirectory=)
 *   resolv.conf  the sandbox's resolvers, bound over /etc/resolv.conf
 *   output.log   stdout and stderr, appended by systemd and followed here
 *   script.sh    (scripts) the script, opened by systemd as stdin
 * It lives in the data directory, not on /run: a run's output must not be
 * able to fill the tmpfs systemd itself depends on.
 */
import { networkInterfaces } from 'node:os';
import { chmod, lstat, mkdir, open, opendir, readFile, readlink, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnsafePathError } from '../fs/beneath.js';
import { walkBeneath } from '../fs/walk.js';
import { SystemdError, UnitJobError, type SystemdAdapter, type UnitProperty } from '../systemd/adapter.js';
import { onHostPath, type HostLayout } from '../host/layout.js';
import { DEFAULT_SANDBOX_LIMITS, PUBLIC_RESOLVERS, SANDBOX_ETC, sandboxResolvConf, type SandboxBaseOptions, type SandboxLimits } from './sandbox.js';
import { BuildStepError, type BuildContext } from './source.js';

/** Lines of output kept for error messages. */
export const TAIL_LINES = 20;

/** Where and how sandboxed runs happen; every field has a production default. */
export interface SandboxRunSettings {
  /** Maps host paths to this process's view (`/` in production, `/proc/PID/root` for a private test host). Default for scripts: inferred from ctx.dir and ctx.hostDir. */
  fsRoot?: string;
  /** Host layout: which trees a sandbox may never see, the build user, the data dir. */
  layout?: HostLayout;
  /** Host directory of the per-run directories; default `<data dir>/build-runs`. */
  runDir?: string;
  /** Resolvers of the sandbox's resolv.conf. */
  resolvers?: readonly string[];
  limits?: Partial<SandboxLimits>;
  /** Extra host paths bound read-only into the sandbox (`-` prefix: optional); the layout's trees are refused. */
  extraReadOnlyPaths?: readonly string[];
}

/** What runSandboxedUnit needs. */
export interface SandboxRunRequest {
  systemd: SystemdAdapter;
  unit: string;
  properties: readonly UnitProperty[];
  /** The run's log file as this process reaches it (systemd appends to it). */
  logFile: string;
  /** Called with every complete output line, in order, while the unit runs. */
  onLine(line: string): void;
  signal: AbortSignal;
  /** The unit's TimeoutStopSec=: how long stopping may take before systemd kills. */
  stopTimeoutSec: number;
}

/** How a sandboxed run ended. */
export interface SandboxRunResult {
  /** systemd's Result: `success`, `exit-code`, `timeout`, `oom-kill`, `signal`, `core-dump`, `resources`, … */
  result: string;
  /** The last TAIL_LINES output lines. */
  tail: string[];
}

/**
 * Starts a transient oneshot unit, follows its log, and returns once the
 * unit has settled (no process left) with its Result. Afterwards the unit is
 * gone: systemd collects a successful transient unit itself, a failed one is
 * reset here. Throws BuildStepError when the run was cancelled through
 * `signal` or systemd refused the unit.
 */
export async function runSandboxedUnit(req: SandboxRunRequest): Promise<SandboxRunResult> {
  const { systemd, unit } = req;
  const follower = new LogFollower(req.logFile, req.onLine);
  follower.start();
  let changed: () => void = () => undefined;
  const unsubscribe = systemd.onUnitChanged((name) => {
    if (name === unit) changed();
  });
  const cancel = () => void systemd.stop(unit).catch(() => undefined);
  req.signal.addEventListener('abort', cancel, { once: true });
  try {
    if (req.signal.aborted) throw new BuildStepError(`${unit} was cancelled before it started`);
    let jobResult: string | undefined;
    let unitResult: string | undefined;
    try {
      await systemd.startTransient(unit, req.properties);
      jobResult = 'done';
    } catch (err) {
      if (err instanceof UnitJobError) {
        jobResult = err.result;
        unitResult = err.unitResult;
      } else if (!(err instanceof SystemdError && err.code === 'disconnected')) {
        throw new BuildStepError(`systemd refused to start the build sandbox ${unit}: ${(err as Error).message}; check the controller's sandbox settings`);
      }
      // Disconnected: the unit may well be running; its state below tells.
    }
    const settled = await waitUntilSettled(systemd, unit, req.stopTimeoutSec, (wake) => (changed = wake));
    await follower.stop();
    if (settled.loaded && settled.failed) await systemd.resetFailed(unit).catch(() => undefined);
    if (req.signal.aborted) throw new BuildStepError(`${unit} was cancelled (the build was cancelled or timed out)`);
    const result = settled.result ?? unitResult ?? (jobResult === 'done' ? 'success' : jobResult ?? 'unknown');
    return { result, tail: follower.tail() };
  } finally {
    req.signal.removeEventListener('abort', cancel);
    unsubscribe();
    await follower.stop();
  }
}

interface Settled {
  loaded: boolean;
  failed: boolean;
  result?: string;
}

// A oneshot's start job ends when its main process exits, possibly before
// leftover processes are gone (the unit is then `deactivating`). Only an
// inactive, failed or collected unit has none left, and only then may its
// build dir be taken back.
async function waitUntilSettled(systemd: SystemdAdapter, unit: string, stopTimeoutSec: number, onWake: (wake: () => void) => void): Promise<Settled> {
  // Monotonic: a wall clock stepped forward must not SIGKILL a sandbox that is still within its stop timeout.
  const deadline = performance.now() + (stopTimeoutSec + 30) * 1000;
  let killed = false;
  for (;;) {
    let state;
    try {
      state = await systemd.getUnit(unit);
    } catch {
      state = undefined; // the bus is reconnecting; ask again
    }
    if (state) {
      if (state.loadState === 'not-found') return { loaded: false, failed: false };
      if ((state.activeState === 'inactive' || state.activeState === 'failed') && !state.job) {
        return { loaded: true, failed: state.activeState === 'failed', result: state.result || undefined };
      }
    }
    if (performance.now() > deadline && !killed) {
      killed = true;
      await systemd.killUnit(unit, 'SIGKILL').catch(() => undefined);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      onWake(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export const EXIT_MARKER = /^left4me: script exited with status (\d+)$/;

export function lastExitStatus(lines: readonly string[]): number | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = EXIT_MARKER.exec(lines[i] ?? '');
    if (m) return Number(m[1]);
  }
  return undefined;
}

export function describeEnding(result: string, status: number | undefined, timeoutMs: number, limits: Partial<SandboxLimits> | undefined): string {
  const memory = (limits?.memoryMax ?? DEFAULT_SANDBOX_LIMITS.memoryMax) / 1024n ** 2n;
  switch (result) {
    case 'exit-code':
      if (status === 137) return `was killed with SIGKILL (exit status 137, result exit-code), most likely for using more than its ${memory} MiB memory limit`;
      return status === undefined ? 'failed (result exit-code)' : `exited with status ${status} (result exit-code)`;
    case 'timeout':
      return `was killed after its timeout of ${Math.round(timeoutMs / 1000)} s (result timeout)`;
    case 'oom-kill':
      return `was killed for using more than its ${memory} MiB memory limit (result oom-kill)`;
    case 'signal':
    case 'core-dump':
      return `was killed by a signal (result ${result})`;
    default:
      return `could not run (result ${result}); see the controller's journal for the unit`;
  }
}

export function stopTimeout(opts: SandboxRunSettings): number {
  return opts.limits?.stopTimeoutSec ?? DEFAULT_SANDBOX_LIMITS.stopTimeoutSec;
}

/**
 * Follows a log file that another process appends to: forwards complete
 * lines (each cut at 4 KiB, at most 20,000 of them, then a note) and keeps
 * the last TAIL_LINES for error messages.
 */
class LogFollower {
  private readonly cursor: ReadCursor = { offset: 0, partial: '' };
  private forwarded = 0;
  private readonly last: string[] = [];
  private timer?: NodeJS.Timeout;
  private reading: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), 250);
  }

  tail(): string[] {
    return [...this.last];
  }

  async stop(): Promise<void> {
    if (this.stopped) return this.reading;
    this.stopped = true;
    clearInterval(this.timer);
    await this.reading;
    await this.read();
    if (this.cursor.partial !== '') this.emit(this.cursor.partial);
    this.cursor.partial = '';
  }

  private poll(): void {
    this.reading = this.reading.then(() => this.read());
  }

  private async read(): Promise<void> {
    // A line longer than MAX_LINE is forwarded cut, and reading goes on.
    await readAppended(this.path, this.cursor, (line) => this.emit(line), MAX_LINE, (long) => {
      this.emit(long);
      return true;
    });
  }

  private emit(raw: string): void {
    const line = raw.length > MAX_LINE ? `${raw.slice(0, MAX_LINE)}… (line cut)` : raw;
    this.last.push(line);
    if (this.last.length > TAIL_LINES) this.last.shift();
    this.forwarded++;
    if (this.forwarded <= MAX_LINES) this.onLine(line);
    else if (this.forwarded === MAX_LINES + 1) this.onLine(`(output after ${MAX_LINES} lines is not copied into the build log)`);
  }
}

const MAX_LINE = 4096;
const MAX_LINES = 20_000;

/** How far a follower has read a growing file: the byte offset and the unfinished last line. */
export interface ReadCursor {
  offset: number;
  partial: string;
}

/**
 * Reads what was appended to `path` since the cursor, one complete line at a
 * time. An unfinished line longer than `maxLine` goes to `onLong` (and is
 * dropped), which says whether to read on. A file not there yet is nothing to
 * read. Shared by the build-log follower and the archive-listing reader.
 */
export async function readAppended(path: string, cursor: ReadCursor, onLine: (line: string) => void, maxLine: number, onLong: (partial: string) => boolean): Promise<void> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, cursor.offset);
      if (bytesRead === 0) return;
      cursor.offset += bytesRead;
      const lines = (cursor.partial + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
      cursor.partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
      if (cursor.partial.length > maxLine) {
        const goOn = onLong(cursor.partial);
        cursor.partial = '';
        if (!goOn) return;
      }
    }
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------
// The per-run directory and the sandbox root.

/** A per-run directory, in both views. */
export interface RunDir {
  localDir: string;
  hostDir: string;
  rootHostDir: string;
  resolvConfHostDir: string;
  logHostPath: string;
  logLocalPath: string;
  /** Host paths to bind read-only: /usr, the /etc allowlist, and top-level dirs such as /lib that are not symlinks into /usr. */
  readOnlyPaths: string[];
}

/** Creates `<runDir>/<unit>/` (root, 0700) with the skeleton root, resolv.conf and an empty log. */
/** The fields of a sandbox's unit that come from its run directory and settings: root, resolver, log, account, binds, limits. */
export function sandboxEnvironment(run: RunDir, layout: HostLayout, settings: SandboxRunSettings): Omit<SandboxBaseOptions, 'description' | 'timeoutSec'> {
  return {
    rootDir: run.rootHostDir,
    resolvConf: run.resolvConfHostDir,
    logFile: run.logHostPath,
    user: layout.buildUser,
    group: layout.buildGroup,
    layout,
    readOnlyPaths: [...run.readOnlyPaths, ...(settings.extraReadOnlyPaths ?? [])],
    hostAddresses: hostAddresses(),
    ...(settings.limits ? { limits: settings.limits } : {}),
  };
}

/** Makes a sandbox's run directory (and its empty root skeleton) below `settings.runDir` or the layout's build-runs directory. */
export async function createRunDir(fsRoot: string, layout: HostLayout, settings: SandboxRunSettings, unit: string): Promise<RunDir> {
  const runRoot = settings.runDir ?? layout.buildRunsDir;
  const hostDir = `${runRoot}/${unit}`;
  const localDir = onHostPath(fsRoot, hostDir);
  await mkdir(onHostPath(fsRoot, runRoot), { recursive: true, mode: 0o700 });
  await chmod(onHostPath(fsRoot, runRoot), 0o700);
  await mkdir(localDir, { mode: 0o700 });
  const root = join(localDir, 'root');
  await mkdir(root, { mode: 0o755 });
  const readOnlyPaths = ['/usr'];
  for (const d of ['usr', 'etc', 'tmp', 'var', 'var/tmp', 'dev', 'proc', 'sys', 'run', 'run/left4me', 'overlay', 'installation', 'steam']) {
    await mkdir(join(root, d), { mode: 0o755 });
  }
  // Top-level dirs such as /bin are symlinks into /usr on merged-/usr systems
  // and real dirs elsewhere; mirror whichever this host has.
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const st = await lstat(onHostPath(fsRoot, `/${name}`)).catch(() => null);
    if (!st) continue;
    if (st.isSymbolicLink()) await symlink(await readlink(onHostPath(fsRoot, `/${name}`)), join(root, name));
    else if (st.isDirectory()) {
      await mkdir(join(root, name), { mode: 0o755 });
      readOnlyPaths.push(`/${name}`);
    }
  }
  readOnlyPaths.push(...SANDBOX_ETC.map((p) => `-${p}`));
  await writeFile(join(localDir, 'resolv.conf'), sandboxResolvConf(settings.resolvers ?? PUBLIC_RESOLVERS), { mode: 0o644 });
  await chmod(join(localDir, 'resolv.conf'), 0o644);
  await writeFile(join(localDir, 'output.log'), '', { mode: 0o600 });
  return {
    localDir,
    hostDir,
    rootHostDir: `${hostDir}/root`,
    resolvConfHostDir: `${hostDir}/resolv.conf`,
    logHostPath: `${hostDir}/output.log`,
    logLocalPath: join(localDir, 'output.log'),
    readOnlyPaths,
  };
}

/**
 * Removes a per-run directory without ever following into content that is
 * not ours: files are unlinked only when empty (the stubs systemd creates as
 * bind targets) or when they are the run's own files, and directories are
 * removed with rmdir, which refuses a mount point or anything non-empty.
 */
export async function removeRunDir(localDir: string): Promise<void> {
  for (const own of ['script.sh', 'resolv.conf', 'output.log', 'steam-login']) await unlink(join(localDir, own)).catch(() => undefined);
  await removeEmptyTree(join(localDir, 'root'));
  await rmdir(localDir).catch(() => undefined);
}

async function removeEmptyTree(dir: string): Promise<void> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch {
    return;
  }
  for await (const e of handle) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await removeEmptyTree(p);
    else if (e.isSymbolicLink()) await unlink(p).catch(() => undefined);
    else if ((await lstat(p)).size === 0) await unlink(p).catch(() => undefined);
  }
  await rmdir(dir).catch(() => undefined);
}

// ---------------------------------------------------------------------------
// Ownership of the trees a run writes.

/**
 * Gives a tree to the build user so a run can change what earlier steps
 * wrote: directories, symlinks and singly-linked files. Files with more
 * than one link stay root-owned and read-only: they share their inode with
 * the download cache (workshop items are hard-linked), which a run must
 * never modify; it may still replace them, since it owns their directory.
 * Never follows a link (walkBeneath: every entry acted on is the one opened).
 */
export async function handTreeTo(dir: string, uid: number, gid: number): Promise<void> {
  await walkBeneath(dir, async (e) => {
    if (e.st.isSymbolicLink() || e.st.isDirectory() || (e.st.isFile() && e.st.nlink === 1)) await e.chown(uid, gid);
  });
}

/**
 * Takes a tree back after a run, once no process of it is left: everything
 * root-owned, directories 0755, files 0644 or 0755 (any execute bit), no
 * set-id or sticky bits; fifos, sockets and device nodes are removed (logged).
 * Never follows a link, even one swapped in while it walks. Root-owned files
 * with several links (cache inodes) are left as they are. Directories nested
 * deeper than MAX_WALK_DEPTH are refused (BuildStepError).
 */
export async function reclaimTree(dir: string, log: (line: string) => void): Promise<void> {
  try {
    await walkBeneath(dir, async (e) => {
      const st = e.st;
      if (st.isSymbolicLink()) await e.chown(0, 0);
      else if (st.isDirectory()) {
        await e.chown(0, 0);
        // Before it is listed: a directory the run made unreadable is readable by now.
        await e.chmod(0o755);
      } else if (st.isFile()) {
        if (st.nlink > 1 && st.uid === 0) return;
        await e.chown(0, 0);
        await e.chmod(st.mode & 0o111 ? 0o755 : 0o644);
      } else {
        log(`removed ${e.rel}: not a file, directory or symlink`);
        await e.remove();
      }
    }, { by: 'the run' });
  } catch (err) {
    if (err instanceof UnsafePathError) throw new BuildStepError(`the run left a tree that cannot be taken back: ${err.message}`, { cause: err });
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Host facts.

/** A system account's ids, read from the host's /etc/passwd and /etc/group. */
export interface Account {
  uid: number;
  gid: number;
}

/** Reads `<fsRoot>/etc/passwd` and `/etc/group`; the build user's ids (the host's files, since a test host's /etc differs from this process's). */
export async function lookupAccount(fsRoot: string, user: string, group: string): Promise<Account> {
  const find = async (file: string, name: string): Promise<number> => {
    const text = await readFile(onHostPath(fsRoot, file), 'utf8').catch(() => '');
    const row = text.split('\n').find((l) => l.split(':')[0] === name);
    const id = row?.split(':')[2];
    if (id === undefined || !/^\d+$/.test(id)) throw new BuildStepError(`the build user ${name} is missing from ${file}; create the system account (see the install instructions) and retry`);
    return Number(id);
  };
  return { uid: await find('/etc/passwd', user), gid: await find('/etc/group', group) };
}

/** Reads the network interfaces; this host's own addresses (a local service bound to 0.0.0.0 answers on them, so a sandbox must not reach them). */
export function hostAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.replace(/%.*$/, ''));
  }
  return [...out].sort();
}

/** This process's view of the host's `/`, from a build context's two views of its build dir. */
export function inferFsRoot(ctx: Pick<BuildContext, 'overlay' | 'dir' | 'hostDir'>): string {
  if (ctx.dir === ctx.hostDir) return '/';
  if (ctx.dir.endsWith(ctx.hostDir)) return ctx.dir.slice(0, -ctx.hostDir.length) || '/';
  throw new BuildStepError(`overlay ${ctx.overlay}: the build dir ${ctx.dir} is not ${ctx.hostDir} seen through a root prefix; pass fsRoot to buildScript`);
}
