/**
 * One concern: the unit files of the game servers (their config, its
 * validation and the rendering are one contract with systemd 252).
 *
 * Unit files for the host, rendered from plain data: the game-server
 * template, one overlayfs `.mount` per instance, the slices, and each
 * instance's `launch.env`. Every function here is pure (config in, text out);
 * the reconciler compares the text with what is on disk to decide whether to
 * rewrite a file and reload systemd, so output is deterministic to the byte.
 *
 * Design: the service template is static; everything per instance lives in
 * files next to it — the mount unit (what the server sees), launch.env
 * (its command line) and a drop-in naming its own uid (server-accounts.ts). A changed stack or command line therefore never means a
 * changed template, and `RequiresMountsFor=` makes systemd mount the overlay
 * before the server starts. To apply a new stack, restart the instance's
 * mount unit: that restarts the server with it, whereas restarting only the
 * server keeps the old mount (checked on systemd 252).
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { RESERVED_LAUNCH_ARGS } from '../documents/launch-args.js';
import { hostLayout, type HostLayout } from '../host/layout.js';
import { EscapeError, escapeUnitPath } from './escape.js';

/** First line of every file we render, so people know their edits will not survive. */
export const MANAGED_HEADER = '# Managed by left4me — edits are overwritten';

/** File name of the game-server template unit. */
export const SERVER_TEMPLATE_UNIT = 'left4me-server@.service';
/**
 * Parent of both left4me slices. A '-' in a slice name means nesting, so
 * `l4d2-game.slice` and `l4d2-build.slice` live inside `l4d2.slice` whether
 * or not it has a file; we render it because its weight is what competes
 * with `system.slice`. There is no `left4me.slice`: it could only be a
 * sibling of these, and the controller and web services belong in `system.slice`.
 */
export const PARENT_SLICE_UNIT = 'l4d2.slice';
/** Slice of the game servers. */
export const GAME_SLICE_UNIT = 'l4d2-game.slice';
/** Slice of overlay and installation builds (the build sandbox places its units here). */
export const BUILD_SLICE_UNIT = 'l4d2-build.slice';
/**
 * Journal namespace of the game servers (systemd.exec(5) LogNamespace=):
 * their output goes to a journald instance of its own,
 * systemd-journald@left4me.service, started on demand by its sockets, whose
 * files the web service's group may read (deploy/left4me.tmpfiles.conf)
 * without reading anything else of the journal.
 */
export const SERVER_LOG_NAMESPACE = 'left4me';
/** Variable in launch.env that the template's ExecStart= splits into srcds_run's arguments. */
export const LAUNCH_ARGS_VAR = 'LEFT4ME_ARGS';

/** A configuration or instance value that cannot be rendered safely; `field` names it, the message says what to do. */
export class UnitRenderError extends Error {
  override name = 'UnitRenderError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * The game servers' sandbox. `strict` is the one tuned here (against the demo
 * server); `compat` is the directive set the previous deployment ran real
 * srcds with for years, kept for when real srcds disagrees with `strict`
 * (`left4me controller --server-sandbox compat`). The differences are listed
 * at compatSandbox() and in README's security table.
 */
export type ServerSandbox = 'strict' | 'compat';
export const SERVER_SANDBOXES: readonly ServerSandbox[] = ['strict', 'compat'];

/** Resource limits and restart policy of every game server. */
export interface ServerSettings {
  /** Which sandbox directive set the template carries; see ServerSandbox. */
  sandbox: ServerSandbox;
  memoryHigh: string;
  memoryMax: string;
  tasksMax: number;
  nice: number;
  oomScoreAdjust: number;
  limitNofile: number;
  restartSec: string;
  /** At most this many starts within startLimitIntervalSec, then the unit stays failed. */
  startLimitBurst: number;
  startLimitIntervalSec: number;
  timeoutStopSec: string;
  /** srcds `-ip`: 0.0.0.0 also makes RCON reachable on loopback. */
  bindAddress: string;
  /** Host paths servers may additionally read (e.g. a steamcmd tree that the installation links into). */
  extraReadOnlyPaths: readonly string[];
}

/** cgroup weights and limits of one slice; optional fields are left out of the unit when unset. */
export interface SliceSettings {
  cpuWeight: number;
  ioWeight: number;
  memoryMax?: string;
  /** cpuset, e.g. `2-7`; only honoured on the unified cgroup hierarchy. */
  allowedCpus?: string;
}

/** Everything the renderers read besides the instances themselves. */
export interface UnitConfig {
  layout: HostLayout;
  server: ServerSettings;
  slices: { parent: SliceSettings; game: SliceSettings; build: SliceSettings };
}

/** One overlay build in an instance's stack. */
export interface OverlayBuildRef {
  overlay: string;
  build: string;
}

/** An instance's srcds command line, as resolved from its blueprint and port leases. */
export interface LaunchSettings {
  port: number;
  clientPort: number;
  map: string;
  maxPlayers: number;
  /** Left out of the command line when null or undefined (srcds then runs its default). */
  tickrate?: number | null;
  /** Extra srcds arguments, validated upstream; quoted here anyway. */
  extraArgs?: readonly string[];
}

/** What the unit renderers need to know about one instance. */
export interface InstanceUnitSpec {
  name: string;
  /** Overlay builds lowest first, as the blueprint lists them. */
  overlays: readonly OverlayBuildRef[];
  /** Build of the generated per-instance config layer (server.cfg…), which sits above every overlay; null when there is none. */
  configBuild: string | null;
  /** Installation tree for this instance; defaults to `layout.installationDir`. */
  installationDir?: string;
  launch: LaunchSettings;
}

/** Production defaults (DESIGN.md host layout, previous deployment's limits); a fresh object each call. */
export function defaultUnitConfig(): UnitConfig {
  return {
    layout: hostLayout(),
    server: {
      sandbox: 'strict',
      memoryHigh: '1536M',
      memoryMax: '2G',
      tasksMax: 256,
      nice: -5,
      oomScoreAdjust: -200,
      limitNofile: 65536,
      restartSec: '5s',
      startLimitBurst: 5,
      startLimitIntervalSec: 60,
      timeoutStopSec: '15s',
      bindAddress: '0.0.0.0',
      extraReadOnlyPaths: [],
    },
    slices: {
      parent: { cpuWeight: 1000, ioWeight: 1000 },
      game: { cpuWeight: 1000, ioWeight: 1000 },
      build: { cpuWeight: 20, ioWeight: 20, memoryMax: '4G' },
    },
  };
}

/** Overrides, one level deep per section, merged over defaultUnitConfig(). */
export interface UnitConfigOverrides {
  layout?: Partial<HostLayout>;
  server?: Partial<ServerSettings>;
  slices?: { parent?: Partial<SliceSettings>; game?: Partial<SliceSettings>; build?: Partial<SliceSettings> };
}

/** Merges overrides over the defaults and validates the result; throws UnitRenderError naming the bad field. */
export function resolveUnitConfig(overrides: UnitConfigOverrides = {}): UnitConfig {
  const d = defaultUnitConfig();
  const cfg: UnitConfig = {
    layout: { ...d.layout, ...overrides.layout },
    server: { ...d.server, ...overrides.server },
    slices: {
      parent: { ...d.slices.parent, ...overrides.slices?.parent },
      game: { ...d.slices.game, ...overrides.slices?.game },
      build: { ...d.slices.build, ...overrides.slices?.build },
    },
  };
  validateConfig(cfg);
  return cfg;
}

// ---------------------------------------------------------------------------
// Validation. Values land in unit files, overlayfs options and an env file;
// each of those has its own metacharacters, so we accept only what is safe in
// all of them rather than escape for three parsers at once.

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const BUILD_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ACCOUNT_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const SIZE_RE = /^(infinity|[0-9]+(\.[0-9]+)?[KMGT]?|[0-9]{1,2}(\.[0-9]+)?%|100%)$/;
const DURATION_RE = /^[0-9]+(ms|s|min|h)?$/;
const CPUSET_RE = /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/;
// No ',' ':' '\\' (overlayfs option syntax), '%' (unit specifiers), whitespace
// or quotes (unit-file lists and env quoting).
const PATH_CHARS_RE = /^[A-Za-z0-9._@+/-]+$/;
// Linux's legacy mount(2) copies at most one page of option text.
const MOUNT_OPTIONS_MAX = 4095;
// ProtectHome=, PrivateTmp= and the API file systems put their own mounts here, so nothing below them can be bound into the sandbox.
const SANDBOX_REPLACED = ['/dev', '/home', '/proc', '/root', '/run/user', '/sys', '/tmp', '/var/tmp'];
// Layout trees a game server must not see except through its own merged overlay.
const hiddenLayoutKeys = ['configDir', 'statusDir', 'cacheDir', 'instancesDir', 'overlaysDir', 'installationDir', 'secretsDir', 'trashDir', 'logsDir', 'buildRunsDir', 'steamHome', 'sourcesDir', 'triggersDir'] as const;

function checkPath(field: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new UnitRenderError(field, `${JSON.stringify(value)} is not an absolute path`);
  }
  if (!PATH_CHARS_RE.test(value)) {
    throw new UnitRenderError(
      field,
      `${JSON.stringify(value)} contains characters that overlayfs options or unit files treat specially; use only letters, digits and . _ @ + - /`,
    );
  }
  const parts = value.split('/').slice(1);
  if (value === '/' || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UnitRenderError(field, `${JSON.stringify(value)} must be a normalized path below / (no '//', '.', '..' or trailing '/')`);
  }
  return value;
}

function checkPattern(field: string, value: unknown, re: RegExp, hint: string): string {
  if (typeof value !== 'string' || !re.test(value)) throw new UnitRenderError(field, `${JSON.stringify(value)} is not ${hint}`);
  return value;
}

function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UnitRenderError(field, `${JSON.stringify(value)} is not an integer from ${min} to ${max}`);
  }
  return value;
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

function validateSlice(field: string, s: SliceSettings): void {
  checkInt(`${field}.cpuWeight`, s.cpuWeight, 1, 10000);
  checkInt(`${field}.ioWeight`, s.ioWeight, 1, 10000);
  if (s.memoryMax !== undefined) checkPattern(`${field}.memoryMax`, s.memoryMax, SIZE_RE, 'a size such as 4G');
  if (s.allowedCpus !== undefined) checkPattern(`${field}.allowedCpus`, s.allowedCpus, CPUSET_RE, 'a CPU list such as 2-7 or 0,2,4');
}

/** Checks every field of a UnitConfig; throws UnitRenderError naming the first bad one. Pure. */
export function validateConfig(cfg: UnitConfig): void {
  const l = cfg.layout;
  for (const key of ['dataDir', 'installationDir', 'overlaysDir', 'instancesDir', 'runtimeDir', 'statusDir', 'cacheDir', 'configDir', 'secretsDir', 'trashDir', 'logsDir', 'buildRunsDir', 'steamHome'] as const) {
    checkPath(`layout.${key}`, l[key]);
  }
  checkPattern('layout.user', l.user, ACCOUNT_RE, 'a user name');
  checkPattern('layout.group', l.group, ACCOUNT_RE, 'a group name');
  checkPattern('layout.buildUser', l.buildUser, ACCOUNT_RE, 'a user name');
  checkPattern('layout.buildGroup', l.buildGroup, ACCOUNT_RE, 'a group name');
  if (l.buildUser === l.user) {
    throw new UnitRenderError('layout.buildUser', 'must differ from layout.user: build scripts must not run as the account of the game servers');
  }
  const covered = SANDBOX_REPLACED.find((d) => isInside(l.runtimeDir, d));
  if (covered) {
    throw new UnitRenderError('layout.runtimeDir', `${l.runtimeDir} lies in ${covered}, which the server sandbox replaces; choose another tree`);
  }
  for (const key of hiddenLayoutKeys) {
    if (isInside(l.runtimeDir, l[key]) || isInside(l[key], l.runtimeDir)) {
      throw new UnitRenderError(
        'layout.runtimeDir',
        `${l.runtimeDir} overlaps layout.${key} (${l[key]}), which game servers must not see; give them separate trees`,
      );
    }
  }

  const s = cfg.server;
  if (!SERVER_SANDBOXES.includes(s.sandbox)) {
    throw new UnitRenderError('server.sandbox', `${JSON.stringify(s.sandbox)} is not one of ${SERVER_SANDBOXES.join(', ')}`);
  }
  checkPattern('server.memoryHigh', s.memoryHigh, SIZE_RE, 'a size such as 1536M');
  checkPattern('server.memoryMax', s.memoryMax, SIZE_RE, 'a size such as 2G');
  checkInt('server.tasksMax', s.tasksMax, 1, 4194304);
  checkInt('server.nice', s.nice, -20, 19);
  checkInt('server.oomScoreAdjust', s.oomScoreAdjust, -1000, 1000);
  checkInt('server.limitNofile', s.limitNofile, 1, 1048576);
  checkPattern('server.restartSec', s.restartSec, DURATION_RE, 'a duration such as 5s');
  checkInt('server.startLimitBurst', s.startLimitBurst, 1, 1000);
  checkInt('server.startLimitIntervalSec', s.startLimitIntervalSec, 1, 86400);
  checkPattern('server.timeoutStopSec', s.timeoutStopSec, DURATION_RE, 'a duration such as 15s');
  if (typeof s.bindAddress !== 'string' || isIP(s.bindAddress) === 0) {
    throw new UnitRenderError('server.bindAddress', `${JSON.stringify(s.bindAddress)} is not an IP address`);
  }
  s.extraReadOnlyPaths.forEach((p, i) => {
    const field = `server.extraReadOnlyPaths[${i}]`;
    checkPath(field, p);
    const covered = SANDBOX_REPLACED.find((d) => isInside(p, d));
    if (covered) throw new UnitRenderError(field, `${p} lies in ${covered}, which the server sandbox replaces`);
    const hidden = hiddenLayoutKeys.find((k) => isInside(p, l[k]) || isInside(l[k], p));
    if (hidden) throw new UnitRenderError(field, `${p} overlaps layout.${hidden} (${l[hidden]}), which game servers must not see`);
  });

  validateSlice('slices.parent', cfg.slices.parent);
  validateSlice('slices.game', cfg.slices.game);
  validateSlice('slices.build', cfg.slices.build);
}

function checkName(field: string, name: unknown): string {
  return checkPattern(field, name, NAME_RE, "a left4me name (lowercase letters, digits and '-', at most 63)");
}

// ---------------------------------------------------------------------------
// Naming.

/** The service unit of an instance: `left4me-server@<name>.service`. Pure; throws UnitRenderError for an invalid name. */
export function serverUnitName(instanceName: string): string {
  // Instance names are already valid unit-name characters; '-' needs no escaping inside an instance string.
  return `left4me-server@${checkName('instance name', instanceName)}.service`;
}

/** The `.mount` unit name systemd derives from an absolute path (what `systemd-escape --path --suffix=mount` prints). Pure. */
export function mountUnitName(path: string): string {
  if (!path.startsWith('/')) throw new UnitRenderError('mount point', `${JSON.stringify(path)} is not an absolute path`);
  let escaped: string;
  try {
    escaped = escapeUnitPath(path);
  } catch (e) {
    if (e instanceof EscapeError) throw new UnitRenderError('mount point', e.message);
    throw e;
  }
  const name = `${escaped}.mount`;
  // systemd 252 cannot load a unit whose name is 256 bytes or longer.
  if (name.length > 255) throw new UnitRenderError('mount point', `${JSON.stringify(path)} gives a unit name longer than 255 characters`);
  return name;
}

/** Where one instance's files live; computed by instancePaths(). */
export interface InstancePaths {
  /** `<instancesDir>/<name>`: everything the instance owns besides its mount point. */
  dir: string;
  /** overlayfs upper layer (owned by the server user) and its work dir (same file system). */
  upperDir: string;
  workDir: string;
  /** Read by PID 1 for ExecStart=; the server itself cannot see it. */
  launchEnv: string;
  /** Merged view and the server's working directory. */
  runtimeDir: string;
  /** Generated config layer builds: `<dir>/config/<build>`. */
  configLayerDir: (build: string) => string;
}

/** Paths of one instance's files under the layout. Pure; throws UnitRenderError for an invalid name. */
export function instancePaths(name: string, layout: HostLayout): InstancePaths {
  checkName('instance name', name);
  const dir = `${layout.instancesDir}/${name}`;
  return {
    dir,
    upperDir: `${dir}/upper`,
    workDir: `${dir}/work`,
    launchEnv: `${dir}/launch.env`,
    runtimeDir: `${layout.runtimeDir}/${name}`,
    configLayerDir: (build) => `${dir}/config/${checkPattern('config build', build, BUILD_RE, 'a build id')}`,
  };
}

/** Directory of one overlay build: `<overlaysDir>/<overlay>/<build>`. Pure. */
export function overlayBuildDir(ref: OverlayBuildRef, layout: HostLayout): string {
  checkName('overlay name', ref.overlay);
  checkPattern(`overlay ${ref.overlay} build`, ref.build, BUILD_RE, 'a build id');
  return `${layout.overlaysDir}/${ref.overlay}/${ref.build}`;
}

/**
 * An instance's lower layers in overlayfs order: TOPMOST FIRST. That is the
 * config layer, then the blueprint's overlays from last to first, then the
 * installation at the bottom. Pure.
 */
export function lowerDirs(instance: InstanceUnitSpec, cfg: UnitConfig = defaultUnitConfig()): string[] {
  const paths = instancePaths(instance.name, cfg.layout);
  const dirs: string[] = [];
  if (instance.configBuild !== null) dirs.push(paths.configLayerDir(instance.configBuild));
  for (let i = instance.overlays.length - 1; i >= 0; i--) dirs.push(overlayBuildDir(instance.overlays[i] as OverlayBuildRef, cfg.layout));
  dirs.push(checkPath(`instance ${instance.name} installationDir`, instance.installationDir ?? cfg.layout.installationDir));
  const seen = new Set<string>();
  for (const d of dirs) {
    // overlayfs refuses a directory that appears twice in one stack.
    if (seen.has(d)) throw new UnitRenderError(`instance ${instance.name} overlays`, `${d} appears twice in the stack`);
    seen.add(d);
  }
  return dirs;
}

// ---------------------------------------------------------------------------
// Rendering.

type Line = readonly [key: string, value: string] | { comment: string };
type Section = readonly [name: string, lines: readonly Line[]];

function renderUnit(sections: readonly Section[]): string {
  const out = [MANAGED_HEADER];
  for (const [name, lines] of sections) {
    out.push('', `[${name}]`);
    for (const line of lines) {
      if ('comment' in line) {
        out.push(`# ${line.comment}`);
        continue;
      }
      const [key, value] = line;
      // Anything that reached here was validated; this guards the renderer itself against a new unchecked field.
      if (/[\u0000-\u001f\u007f]|\\$/.test(value)) throw new UnitRenderError(key, `${JSON.stringify(value)} would break the unit file syntax`);
      out.push(`${key}=${value}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/**
 * The `left4me-server@.service` template: srcds_run from the instance's
 * merged overlay, as the left4me user, in the game slice, in the sandbox
 * `cfg.server.sandbox` names. Reads cfg only; the result is the same for every instance.
 */
export function renderServerTemplate(cfg: UnitConfig = defaultUnitConfig()): string {
  validateConfig(cfg);
  const { layout: l, server: s } = cfg;
  const runtime = `${l.runtimeDir}/%i`;
  return renderUnit([
    [
      'Unit',
      [
        ['Description', 'left4me game server %i'],
        ['Wants', 'network-online.target'],
        ['After', 'network-online.target'],
        { comment: 'Pulls in and orders after the instance overlay mount unit.' },
        ['RequiresMountsFor', runtime],
        ['StartLimitIntervalSec', String(s.startLimitIntervalSec)],
        ['StartLimitBurst', String(s.startLimitBurst)],
      ],
    ],
    [
      'Service',
      [
        ['Type', 'exec'],
        { comment: "Each instance's drop-in 10-user.conf sets User= to its own leased uid; servers share only the group." },
        ['User', l.user],
        ['Group', l.group],
        ['Slice', GAME_SLICE_UNIT],
        { comment: 'A journal of their own, which the web group reads: server logs and nothing else of the journal.' },
        ['LogNamespace', SERVER_LOG_NAMESPACE],
        ['WorkingDirectory', runtime],
        { comment: 'Steam looks for ~/.steam/sdk32/steamclient.so; the installation carries it.' },
        ['Environment', `HOME=${runtime}`],
        ['EnvironmentFile', `${l.instancesDir}/%i/launch.env`],
        ['ExecStart', `${runtime}/srcds_run $${LAUNCH_ARGS_VAR}`],
        ['Restart', 'on-failure'],
        ['RestartSec', s.restartSec],
        ['KillSignal', 'SIGINT'],
        ['TimeoutStopSec', s.timeoutStopSec],
        ['Nice', String(s.nice)],
        ['OOMScoreAdjust', String(s.oomScoreAdjust)],
        ['MemoryHigh', s.memoryHigh],
        ['MemoryMax', s.memoryMax],
        ['TasksMax', String(s.tasksMax)],
        ['LimitNOFILE', String(s.limitNofile)],
        { comment: "The history's CPU and memory (CPUUsageNSec, MemoryCurrent): explicit, since the defaults differ by cgroup version." },
        ['CPUAccounting', 'yes'],
        ['MemoryAccounting', 'yes'],
        { comment: 'A crash loop must not fill the upper layer with core files.' },
        ['LimitCORE', '0'],
        { comment: "What a server writes is its own uid's, readable by the group of its writable layer: the web group" },
        { comment: '(upper/ is setgid left4me-web), never the game group other servers share.' },
        ['UMask', '0027'],
        ...(s.sandbox === 'compat' ? compatSandbox(cfg) : strictSandbox(cfg)),
      ],
    ],
    ['Install', [['WantedBy', 'multi-user.target']]],
  ]);
}

const templateStamps = new WeakMap<UnitConfig, string>();

/**
 * What names the template an instance is started under: its sandbox profile
 * and a digest of its text, e.g. `compat sha256:0123456789abcdef`. Each
 * instance's own drop-in carries it, so a changed template (another
 * `--server-sandbox`, a new left4me) is a changed instance, applied by its
 * update policy like any document change — otherwise servers would keep the
 * old definition until they happened to restart. Remembered per config
 * object (a controller's config does not change while it runs): a resync
 * renders one template, not one per instance. Pure.
 */
export function serverTemplateStamp(cfg: UnitConfig): string {
  let stamp = templateStamps.get(cfg);
  if (stamp === undefined) {
    stamp = `${cfg.server.sandbox} sha256:${createHash('sha256').update(renderServerTemplate(cfg)).digest('hex').slice(0, 16)}`;
    templateStamps.set(cfg, stamp);
  }
  return stamp;
}

/** What both server sandbox profiles set alike: the kernel, clock, cgroups, hostname, keyrings, SUID, namespaces, realtime, IPC and personality kept from the server. */
const KERNEL_AND_IPC_PROTECTIONS: Line[] = [
  ['ProtectKernelTunables', 'yes'],
  ['ProtectKernelModules', 'yes'],
  ['ProtectKernelLogs', 'yes'],
  ['ProtectClock', 'yes'],
  ['ProtectControlGroups', 'yes'],
  ['ProtectHostname', 'yes'],
  ['KeyringMode', 'private'],
  ['RestrictSUIDSGID', 'yes'],
  ['RestrictNamespaces', 'yes'],
  ['RestrictRealtime', 'yes'],
  ['RemoveIPC', 'yes'],
  ['LockPersonality', 'yes'],
];

/** The `strict` sandbox: every setting srcds tolerates, as measured against the demo server. */
function strictSandbox(cfg: UnitConfig): Line[] {
  const { layout: l } = cfg;
  const hidden = hiddenPaths(l).map((p) => `-${p}`);
  return [
    { comment: 'Sandbox profile strict (left4me controller --server-sandbox strict|compat).' },
    ['NoNewPrivileges', 'yes'],
    ['CapabilityBoundingSet', ''],
    ['AmbientCapabilities', ''],
    ['PrivateUsers', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['DevicePolicy', 'closed'],
    ['PrivateIPC', 'yes'],
    ['PrivateMounts', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    { comment: 'srcds reads /proc/cpuinfo, so no ProcSubset=pid.' },
    ['ProtectProc', 'invisible'],
    ...KERNEL_AND_IPC_PROTECTIONS,
    { comment: 'srcds_linux is 32-bit with W+X text relocations: x86 ABI allowed, no MemoryDenyWriteExecute.' },
    ['SystemCallArchitectures', 'native x86'],
    ['SystemCallFilter', '@system-service'],
    ['SystemCallFilter', '~@clock @cpu-emulation @debug @module @mount @obsolete @privileged @raw-io @reboot @resources @swap'],
    ['SystemCallErrorNumber', 'EPERM'],
    { comment: 'Game traffic goes to the whole internet, so no IPAddressDeny=. AF_UNIX stays for in-process IPC.' },
    { comment: 'This binds 64-bit helpers only: seccomp cannot inspect the x86 socketcall() of 32-bit glibc.' },
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    { comment: 'Empty read-only trees over host data (ProtectSystem= leaves /run writable and PrivateDevices= shares' },
    { comment: "the host's /dev/shm); the server sees its own merged overlay and what it needs to run." },
    ['TemporaryFileSystem', [...['/etc', '/var', '/opt', '/srv', '/mnt', '/media', '/run'].map((p) => `${p}:ro`), '/dev/shm:mode=1777'].join(' ')],
    ...serverBinds(cfg),
    ['InaccessiblePaths', ['-/dev/mqueue', ...hidden].join(' ')],
  ];
}

/**
 * The `compat` sandbox: exactly the directives the previous deployment ran
 * real srcds with (L4D2 facts, "The previous deployment"), plus the binds of
 * this product's layout, and pkey_alloc() allowed (@pkey: V8 probes it, and
 * under the previous deployment's kill action that probe killed the demo
 * server, which is node; the keys only protect a process's own memory).
 * What it lacks against strictSandbox():
 * - SystemCallArchitectures=native x86: every architecture's syscalls pass the filter;
 * - @clock @module @resources in the syscall deny list (ProtectClock= and
 *   ProtectKernelModules= still block the first two; setpriority() and
 *   friends are allowed);
 * - SystemCallErrorNumber=EPERM: a denied syscall kills the server with
 *   SIGSYS, as before (the journal shows `status=31/SYS`), instead of failing
 *   with EPERM;
 * - read-only empty /var, /run and a private /dev/shm: only /var/lib is
 *   replaced (by a writable empty tmpfs, as are /etc /opt /srv /mnt /media and
 *   /home /root), the host's /run shows read-only, /dev/shm is the host's;
 * - InaccessiblePaths=/dev/mqueue;
 * - PrivateMounts= and DevicePolicy=closed stated (the namespace is private and
 *   PrivateDevices= closes the device policy anyway).
 * Both profiles keep what the product's design needs: the per-instance uid
 * (drop-in), the overlay mount dependency, LogNamespace=, UMask=0027, the
 * accounting the history reads, LimitCORE=0, and left4me's own trees
 * (RCON passwords, other servers' layers) inaccessible wherever the layout puts them.
 */
function compatSandbox(cfg: UnitConfig): Line[] {
  const hidden = hiddenPaths(cfg.layout);
  return [
    { comment: "Sandbox profile compat (left4me controller --server-sandbox): the previous deployment's directives" },
    { comment: 'under which real srcds ran; a denied syscall kills the server (SIGSYS, status=31/SYS in the journal).' },
    ['NoNewPrivileges', 'yes'],
    ['CapabilityBoundingSet', ''],
    ['AmbientCapabilities', ''],
    ['PrivateUsers', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['PrivateIPC', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['ProtectProc', 'invisible'],
    ...KERNEL_AND_IPC_PROTECTIONS,
    ['SystemCallFilter', '@system-service'],
    { comment: "Not the previous deployment's: V8 (the demo server is node) probes pkey_alloc(), outside systemd 252's" },
    { comment: '@system-service, and a probe must not kill the server. Memory protection keys are per process.' },
    ['SystemCallFilter', '@pkey'],
    ['SystemCallFilter', '~@cpu-emulation @debug @mount @obsolete @privileged @raw-io @reboot @swap'],
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ['TemporaryFileSystem', '/var/lib /etc /opt /home /root /srv /mnt /media'],
    ...serverBinds(cfg),
    { comment: "left4me's own trees stay hidden wherever the layout puts them (not only below the empty trees above)." },
    ['InaccessiblePaths', hidden.map((p) => `-${p}`).join(' ')],
  ];
}

/** What both sandboxes bind in over their empty trees: what glibc and srcds read in /etc, the operator's extra paths, the merged overlay. */
function serverBinds(cfg: UnitConfig): Line[] {
  return [
    ['BindReadOnlyPaths', ETC_READ_ONLY.map((p) => `-${p}`).join(' ')],
    ...cfg.server.extraReadOnlyPaths.map((p): Line => ['BindReadOnlyPaths', p]),
    ['BindPaths', `${cfg.layout.runtimeDir}/%i`],
  ];
}

/**
 * What any glibc program on Debian reads from /etc: the dynamic linker cache,
 * name service and resolver configuration (but not resolv.conf itself), time
 * zone, TLS roots, and the alternatives links that /usr/bin tools such as awk
 * point through. Sandboxes bind these back read-only over an empty /etc.
 */
export const GLIBC_ETC: readonly string[] = [
  '/etc/alternatives',
  '/etc/ca-certificates',
  '/etc/gai.conf',
  '/etc/group',
  '/etc/host.conf',
  '/etc/hosts',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/nsswitch.conf',
  '/etc/os-release',
  '/etc/passwd',
  '/etc/protocols',
  '/etc/services',
  '/etc/ssl',
];

// srcds also reads the host's resolver and machine id.
const ETC_READ_ONLY = [...GLIBC_ETC, '/etc/machine-id', '/etc/resolv.conf'].sort();

// Belt and braces: the temporary file systems above already hide the default
// locations, but an operator may move any of them somewhere we do not cover.
function hiddenPaths(layout: HostLayout): string[] {
  return [...new Set(hiddenLayoutKeys.map((k) => layout[k]))];
}

/**
 * The overlayfs `.mount` unit of one instance: merged view at
 * `<runtimeDir>/<name>`, lower layers topmost first (config layer, overlays
 * last-to-first, installation), upper and work under the instance dir.
 * Returns the unit's file name and text. Pure.
 */
export function renderInstanceMount(instance: InstanceUnitSpec, cfg: UnitConfig = defaultUnitConfig()): { fileName: string; text: string } {
  validateConfig(cfg);
  const paths = instancePaths(instance.name, cfg.layout);
  const lowers = lowerDirs(instance, cfg);
  const options = `lowerdir=${lowers.join(':')},upperdir=${paths.upperDir},workdir=${paths.workDir},index=off`;
  if (options.length > MOUNT_OPTIONS_MAX) {
    throw new UnitRenderError(
      `instance ${instance.name} overlays`,
      `the overlay mount options are ${options.length} bytes, more than the kernel's ${MOUNT_OPTIONS_MAX}; use fewer overlays or shorter layout paths`,
    );
  }
  const text = renderUnit([
    [
      'Unit',
      [
        ['Description', `left4me overlay for instance ${instance.name}`],
        { comment: 'Unmounted when the server stops. A server restart keeps the old stack; restarting this unit' },
        { comment: 'remounts it and restarts the server too (RequiresMountsFor= implies Requires=).' },
        ['StopWhenUnneeded', 'yes'],
        ['DefaultDependencies', 'no'],
        ['Conflicts', 'umount.target'],
        ['Before', 'umount.target'],
        { comment: 'systemd does not look inside Options=, so the layers get their own mount dependencies.' },
        ...[...lowers, paths.upperDir, paths.workDir].map((p): Line => ['RequiresMountsFor', p]),
      ],
    ],
    [
      'Mount',
      [
        ['What', 'overlay'],
        ['Where', paths.runtimeDir],
        ['Type', 'overlay'],
        { comment: 'index=off: the lower stack changes between mounts and must not be pinned to the upper layer.' },
        ['Options', options],
      ],
    ],
  ]);
  return { fileName: mountUnitName(paths.runtimeDir), text };
}

/**
 * The three slices: `l4d2.slice` (the parent, competing with system.slice),
 * `l4d2-game.slice` (high weight) and `l4d2-build.slice` (low weight, memory
 * cap). Returns file name → text, sorted by name. Pure.
 */
export function renderSlices(cfg: UnitConfig = defaultUnitConfig()): Map<string, string> {
  validateConfig(cfg);
  const slice = (description: string, s: SliceSettings): string =>
    renderUnit([
      ['Unit', [['Description', description]]],
      [
        'Slice',
        [
          ['CPUWeight', String(s.cpuWeight)],
          ['IOWeight', String(s.ioWeight)],
          ...(s.memoryMax === undefined ? [] : [['MemoryMax', s.memoryMax] as const]),
          ...(s.allowedCpus === undefined ? [] : [['AllowedCPUs', s.allowedCpus] as const]),
        ],
      ],
    ]);
  return new Map([
    [BUILD_SLICE_UNIT, slice('left4me overlay and installation builds', cfg.slices.build)],
    [GAME_SLICE_UNIT, slice('left4me game servers', cfg.slices.game)],
    [PARENT_SLICE_UNIT, slice('left4me game servers and builds', cfg.slices.parent)],
  ]);
}

// ---------------------------------------------------------------------------
// launch.env: read by PID 1 (EnvironmentFile=) before the sandbox is set up,
// then `$LEFT4ME_ARGS` in ExecStart= is split into words. Two parsers, two
// quoting layers: the word layer honours "..." with backslash escapes, the
// env-file layer honours "..." where \" \\ \` \$ are escapes.

const BARE_ARG_RE = /^[A-Za-z0-9_+=:,./@-]+$/;

function quoteWord(arg: string): string {
  return BARE_ARG_RE.test(arg) ? arg : `"${arg.replace(/[\\"]/g, '\\$&')}"`;
}

function quoteEnvValue(value: string): string {
  return `"${value.replace(/[\\"`$]/g, '\\$&')}"`;
}

/** The srcds_run arguments of an instance, in order, validated. Pure; throws UnitRenderError naming the bad field. */
export function launchArgs(instance: Pick<InstanceUnitSpec, 'name' | 'launch'>, cfg: UnitConfig = defaultUnitConfig()): string[] {
  validateConfig(cfg);
  checkName('instance name', instance.name);
  const where = `instance ${instance.name} launch`;
  const l = instance.launch;
  checkInt(`${where}.port`, l.port, 1, 65535);
  checkInt(`${where}.clientPort`, l.clientPort, 1, 65535);
  if (l.port === l.clientPort) throw new UnitRenderError(`${where}.clientPort`, `equals the game port ${l.port}; lease a different one`);
  checkInt(`${where}.maxPlayers`, l.maxPlayers, 1, 255);
  const args = ['-game', 'left4dead2', '-port', String(l.port), '+clientport', String(l.clientPort), '-ip', cfg.server.bindAddress];
  args.push('+map', checkArg(`${where}.map`, l.map), '-strictportbind', '-norestart');
  if (l.tickrate !== undefined && l.tickrate !== null) args.push('-tickrate', String(checkInt(`${where}.tickrate`, l.tickrate, 1, 1000)));
  args.push('+maxplayers', String(l.maxPlayers));
  (l.extraArgs ?? []).forEach((arg, i) => {
    const field = `${where}.extraArgs[${i}]`;
    checkArg(field, arg);
    if (RESERVED_LAUNCH_ARGS.includes(arg.toLowerCase())) {
      throw new UnitRenderError(field, `${arg} is set by left4me or unsafe under systemd; remove it from launchArgs`);
    }
    args.push(arg);
  });
  return args;
}

function checkArg(field: string, arg: unknown): string {
  if (typeof arg !== 'string' || arg === '') throw new UnitRenderError(field, 'must be a non-empty string');
  // A newline would end the env-file line and start a new variable; no quoting survives every parser.
  if (/[\u0000-\u001f\u007f]/.test(arg)) throw new UnitRenderError(field, `${JSON.stringify(arg)} contains control characters`);
  if (/[\uD800-\uDFFF]/.test(arg.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) {
    throw new UnitRenderError(field, `${JSON.stringify(arg)} is not valid Unicode`);
  }
  return arg;
}

/** The instance's launch.env (`LEFT4ME_ARGS="..."`), quoted so systemd hands srcds_run exactly launchArgs(). Pure. */
export function renderLaunchEnv(instance: Pick<InstanceUnitSpec, 'name' | 'launch'>, cfg: UnitConfig = defaultUnitConfig()): string {
  const words = launchArgs(instance, cfg).map(quoteWord).join(' ');
  return `${MANAGED_HEADER}\n${LAUNCH_ARGS_VAR}=${quoteEnvValue(words)}\n`;
}

/**
 * The game port a rendered launch.env starts srcds on (`-port N`), or
 * undefined for text that is not one. A running server's launch.env on disk
 * is what it was started with, so this is the port to ask while a changed
 * port waits for the restart. Pure.
 */
export function launchEnvPort(text: string | undefined): number | undefined {
  const m = text === undefined ? null : /^LEFT4ME_ARGS="[^\n]*?(?:^|\s)-port (\d{1,5})(?:\s|")/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The game and client ports an instance's launch.env starts its server with (the host's truth when leases.json is lost). Pure. */
export function launchEnvPorts(text: string | undefined): { port: number; clientPort: number } | undefined {
  const port = launchEnvPort(text);
  const m = text === undefined ? null : /^LEFT4ME_ARGS="[^\n]*?(?:^|\s)\+clientport (\d{1,5})(?:\s|")/m.exec(text);
  return port !== undefined && m ? { port, clientPort: Number(m[1]) } : undefined;
}

// ---------------------------------------------------------------------------
// The whole host.

function checkUnique(instances: readonly InstanceUnitSpec[]): void {
  const seen = new Set<string>();
  for (const i of instances) {
    if (seen.has(i.name)) throw new UnitRenderError('instances', `instance ${i.name} is listed twice`);
    seen.add(i.name);
  }
}

/**
 * Every unit file left4me owns for a desired host: slices, the server
 * template and one mount per instance, as file name → text sorted by name
 * (so two renders of the same input compare equal). Pure.
 */
export function renderUnitFiles(instances: readonly InstanceUnitSpec[], cfg: UnitConfig = defaultUnitConfig()): Map<string, string> {
  checkUnique(instances);
  const files = new Map<string, string>(renderSlices(cfg));
  files.set(SERVER_TEMPLATE_UNIT, renderServerTemplate(cfg));
  for (const instance of instances) {
    const { fileName, text } = renderInstanceMount(instance, cfg);
    files.set(fileName, text);
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Every instance's launch.env, as absolute path → text sorted by path. Pure. */
export function renderLaunchEnvFiles(instances: readonly InstanceUnitSpec[], cfg: UnitConfig = defaultUnitConfig()): Map<string, string> {
  checkUnique(instances);
  const files = instances.map((i) => [instancePaths(i.name, cfg.layout).launchEnv, renderLaunchEnv(i, cfg)] as const);
  return new Map(files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
