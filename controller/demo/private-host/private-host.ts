// One concern: booting, driving and tearing down one private systemd host.
//
// A private test host: a real systemd as PID 1 of its own PID, mount, UTS and
// cgroup namespaces, with a real system D-Bus, reachable from the test
// process through /proc/PID/root. See shared SYSTEMD-SANDBOX.md for the recipe
// and host-setup.ts for where this harness goes beyond it to keep the machine
// untouched.
//
// Lifetimes: every host is killed by PID (never by name) in stop(), in a
// synchronous process 'exit' handler, and — if the test process is killed
// outright — by the kernel: the namespace's init carries a parent-death
// signal through unshare --kill-child, and unshare carries one from setpriv.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import dbus from 'dbus-next';
import { createHostCgroups, existingCgroups, readCgroupHierarchies, readCgroupLinks, removeCgroupTrees, unescapeMountinfo } from './host-cgroups.js';
import { childrenOf, exists, isAlive, machinePidOf, pidNamespaceOf, pidsInNamespace, readStat, type ProcessIdentity } from './host-procs.js';
import { HOST_TARGET, ROOT_LAYERS, setupScript, type HostBind, type ThrowawayRootPlan } from './host-setup.js';
import { accountFiles, planServiceAccount, type ServiceAccount } from './host-users.js';

export type { HostBind } from './host-setup.js';
export type { ServiceAccount } from './host-users.js';

/** Options for bootPrivateHost. */
export interface BootOptions {
  /** Extra bind mounts, applied after the default ones (e.g. the demo installation tree). */
  binds?: HostBind[];
  /** How long boot may take before it is abandoned (ms). */
  timeoutMs?: number;
  /**
   * The host's disks: a machine directory holding the /etc and /var overlay
   * layers and the /etc/left4me and /var/lib/left4me bind sources. Created on
   * first boot, reused by the next boot on the same directory (a reboot),
   * never removed by stop(): the caller removes it. Without it they live in
   * the temp dir and die with the host.
   */
  disks?: string;
}

/** A host whose whole / is a throwaway overlay, for installer tests: no left4me account, directory or unit until something installs them. */
export type ThrowawayRoot = Omit<PrivateHost, 'account' | 'buildAccount'> & {
  /** Each overlaid disk mount (`/` first) → its upper layer as this process reaches it: everything the host wrote there. */
  upperLayers: Map<string, string>;
};

/** What boot() makes: a PrivateHost, whose accounts a throwaway root lacks. */
type BootedHost = Omit<PrivateHost, 'account' | 'buildAccount'> & Partial<Pick<PrivateHost, 'account' | 'buildAccount'>>;

/** Options for bootThrowawayRoot. */
export interface ThrowawayRootOptions {
  timeoutMs?: number;
  /** The most the host may write outside its data directory (tmpfs size=); default 4g. */
  size?: string;
}

/** Options for PrivateHost.exec. */
export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  input?: string;
  /** Added to a scrubbed copy of the test process's environment. */
  env?: Record<string, string>;
  /** Working directory inside the host. */
  cwd?: string;
  /** Kill the command after this long (ms); default 30 s. */
  timeoutMs?: number;
}

/** Result of PrivateHost.exec. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Machine-side paths of a host's private directories. */
export interface HostDirs {
  /** The temp dir (boot log, /dev staging, owner record); removed by stop(). */
  base: string;
  /** Where the overlay layers and bind sources live: BootOptions.disks, else base. */
  disks: string;
  /** Bound at /etc/left4me inside the host. */
  etc: string;
  /** Bound at /var/lib/left4me inside the host. */
  varLib: string;
  /** /run/systemd/system inside the host (a tmpfs): write unit files here, then reload. */
  units: string;
  /** The host's boot log (setup script and early systemd output). */
  bootLog: string;
}

/** What findHostLeaks needs to know about a host; stays valid after stop(). */
export interface HostIdentity {
  /** `pid:[inode]` of the host's pid namespace. */
  pidNamespace: string;
  base: string;
  /** BootOptions.disks when given: no mount may still name it after stop(). */
  disks?: string;
  cgroups: string[];
  /** Mount points inside the host that must never show up in the machine's mount table. */
  mountTargets: string[];
  /** Mount ids at those targets in the machine's table when the host booted. */
  mountIdsAtBoot: string[];
}

/** A booted private host. It owns its namespace, its temp dir and its cgroups until stop(). */
export interface PrivateHost {
  /** The namespace's systemd, as seen from the machine. */
  pid: number;
  /** unix:path=/proc/PID/root/run/dbus/system_bus_socket */
  busAddress: string;
  /** /proc/PID/root — the host's files. */
  root: string;
  dirs: HostDirs;
  /** The left4me system account that exists inside the host (game servers). */
  account: ServiceAccount;
  /** The left4me-build account that build sandboxes run as. */
  buildAccount: ServiceAccount;
  identity: HostIdentity;
  /** Boot time from spawn until systemd answered on the bus (ms). */
  bootMs: number;
  /** Runs a command inside the host (nsenter --mount --pid --uts). */
  exec(cmd: string, args?: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Maps a pid inside the host (e.g. a unit's MainPID) to the machine's pid, or null. */
  machinePid(nsPid: number): number | null;
  /** Kills the namespace by PID, waits for it to vanish, removes cgroups and temp dir. Idempotent; rejects if anything is left. */
  stop(): Promise<void>;
}

/** Leftovers of a stopped host; all empty when teardown was clean. */
export interface HostLeaks {
  processes: number[];
  mounts: string[];
  cgroups: string[];
  dirs: string[];
}

interface LiveHost {
  init: ProcessIdentity;
  unshare: ChildProcess;
  base: string;
  cgroups: string[];
}

const live = new Set<LiveHost>();
let exitHandlerInstalled = false;
let sequence = 0;
const BASE_PREFIX = 'left4me-host-';

/** Boots a private host: writes a temp dir under os.tmpdir() and cgroups under the test process's own; returns once systemd answers on its bus. */
export function bootPrivateHost(opts: BootOptions = {}): Promise<PrivateHost> {
  return boot(opts) as Promise<PrivateHost>;
}

/**
 * Boots a throwaway root: like bootPrivateHost, but every disk filesystem of
 * the machine, `/` first, is an overlay whose upper layer is a tmpfs that dies
 * with the host, and there are no accounts, binds or left4me directories —
 * an installer finds a fresh copy of the machine. /var/lib/left4me alone is a
 * directory of the machine's disk (dirs.varLib), bound in empty: game servers'
 * writable layers need a real filesystem there, since an overlay cannot be
 * another overlay's upper layer, as on a real host where it is the root disk.
 */
export async function bootThrowawayRoot(opts: ThrowawayRootOptions = {}): Promise<ThrowawayRoot> {
  const lowers = diskMounts();
  const host = await boot({ timeoutMs: opts.timeoutMs }, { size: opts.size ?? '4g', lowers });
  return { ...host, upperLayers: new Map(lowers.map((l, i) => [l, `${host.root}${ROOT_LAYERS}/upper${i}`])) };
}

async function boot(opts: BootOptions, throwaway?: ThrowawayRootPlan): Promise<BootedHost> {
  const started = performance.now();
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  installExitHandler();
  sweepStaleHosts();

  for (const b of opts.binds ?? []) checkBindTarget(b.target);
  const base = mkdtempSync(join(tmpdir(), `${BASE_PREFIX}${process.pid}-`));
  const hierarchies = readCgroupHierarchies();
  const cgroupName = `left4me-test-${process.pid}-${++sequence}`;
  // Recorded before anything is created, so a crash at any point leaves a sweepable record.
  writeOwner(base, { ownerPid: process.pid, cgroups: hierarchies.map((h) => join(h.mountPoint, h.ownPath, cgroupName)) });
  const disks = opts.disks === undefined ? base : resolve(opts.disks);
  const dirs = { base, disks, etc: join(disks, 'etc-left4me'), varLib: join(disks, 'var-lib-left4me'), bootLog: join(base, 'boot.log') };
  let cgroups: string[] = [];
  let entry: LiveHost | undefined;
  try {
    mkdirSync(join(base, 'dev'));
    if (throwaway) mkdirSync(join(base, 'root-layers'));
    else for (const d of ['etc.upper', 'etc.work', 'var.upper', 'var.work']) mkdirSync(join(disks, d), { recursive: true });
    for (const d of throwaway ? [dirs.varLib] : [dirs.etc, dirs.varLib]) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o755);
    }
    const accounts = throwaway ? undefined : writeAccounts(disks);

    cgroups = createHostCgroups(hierarchies, cgroupName);

    const binds: HostBind[] = throwaway
      ? [{ source: dirs.varLib, target: '/var/lib/left4me' }]
      : [{ source: dirs.etc, target: '/etc/left4me' }, { source: dirs.varLib, target: '/var/lib/left4me' }, ...(opts.binds ?? [])];
    const mountTargets = ['/etc', '/var', '/run', '/tmp', '/var/tmp', '/dev', '/sys/fs/cgroup', '/proc/sys', ...binds.map((b) => b.target)];
    const mountIdsAtBoot = machineMounts()
      .filter((m) => mountTargets.includes(m.mountPoint))
      .map((m) => m.id);
    const script = setupScript({ base, disks, cgroups: hierarchies, cgroupLinks: readCgroupLinks(), binds, target: HOST_TARGET, ...(throwaway ? { root: throwaway } : {}) });

    const log = openSync(dirs.bootLog, 'a');
    // The wrapper moves itself into the host's cgroups so that unshare's
    // cgroup namespace is rooted there, then becomes unshare.
    const wrapper = 'setup=$1; shift; for f; do echo $$ > "$f"; done; exec unshare --pid --fork --mount --mount-proc --uts --cgroup --kill-child=SIGKILL -- /bin/sh -c "$setup" left4me-host-setup';
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', wrapper, 'left4me-host', script, ...cgroups.map((c) => join(c, 'cgroup.procs'))], {
      stdio: ['ignore', log, log],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    closeSync(log);
    let exited: string | null = null;
    child.on('exit', (code, signal) => {
      exited = `unshare exited (${signal ?? code})`;
    });
    child.on('error', (err) => {
      exited = `spawn failed: ${err.message}`;
    });

    const init = await waitFor(deadline, () => {
      if (exited) throw bootError(exited, dirs.bootLog);
      if (child.pid === undefined) return null;
      const [pid] = childrenOf(child.pid);
      const st = pid === undefined ? null : readStat(pid);
      return pid === undefined || !st ? null : { pid, startTime: st.startTime };
    });
    entry = { init, unshare: child, base, cgroups };
    live.add(entry);
    writeOwner(base, { ownerPid: process.pid, cgroups, init });

    const root = `/proc/${init.pid}/root`;
    await waitFor(deadline, () => {
      if (exited) throw bootError(exited, dirs.bootLog);
      const comm = safeRead(`/proc/${init.pid}/comm`).trim();
      return comm === 'systemd' && existsSync(`${root}/run/systemd/private`) ? true : null;
    });
    const pidNamespace = pidNamespaceOf(init.pid);
    if (!pidNamespace) throw bootError('host vanished during boot', dirs.bootLog);

    // A throwaway root's /etc/left4me is whatever an installer makes of it, reached through the host.
    const hostDirs = { ...dirs, units: `${root}/run/systemd/system`, ...(throwaway ? { etc: `${root}/etc/left4me` } : {}) };
    const host = makeHost(entry, hostDirs, accounts, {
      pidNamespace,
      base,
      ...(opts.disks === undefined ? {} : { disks }),
      cgroups,
      mountTargets,
      mountIdsAtBoot,
    });
    const bus = await host.exec('systemctl', ['start', 'dbus.service', 'systemd-journald.service']);
    if (bus.code !== 0) throw bootError(`starting dbus failed: ${bus.stderr.trim()}`, dirs.bootLog);
    await waitForSystemdOnBus(host.busAddress, deadline);
    host.bootMs = Math.round(performance.now() - started);
    return host;
  } catch (err) {
    if (entry) {
      await teardown(entry).catch(() => undefined);
    } else {
      removeCgroupTrees(cgroups);
      rmSync(base, { recursive: true, force: true });
    }
    throw err;
  }
}

/** Writes the left4me accounts into the /etc overlay's upper layer on the host's disks (a plain private host's accounts exist from boot). */
function writeAccounts(disks: string): { account: ServiceAccount; buildAccount: ServiceAccount } {
  const account = planServiceAccount();
  const buildAccount = planServiceAccount('left4me-build', '/var/lib/left4me', [account]);
  const webAccount = planServiceAccount('left4me-web', '/var/lib/left4me-web', [account, buildAccount]);
  for (const f of accountFiles(account, buildAccount, webAccount)) {
    const path = join(disks, 'etc.upper', f.name);
    writeFileSync(path, f.content, { mode: f.mode });
    chownSync(path, f.uid, f.gid);
    chmodSync(path, f.mode);
  }
  return { account, buildAccount };
}

// Filesystems that hold no files of the machine's own: a throwaway root mounts its own or carries the kernel's over.
const VIRTUAL_FS = new Set(['proc', 'sysfs', 'tmpfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'mqueue', 'debugfs', 'tracefs', 'securityfs', 'pstore', 'bpf', 'fusectl', 'configfs', 'hugetlbfs', 'autofs', 'binfmt_misc', 'nsfs', 'efivarfs', 'ramfs', 'rpc_pipefs', 'selinuxfs']);
const NOT_THE_SYSTEM = ['/proc', '/sys', '/dev', '/run', '/tmp', '/var/tmp', '/mnt', '/media'];

/** The machine's disk filesystems a throwaway root overlays: `/` and the mounts holding parts of the system (a separate /usr, /var, /home…), parents first. */
export function diskMounts(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    const mountPoint = unescapeMountinfo(pre?.split(' ')[4] ?? '');
    const fsType = post?.split(' ')[0] ?? '';
    if (VIRTUAL_FS.has(fsType) || fsType.startsWith('fuse')) continue;
    if (mountPoint !== '/' && NOT_THE_SYSTEM.some((d) => mountPoint === d || mountPoint.startsWith(d + '/'))) continue;
    points.add(mountPoint);
  }
  if (!points.has('/')) throw new Error('the machine\'s / is not a disk filesystem: a throwaway root needs one to lay over');
  const depth = (p: string) => (p === '/' ? 0 : p.split('/').length);
  return [...points].sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
}

/** Boots a host, runs `fn` with it and always stops it, also when `fn` throws. */
export async function withPrivateHost<T>(fn: (host: PrivateHost) => Promise<T>, opts?: BootOptions): Promise<T> {
  const host = await bootPrivateHost(opts);
  try {
    return await fn(host);
  } finally {
    await host.stop();
  }
}

/** Reads /proc and the machine's mount table; returns what a host left behind (processes in its pid namespace, its mounts, cgroups, temp dir). */
export function findHostLeaks(id: HostIdentity): HostLeaks {
  const atBoot = new Set(id.mountIdsAtBoot);
  const mounts = machineMounts()
    .filter((m) => m.line.includes(id.base) || (id.disks !== undefined && m.line.includes(id.disks)) || (id.mountTargets.includes(m.mountPoint) && !atBoot.has(m.id)))
    .map((m) => m.line);
  return {
    processes: pidsInNamespace(id.pidNamespace),
    mounts,
    cgroups: existingCgroups(id.cgroups),
    dirs: existsSync(id.base) ? [id.base] : [],
  };
}

function hasLeaks(leaks: HostLeaks): boolean {
  return Object.values(leaks).some((v) => (v as unknown[]).length > 0);
}

/** Reads the live-host registry; returns the machine pids of hosts this process booted and has not stopped. */
export function liveHostPids(): number[] {
  return [...live].map((h) => h.init.pid);
}

function makeHost(entry: LiveHost, dirs: HostDirs, accounts: { account: ServiceAccount; buildAccount: ServiceAccount } | undefined, identity: HostIdentity): BootedHost {
  const pid = entry.init.pid;
  let stopping: Promise<void> | undefined;
  return {
    pid,
    busAddress: `unix:path=/proc/${pid}/root/run/dbus/system_bus_socket`,
    root: `/proc/${pid}/root`,
    dirs,
    ...accounts,
    identity,
    bootMs: 0,
    exec: (cmd, args = [], opts = {}) => execIn(entry, cmd, args, opts),
    machinePid: (nsPid) => machinePidOf(identity.pidNamespace, nsPid),
    stop() {
      stopping ??= teardown(entry).then(async () => {
        // When a pid namespace's init dies the kernel kills the rest, but they exit
        // asynchronously: give them a moment before calling anything a leak.
        const deadline = Date.now() + 5_000;
        let leaks = findHostLeaks(identity);
        while (hasLeaks(leaks) && Date.now() < deadline) {
          await sleep(20);
          leaks = findHostLeaks(identity);
        }
        if (hasLeaks(leaks)) throw new Error(`private host ${pid} left things behind: ${JSON.stringify(leaks)}`);
      });
      return stopping;
    },
  };
}

function execIn(entry: LiveHost, cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  if (!isAlive(entry.init)) return Promise.reject(new Error(`private host ${entry.init.pid} is not running`));
  const nsArgs = ['--target', String(entry.init.pid), '--mount', '--pid', '--uts'];
  // nsenter opens the directory before it enters the namespaces: through the host's root, or it would be the machine's.
  if (opts.cwd) nsArgs.push(`--wd=/proc/${entry.init.pid}/root${opts.cwd.startsWith('/') ? '' : '/'}${opts.cwd}`);
  const env: Record<string, string> = { SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0', LC_ALL: 'C.UTF-8' };
  for (const [k, v] of Object.entries(process.env)) {
    // The machine's bus and systemd settings must not leak into the host.
    if (v !== undefined && !k.startsWith('DBUS_') && !k.startsWith('SYSTEMD_') && !k.startsWith('XDG_')) env[k] ??= v;
  }
  Object.assign(env, opts.env);
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [...nsArgs, '--', cmd, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      // nsenter forks into the pid namespace; its child must go too.
      if (child.pid !== undefined) for (const pid of childrenOf(child.pid)) safeKill(pid);
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n(killed by ${signal})` : ''),
      });
    });
  });
}

async function teardown(entry: LiveHost): Promise<void> {
  killInit(entry);
  const deadline = Date.now() + 10_000;
  // The init is gone once unshare has reaped it; then the namespace's mounts are gone too.
  while (exists(entry.init) || (entry.unshare.exitCode === null && entry.unshare.signalCode === null)) {
    if (Date.now() > deadline) break;
    await sleep(10);
  }
  let left = removeCgroupTrees(entry.cgroups);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(20);
    left = removeCgroupTrees(left);
  }
  rmSync(entry.base, { recursive: true, force: true });
  live.delete(entry);
}

function killInit(entry: LiveHost): void {
  // Checking the start time first means a recycled pid is never killed.
  if (isAlive(entry.init)) safeKill(entry.init.pid);
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const entry of live) killInit(entry);
    const deadline = Date.now() + 3_000;
    for (const entry of live) {
      while (exists(entry.init) && Date.now() < deadline) sleepSync(5);
      let left = removeCgroupTrees(entry.cgroups);
      while (left.length > 0 && Date.now() < deadline) {
        sleepSync(10);
        left = removeCgroupTrees(left);
      }
      rmSync(entry.base, { recursive: true, force: true });
    }
    live.clear();
  });
}

// Mounts under these are made or covered after the binds, or are kernel
// interfaces; a bind there would be hidden or would reach the machine.
const UNBINDABLE = ['/run', '/tmp', '/var/tmp', '/var/run', '/var/lock', '/dev', '/proc', '/sys'];

function checkBindTarget(target: string): void {
  const bad = !target.startsWith('/') || target.split('/').includes('..') || target === '/' || UNBINDABLE.some((d) => target === d || target.startsWith(d + '/'));
  if (bad) throw new Error(`cannot bind onto ${target} in a private host: use an absolute path outside ${UNBINDABLE.join(', ')}`);
}

interface OwnerRecord {
  ownerPid: number;
  cgroups: string[];
  init?: ProcessIdentity;
}

function writeOwner(base: string, record: OwnerRecord): void {
  writeFileSync(join(base, 'owner.json'), JSON.stringify(record));
}

// Hosts whose test process was killed outright die with it (parent-death
// signals), but their temp dir and empty cgroups stay. rmdir on a cgroup
// fails while it has processes, so sweeping can never take anything live down.
/** Reads owner records in os.tmpdir(); removes temp dirs and cgroups of hosts whose owning process and init are dead. Runs on every boot. */
export function sweepStaleHosts(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(BASE_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const base = join(tmpdir(), name);
    let record: OwnerRecord;
    try {
      record = JSON.parse(readFileSync(join(base, 'owner.json'), 'utf8')) as OwnerRecord;
    } catch {
      continue;
    }
    if (record.ownerPid === process.pid || readStat(record.ownerPid) !== null) continue;
    if (record.init && exists(record.init)) continue;
    if (removeCgroupTrees(record.cgroups).length > 0) continue;
    try {
      if (statSync(base).isDirectory()) rmSync(base, { recursive: true, force: true });
    } catch {
      // Another sweeper got there first.
    }
  }
}

/** Asks the manager on a bus for its Version property (an answer means systemd is up there). */
export async function systemdVersion(bus: dbus.MessageBus): Promise<string> {
  const reply = await bus.call(
    new dbus.Message({
      destination: 'org.freedesktop.systemd1',
      path: '/org/freedesktop/systemd1',
      interface: 'org.freedesktop.DBus.Properties',
      member: 'Get',
      signature: 'ss',
      body: ['org.freedesktop.systemd1.Manager', 'Version'],
    }),
  );
  return String((reply?.body[0] as { value?: unknown } | undefined)?.value ?? '');
}

async function waitForSystemdOnBus(address: string, deadline: number): Promise<void> {
  const bus = dbus.sessionBus({ busAddress: address });
  let lastError: unknown;
  bus.on('error', (err: unknown) => {
    lastError = err;
  });
  try {
    await waitFor(deadline, async () => {
      try {
        return (await systemdVersion(bus)) ? true : null;
      } catch (err) {
        lastError = err;
        return null;
      }
    }, 20);
  } catch (err) {
    throw new Error(`systemd never answered on ${address}: ${String(lastError ?? err)}`);
  } finally {
    bus.disconnect();
  }
}

interface MachineMount {
  id: string;
  mountPoint: string;
  line: string;
}

function machineMounts(): MachineMount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      return { id: f[0] ?? '', mountPoint: unescapeMountinfo(f[4] ?? ''), line };
    });
}

async function waitFor<T>(deadline: number, probe: () => T | null | Promise<T | null>, intervalMs = 5): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(intervalMs);
  }
}

function bootError(what: string, bootLog: string): Error {
  const log = safeRead(bootLog).split('\n').slice(-30).join('\n');
  return new Error(`private host failed to boot: ${what}\n--- boot log ---\n${log}`);
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function safeKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}
