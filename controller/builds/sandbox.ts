/**
 * One concern: what a build sandbox may do, as systemd properties.
 *
 * The transient-unit property lists of the build sandboxes: overlay
 * `script` steps, steamcmd installation runs and archive listing/extraction. Pure: options in, systemd
 * D-Bus properties (name, signature, value) out, checked against systemd 252's
 * `org.freedesktop.systemd1.Service` interface.
 *
 * Shape of both sandboxes: a `Type=oneshot` service as an unprivileged user in
 * the build slice, chrooted (`RootDirectory=`) into an empty skeleton that
 * holds only what is bound into it — `/usr`, an allowlist of `/etc` files, a
 * sandbox-only resolv.conf, and the few directories the run may write. Why a
 * skeleton rather than `/` plus `InaccessiblePaths=`:
 *  - systemd creates a missing bind target such as `/overlay` on the host's
 *    root file system (an empty directory left there for good);
 *  - on systemd 252 `InaccessiblePaths=` below a `RootDirectory=` bind does
 *    not hide anything (tested: a bound /etc still showed /etc/left4me);
 *  - an allowlist cannot forget a secret the way a denylist can: the state
 *    and data directories, /root, /home and every socket under /run are simply
 *    absent, and no layout tree of the host may ever be bound read-only.
 *
 * Egress is public-internet only: `IPAddressDeny=` lists loopback, link-local,
 * multicast, private and CGNAT ranges plus the host's own addresses (a
 * service bound to 0.0.0.0 is reachable through them). No `IPAddressAllow=`
 * is ever set: an allow entry would win over the deny list.
 */
import { isIP } from 'node:net';
import type { UnitProperty } from '../systemd/adapter.js';
import type { HostLayout } from '../host/layout.js';
import { BUILD_SLICE_UNIT, defaultUnitConfig, GLIBC_ETC } from '../systemd/units.js';
import { DENIED_NETWORKS } from './networks.js';

/** Where a script sees its overlay build directory (read-write, its only writable path besides a private /tmp). */
export const SANDBOX_OVERLAY_DIR = '/overlay';
/** Where steamcmd sees the installation it updates. */
export const SANDBOX_INSTALL_DIR = '/installation';
/** Where steamcmd sees its own home (its files, logs and login tokens); also its $HOME. */
export const SANDBOX_STEAM_HOME = '/steam';
/** Where an archive run finds the downloaded archive (read-only). */
export const SANDBOX_ARCHIVE_FILE = '/archive';
/** Where an archive extraction writes the extracted tree (its only writable path besides a private /tmp). */
export const SANDBOX_OUTPUT_DIR = '/output';
/** Where an archive run finds a list of entry names it is asked for (read-only). */
export const SANDBOX_NAMES_FILE = '/names';
/** Where steamcmd finds the runscript with its `login` line (`+runscript`). */
export const SANDBOX_LOGIN_FILE = '/run/left4me/steam-login';

/** Networks a build may never reach: the product's one list of non-public ranges (networks.ts). */
export { DENIED_NETWORKS };

/** Public resolvers for the sandbox's own resolv.conf (glibc reads at most three): a host resolver on loopback or the LAN is unreachable from inside. */
export const PUBLIC_RESOLVERS: readonly string[] = ['1.1.1.1', '9.9.9.9', '2606:4700:4700::1111'];

/**
 * Files and directories of /etc that bash, coreutils, curl, 7z, unzip and tar
 * read: what every glibc program reads, plus the TLS and MIME configuration
 * curl wants (resolv.conf comes separately). Each is optional (`-`).
 */
export const SANDBOX_ETC: readonly string[] = [...GLIBC_ETC, '/etc/ca-certificates.conf', '/etc/mime.types', '/etc/timezone'].sort();

/** cgroup limits and the stop grace period of one sandboxed run. */
export interface SandboxLimits {
  /** MemoryMax= in bytes. */
  memoryMax: bigint;
  /** MemorySwapMax= in bytes (0: a build never pushes game servers into swap). */
  memorySwapMax: bigint;
  tasksMax: bigint;
  /** CPUQuota= in percent of one CPU. */
  cpuQuotaPercent: number;
  /** How long processes get after SIGTERM (timeout or cancel) before SIGKILL. */
  stopTimeoutSec: number;
}

/** The previous deployment's limits: 4 GiB, no swap, 512 tasks, two CPUs, 10 s to stop. */
export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  memoryMax: 4n * 1024n ** 3n,
  memorySwapMax: 0n,
  tasksMax: 512n,
  cpuQuotaPercent: 200,
  stopTimeoutSec: 10,
};

/** What both sandboxes need; every path is a host path as systemd sees it. */
export interface SandboxBaseOptions {
  /** Unit Description=. */
  description: string;
  /** Empty root-owned skeleton used as RootDirectory=; it must contain every bind target's parent. */
  rootDir: string;
  /** Host directories or files bound read-only at the same path inside (`-` prefix: skip when missing). Default: /usr plus SANDBOX_ETC. */
  readOnlyPaths?: readonly string[];
  /** Where the host keeps its state; none of it may be bound read-only, and writable dirs may not hold the config dir or a whole layout tree. Default: the production layout. */
  layout?: HostLayout;
  /** The sandbox-only resolv.conf, bound over /etc/resolv.conf. */
  resolvConf: string;
  /** Output and errors are appended here (opened by systemd as root before the sandbox is set up). */
  logFile: string;
  /** Standard output goes here instead of logFile, when set (e.g. a listing to be read as data). */
  stdoutFile?: string;
  /** Killed after this long (Result=timeout). */
  timeoutSec: number;
  /** Default `left4me-build`: never the game servers' account. */
  user?: string;
  group?: string;
  /** Default l4d2-build.slice. */
  slice?: string;
  /** Default DENIED_NETWORKS. */
  deniedNetworks?: readonly string[];
  /** Added to the deny list as single addresses: the host's own (see hostAddresses in script.ts). */
  hostAddresses?: readonly string[];
  limits?: Partial<SandboxLimits>;
}

/** Options of an overlay script run. */
export interface ScriptUnitOptions extends SandboxBaseOptions {
  /** The overlay's unfinished build directory, bound read-write at /overlay. */
  buildDir: string;
  /** Root-owned, world-readable file holding the script; systemd opens it as the service's stdin. */
  scriptFile: string;
}

/** Options of a steamcmd run. */
export interface SteamcmdUnitOptions extends SandboxBaseOptions {
  /** The installation tree, bound read-write at /installation. */
  installDir: string;
  /** steamcmd's home (its own files, logs and login tokens), bound read-write at /steam. */
  steamHome: string;
  /** Runscript with the `login` line, readable by the build user only and kept in a root-only directory; bound read-only at SANDBOX_LOGIN_FILE. */
  loginFile: string;
  /** One steamcmd command line per run, in order (sandbox paths); each must succeed. */
  commands: readonly (readonly string[])[];
}

/** Options of an archive run (listing, reading link targets, or extraction). */
export interface ArchiveUnitOptions extends SandboxBaseOptions {
  /** The downloaded archive, bound read-only at SANDBOX_ARCHIVE_FILE. */
  archiveFile: string;
  /** An empty directory owned by the build user, bound read-write at SANDBOX_OUTPUT_DIR (extraction only). */
  outputDir?: string;
  /** A file of entry names, bound read-only at SANDBOX_NAMES_FILE. */
  namesFile?: string;
  /** The command line (sandbox paths); the first word is an absolute path. */
  argv: readonly string[];
  /** LimitFSIZE=: no file the run writes, its output included, may grow past this many bytes. */
  maxFileBytes: bigint;
}

/** An invalid sandbox option; the message names the option and what to change. */
export class SandboxConfigError extends Error {
  override name = 'SandboxConfigError';
}

/**
 * The properties of an overlay script's transient service. bash reads the
 * script from the root-owned file systemd opens as stdin (never from the
 * command line, where it would be visible and size-limited); the wrapper
 * moves it to fd 3 so commands that read stdin get /dev/null instead of the
 * script's own text, and appends `left4me: script exited with status N` to the
 * log, since our systemd interface reports the Result but not the exit code.
 */
export function scriptUnitProperties(opts: ScriptUnitOptions): UnitProperty[] {
  checkAbsolute('buildDir', opts.buildDir);
  checkAbsolute('scriptFile', opts.scriptFile);
  const wrapper = [
    'exec 3<&0 </dev/null',
    '/bin/bash --noprofile --norc /proc/self/fd/3',
    'status=$?',
    'echo "left4me: script exited with status $status"',
    'exit $status',
  ].join('; ');
  return [
    // Nothing a script's toolbox needs /proc/cpuinfo or other system-wide /proc files.
    ...baseProperties(opts, { writable: [[opts.buildDir, SANDBOX_OVERLAY_DIR]], readOnly: [], home: '/tmp', procSubset: 'pid' }),
    ['ExecStartEx', 'a(sasas)', [['/bin/bash', ['/bin/bash', '--noprofile', '--norc', '-c', wrapper], ['no-env-expand']]]],
    ['WorkingDirectory', 's', SANDBOX_OVERLAY_DIR],
    ['StandardInputFile', 's', opts.scriptFile],
    // A script is a shell toolbox (curl, 7z); none of it needs writable code pages.
    ['MemoryDenyWriteExecute', 'b', true],
    ['SystemCallArchitectures', 'as', ['native']],
  ];
}

/**
 * The properties of a steamcmd run: one ExecStart= per pass (the
 * windows-then-linux workaround is two), run in order, each of which must
 * succeed. The login runscript is bound in from a root-only directory, so the
 * password is never on a command line and no process of the build user
 * outside this run can reach it. (`LoadCredential=` would be the systemd way,
 * but in a container without ramfs mounts systemd 252 leaves the credential
 * directory root-only, unreadable to the service user; tested.) steamcmd is a
 * 32-bit binary of unknown needs, so the x86 ABI is allowed and
 * MemoryDenyWriteExecute= is left off (as for srcds).
 */
export function steamcmdUnitProperties(opts: SteamcmdUnitOptions): UnitProperty[] {
  checkAbsolute('installDir', opts.installDir);
  checkAbsolute('steamHome', opts.steamHome);
  checkAbsolute('loginFile', opts.loginFile);
  if (opts.commands.length === 0) throw new SandboxConfigError('commands: at least one steamcmd command line is needed');
  const exec = opts.commands.map((argv, i) => {
    const [path] = argv;
    if (path === undefined || !path.startsWith('/')) throw new SandboxConfigError(`commands[${i}]: the first word must be the absolute path of steamcmd inside the sandbox`);
    return [path, [...argv], ['no-env-expand']] as const;
  });
  return [
    ...baseProperties(opts, {
      writable: [
        [opts.installDir, SANDBOX_INSTALL_DIR],
        [opts.steamHome, SANDBOX_STEAM_HOME],
      ],
      // The Steam client code in steamcmd identifies the machine and reads its CPU details, as srcds does.
      readOnly: [
        [opts.loginFile, SANDBOX_LOGIN_FILE],
        ['/etc/machine-id', '/etc/machine-id', true],
      ],
      home: SANDBOX_STEAM_HOME,
      procSubset: 'all',
    }),
    ['ExecStartEx', 'a(sasas)', exec],
    ['WorkingDirectory', 's', SANDBOX_STEAM_HOME],
    ['StandardInput', 's', 'null'],
    ['SystemCallArchitectures', 'as', ['native', 'x86']],
  ];
}

/**
 * The properties of one archive tool run: the archive format parsers (tar,
 * gzip, xz, bzip2, 7z) meet attacker-supplied bytes here instead of in the
 * controller. No network at all (`PrivateNetwork=`, AF_UNIX only): nothing
 * in a listing or an extraction needs one. Every file the run writes is
 * capped by RLIMIT_FSIZE, so a single entry cannot outgrow the limit even
 * when the archive's headers understate it.
 */
export function archiveUnitProperties(opts: ArchiveUnitOptions): UnitProperty[] {
  checkAbsolute('archiveFile', opts.archiveFile);
  if (opts.outputDir !== undefined) checkAbsolute('outputDir', opts.outputDir);
  if (opts.namesFile !== undefined) checkAbsolute('namesFile', opts.namesFile);
  if (opts.stdoutFile !== undefined) checkAbsolute('stdoutFile', opts.stdoutFile);
  const [path] = opts.argv;
  if (path === undefined || !path.startsWith('/')) throw new SandboxConfigError('argv: the first word must be the absolute path of a program inside the sandbox');
  if (opts.maxFileBytes < 1n) throw new SandboxConfigError(`maxFileBytes ${opts.maxFileBytes} must be at least 1`);
  return [
    ...baseProperties(opts, {
      writable: opts.outputDir === undefined ? [] : [[opts.outputDir, SANDBOX_OUTPUT_DIR]],
      readOnly: [[opts.archiveFile, SANDBOX_ARCHIVE_FILE], ...(opts.namesFile === undefined ? [] : [[opts.namesFile, SANDBOX_NAMES_FILE] as const])],
      home: '/tmp',
      procSubset: 'pid',
      network: false,
    }),
    ['ExecStartEx', 'a(sasas)', [[path, [...opts.argv], ['no-env-expand']]]],
    ['WorkingDirectory', 's', '/tmp'],
    ['StandardInput', 's', 'null'],
    ['LimitFSIZE', 't', opts.maxFileBytes],
    ['LimitFSIZESoft', 't', opts.maxFileBytes],
    ['MemoryDenyWriteExecute', 'b', true],
    ['SystemCallArchitectures', 'as', ['native']],
  ];
}

/** Host paths a sandbox may never bind: the configuration dir (state, secrets), the data dir and every layout tree. */
export function forbiddenPaths(layout: HostLayout): string[] {
  const dataDir = layout.instancesDir.replace(/\/[^/]+$/, '') || '/';
  const all = [layout.configDir, dataDir, layout.installationDir, layout.overlaysDir, layout.instancesDir, layout.runtimeDir, layout.statusDir, layout.cacheDir];
  return [...new Set(all)];
}

/** `IPAddressDeny=` entries (`a(iayu)`: address family, address bytes, prefix length) for CIDR strings or single addresses. */
export function ipAddressEntries(networks: readonly string[]): [number, number[], number][] {
  return networks.map((net) => {
    const [addr = '', prefixText, extra] = net.split('/');
    const version = isIP(addr);
    if (version === 0 || extra !== undefined) throw new SandboxConfigError(`deniedNetworks: ${JSON.stringify(net)} is not an IP address or CIDR network`);
    const bits = version === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? bits : Number(prefixText);
    if (!/^[0-9]{1,3}$/.test(prefixText ?? '0') || prefix > bits) throw new SandboxConfigError(`deniedNetworks: ${JSON.stringify(net)} has an invalid prefix length`);
    return [version === 4 ? AF_INET : AF_INET6, version === 4 ? ipv4Bytes(addr) : ipv6Bytes(addr), prefix];
  });
}

/** The sandbox's resolv.conf text. */
export function sandboxResolvConf(resolvers: readonly string[] = PUBLIC_RESOLVERS): string {
  for (const r of resolvers) if (isIP(r) === 0) throw new SandboxConfigError(`resolvers: ${JSON.stringify(r)} is not an IP address`);
  return `# left4me build sandbox: public resolvers only (loopback and private networks are unreachable from inside)\n${resolvers.map((r) => `nameserver ${r}`).join('\n')}\n`;
}

// ---------------------------------------------------------------------------

const AF_INET = 2;
const AF_INET6 = 10;
// MS_REC off: a bind brings exactly one directory, never mounts someone made below it.
const BIND_FLAGS = 0n;

/** What differs between the two sandboxes' common part. */
interface SandboxShape {
  /** Host dirs bound read-write, source → target. */
  writable: readonly (readonly [source: string, target: string])[];
  /** Extra read-only binds, source → target, optionally skipped when the source is missing. */
  readOnly: readonly (readonly [source: string, target: string, optional?: boolean])[];
  home: string;
  procSubset: 'pid' | 'all';
  /** false: a private network namespace and AF_UNIX only (default true: public internet). */
  network?: boolean;
}

function baseProperties(opts: SandboxBaseOptions, shape: SandboxShape): UnitProperty[] {
  const { writable, home } = shape;
  checkAbsolute('rootDir', opts.rootDir);
  checkAbsolute('resolvConf', opts.resolvConf);
  checkAbsolute('logFile', opts.logFile);
  if (!Number.isInteger(opts.timeoutSec) || opts.timeoutSec < 1) throw new SandboxConfigError(`timeoutSec ${opts.timeoutSec} must be a whole number of seconds, at least 1`);
  const limits = { ...DEFAULT_SANDBOX_LIMITS, ...opts.limits };
  if (!Number.isInteger(limits.cpuQuotaPercent) || limits.cpuQuotaPercent < 1) throw new SandboxConfigError(`limits.cpuQuotaPercent ${limits.cpuQuotaPercent} must be a positive whole number`);
  const readOnly = opts.readOnlyPaths ?? ['/usr', ...SANDBOX_ETC.map((p) => `-${p}`)];
  const layout = opts.layout ?? defaultUnitConfig().layout;
  const forbidden = forbiddenPaths(layout);
  readOnly.forEach((p, i) => checkAllowed(`readOnlyPaths[${i}]`, p.replace(/^-/, ''), forbidden));
  for (const [source] of writable) {
    checkAbsolute('writable dir', source);
    // Writable dirs live in the data dir by design (a build dir, the installation),
    // but never in the config dir (secrets) and never above a whole layout tree.
    if (isInside(source, layout.configDir)) throw new SandboxConfigError(`${source} lies in ${layout.configDir}, which holds secrets; builds write only below the data directory`);
    const swallowed = forbidden.find((f) => f !== source && isInside(f, source));
    if (swallowed) throw new SandboxConfigError(`${source} contains ${swallowed}, which a build must never see; use a directory below it`);
  }
  const denied = [...(opts.deniedNetworks ?? DENIED_NETWORKS), ...(opts.hostAddresses ?? [])];
  const timeoutUsec = BigInt(opts.timeoutSec) * 1_000_000n;
  return [
    ['Description', 's', opts.description],
    ['Type', 's', 'oneshot'],
    ['User', 's', opts.user ?? 'left4me-build'],
    ['Group', 's', opts.group ?? opts.user ?? 'left4me-build'],
    ['Slice', 's', opts.slice ?? BUILD_SLICE_UNIT],
    // The account's own home is outside the sandbox root.
    ['Environment', 'as', [`HOME=${home}`, 'TMPDIR=/tmp', 'LANG=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin']],
    // The run's time limit. A oneshot's whole run is its start job, and systemd 252
    // ignores RuntimeMaxSec= for Type=oneshot (it logs so); an overrun ends with Result=timeout.
    ['TimeoutStartUSec', 't', timeoutUsec],
    ['TimeoutStopUSec', 't', BigInt(limits.stopTimeoutSec) * 1_000_000n],
    ['StandardOutputFileToAppend', 's', opts.stdoutFile ?? opts.logFile],
    ['StandardErrorFileToAppend', 's', opts.logFile],
    ['LimitCORE', 't', 0n],
    ['LimitCORESoft', 't', 0n],

    ['RootDirectory', 's', opts.rootDir],
    ['MountAPIVFS', 'b', true],
    [
      'BindReadOnlyPaths',
      'a(ssbt)',
      [
        ...readOnly.map((p) => bindEntry(p)),
        [opts.resolvConf, '/etc/resolv.conf', false, BIND_FLAGS],
        ...shape.readOnly.map(([source, target, optional]) => [source, target, optional ?? false, BIND_FLAGS]),
      ],
    ],
    // Only when there is one: an empty BindPaths= resets every bind, the read-only ones above included.
    ...(writable.length > 0 ? [['BindPaths', 'a(ssbt)', writable.map(([source, target]) => [source, target, false, BIND_FLAGS])] as const] : []),
    ['ProtectSystem', 's', 'strict'],
    ['ProtectHome', 's', 'yes'],
    ['PrivateTmp', 'b', true],
    ['PrivateDevices', 'b', true],
    ['PrivateIPC', 'b', true],
    ['PrivateUsers', 'b', true],
    ['PrivateMounts', 'b', true],
    ['ProtectProc', 's', 'invisible'],
    ['ProcSubset', 's', shape.procSubset],
    ['ProtectKernelTunables', 'b', true],
    ['ProtectKernelModules', 'b', true],
    ['ProtectKernelLogs', 'b', true],
    ['ProtectClock', 'b', true],
    ['ProtectControlGroups', 'b', true],
    ['ProtectHostname', 'b', true],
    ['NoNewPrivileges', 'b', true],
    ['CapabilityBoundingSet', 't', 0n],
    ['AmbientCapabilities', 't', 0n],
    // 0 = no namespace type may be created.
    ['RestrictNamespaces', 't', 0n],
    ['RestrictSUIDSGID', 'b', true],
    ['RestrictRealtime', 'b', true],
    ['LockPersonality', 'b', true],
    ['RemoveIPC', 'b', true],
    ['KeyringMode', 's', 'private'],
    ['UMask', 'u', 0o022],
    ['SystemCallFilter', '(bas)', [true, ['@system-service']]],
    ['SystemCallFilter', '(bas)', [false, ['@clock', '@cpu-emulation', '@debug', '@module', '@mount', '@obsolete', '@privileged', '@raw-io', '@reboot', '@resources', '@swap']]],
    ['SystemCallErrorNumber', 'i', EPERM],
    ['RestrictAddressFamilies', '(bas)', [true, shape.network === false ? ['AF_UNIX'] : ['AF_INET', 'AF_INET6', 'AF_UNIX']]],
    ...(shape.network === false ? [['PrivateNetwork', 'b', true] as const] : []),
    ['IPAddressDeny', 'a(iayu)', ipAddressEntries(denied)],

    ['MemoryMax', 't', limits.memoryMax],
    ['MemorySwapMax', 't', limits.memorySwapMax],
    ['TasksMax', 't', limits.tasksMax],
    ['CPUQuotaPerSecUSec', 't', BigInt(limits.cpuQuotaPercent) * 10_000n],
  ];
}

const EPERM = 1;

function bindEntry(path: string): [string, string, boolean, bigint] {
  const optional = path.startsWith('-');
  const p = optional ? path.slice(1) : path;
  return [p, p, optional, BIND_FLAGS];
}

function checkAbsolute(field: string, path: string): void {
  if (typeof path !== 'string' || !path.startsWith('/') || path.split('/').includes('..') || /[\u0000-\u001f]/.test(path)) {
    throw new SandboxConfigError(`${field}: ${JSON.stringify(path)} is not a normalized absolute path`);
  }
}

function checkAllowed(field: string, path: string, forbidden: readonly string[]): void {
  checkAbsolute(field, path);
  const hit = forbidden.find((f) => isInside(path, f) || isInside(f, path));
  if (hit) throw new SandboxConfigError(`${field}: ${path} overlaps ${hit}, which a build must never see; bind something narrower`);
}

function isInside(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

function ipv4Bytes(addr: string): number[] {
  return addr.split('.').map(Number);
}

function ipv6Bytes(addr: string): number[] {
  let text = addr;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}
