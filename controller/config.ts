import { onHostPath, type LocalDirs } from './host/layout.js';
import { DEFAULT_PORT_RANGES, type PortRanges } from './documents/crosscheck.js';
import { DEFAULT_UID_RANGE, type UidRange } from './status/uid-leases.js';
import { DEFAULT_INSTALLATION_ROOTS, isInsideDir } from './documents/installation-path.js';
import type { LoadOptions } from './documents/loader.js';
import { resolveUnitConfig, type UnitConfig, type UnitConfigOverrides } from './systemd/units.js';
import type { GitSourceConfig } from './sources/types.js';

/**
 * Everything the controller needs to know about its host. Paths are as
 * systemd on that host sees them; `fsRoot` maps them to where this process
 * reads and writes them (`/` in production; `/proc/PID/root` when driving a
 * private test host from outside it).
 */
export interface ControllerConfig {
  /**
   * The documents, as this process reaches them. Not mapped through fsRoot:
   * only the controller reads them, and realpath(3) cannot see through
   * /proc/PID/root, which the loader's symlink checks rely on.
   */
  stateDir: string;
  units: UnitConfig;
  /** Where unit files are written: `/etc/systemd/system` in production, `/run/systemd/system` on test hosts. */
  unitDir: string;
  /** Root-only secrets (RCON passwords). */
  secretsDir: string;
  /** Writable layers of deleted or reset instances, kept for a while instead of destroyed. */
  trashDir: string;
  portRanges: PortRanges;
  /** Uids leased to game servers, one per instance. */
  uidRange: UidRange;
  /** This host's node name; instances naming another node are not run here. */
  node?: string;
  fsRoot: string;
  /** The data and configuration directories as this process reaches them directly, when not through fsRoot (tests: a private host's bind sources; git resolves real paths). */
  localDirs?: LocalDirs;
  /** D-Bus address of the system bus (default: the standard system bus). */
  busAddress?: string;
  /** Periodic resync (± 10% jitter). */
  resyncMs: number;
  /** Keys reconciled at once. */
  concurrency: number;
  /** How often a whenEmpty rollout asks a server for its player count. */
  emptyPollMs: number;
  /** How long writable layers of deleted or reset instances stay in the trash. */
  trashRetentionMs: number;
  /** How often each running server's players, CPU and memory are sampled into its history (default a minute). */
  historyIntervalMs: number;
  /** `/var/lib/left4me`: builds, logs, status, secrets live below it. */
  dataDir: string;
  /** Base URL of the Steam Web API. */
  steamApiBase: string;
  /** Builds at once, overlays and Steam installations together (each runs at most one build sandbox at a time). */
  buildConcurrency: number;
  /** Largest single download of a build, in bytes. */
  maxDownloadBytes: number;
  /** Networks (CIDR) the controller's own downloads and the Steam Web API may reach besides public addresses; empty in production. */
  allowedDownloadNetworks: readonly string[];
  /** Host directories that `source: directory` installations must lie below; see installationRootProblem. */
  installationRoots: readonly string[];
  /** Cap on one archive's content, in bytes: a document's larger maxSize gets this. */
  maxArchiveBytes: number;
  /** Cap on one overlay build, in bytes: held while archives extract, checked after every step. */
  maxBuildBytes: number;
  /** Git repositories whose documents this controller serves beside the local ones (controller.yaml `sources:`). */
  sources: readonly GitSourceConfig[];
}

/** Options a caller may set; the rest comes from production defaults. */
export interface ControllerConfigInput {
  stateDir?: string;
  units?: UnitConfigOverrides;
  unitDir?: string;
  portRanges?: PortRanges;
  uidRange?: UidRange;
  node?: string;
  fsRoot?: string;
  localDirs?: LocalDirs;
  busAddress?: string;
  resyncMs?: number;
  concurrency?: number;
  emptyPollMs?: number;
  trashRetentionMs?: number;
  historyIntervalMs?: number;
  steamApiBase?: string;
  buildConcurrency?: number;
  maxDownloadBytes?: number;
  allowedDownloadNetworks?: readonly string[];
  installationRoots?: readonly string[];
  maxArchiveBytes?: number;
  maxBuildBytes?: number;
  sources?: readonly GitSourceConfig[];
}

/** Production defaults (DESIGN.md host layout) merged with the given options. */
export function controllerConfig(input: ControllerConfigInput = {}): ControllerConfig {
  const units = resolveUnitConfig(input.units ?? {});
  const { dataDir, secretsDir, trashDir } = units.layout;
  return {
    stateDir: input.stateDir ?? '/etc/left4me/state',
    units,
    unitDir: input.unitDir ?? '/etc/systemd/system',
    secretsDir,
    trashDir,
    portRanges: input.portRanges ?? DEFAULT_PORT_RANGES,
    uidRange: input.uidRange ?? DEFAULT_UID_RANGE,
    ...(input.node !== undefined ? { node: input.node } : {}),
    fsRoot: input.fsRoot ?? '/',
    ...(input.localDirs !== undefined ? { localDirs: input.localDirs } : {}),
    ...(input.busAddress !== undefined ? { busAddress: input.busAddress } : {}),
    resyncMs: input.resyncMs ?? 60_000,
    concurrency: input.concurrency ?? 32,
    emptyPollMs: input.emptyPollMs ?? 15_000,
    trashRetentionMs: input.trashRetentionMs ?? 7 * 86_400_000,
    historyIntervalMs: input.historyIntervalMs ?? 60_000,
    dataDir,
    steamApiBase: input.steamApiBase ?? 'https://api.steampowered.com',
    buildConcurrency: input.buildConcurrency ?? 2,
    maxDownloadBytes: input.maxDownloadBytes ?? 8 * 2 ** 30,
    allowedDownloadNetworks: input.allowedDownloadNetworks ?? [],
    installationRoots: input.installationRoots ?? DEFAULT_INSTALLATION_ROOTS,
    // As large as the largest download: twice the schema's default maxSize, room for the biggest map packs.
    maxArchiveBytes: input.maxArchiveBytes ?? 8 * 2 ** 30,
    // Room for a few large map packs plus a big workshop collection in one overlay.
    maxBuildBytes: input.maxBuildBytes ?? 20 * 2 ** 30,
    sources: input.sources ?? [],
  };
}

/** The directories a controller keeps (state, data, units, secrets, every layout tree), labelled for messages; what no installation root may overlap. */
export function keptDirectories(cfg: ControllerConfig): Array<[label: string, dir: string]> {
  const l = cfg.units.layout;
  return [
    ['the state directory', cfg.stateDir],
    ['the data directory', cfg.dataDir],
    ['the unit directory', cfg.unitDir],
    ['the secrets directory', cfg.secretsDir],
    ['the trash', cfg.trashDir],
    ['the configuration directory', l.configDir],
    ...(['installationDir', 'overlaysDir', 'instancesDir', 'runtimeDir', 'statusDir', 'cacheDir'] as const).map((k): [string, string] => [`layout.${k}`, l[k]]),
  ];
}

/**
 * Why the installation roots are unsafe, or undefined: each must be an
 * absolute, normalized path (it ends up in overlayfs options) that neither
 * contains nor lies inside any of the `kept` directories, so no document can
 * mount what the controller keeps there. Pure.
 */
export function installationRootProblem(roots: readonly string[], kept: ReadonlyArray<readonly [string, string]>): string | undefined {
  for (const root of roots) {
    const parts = root.split('/');
    if (!root.startsWith('/') || root === '/' || parts.slice(1).some((p) => p === '' || p === '.' || p === '..') || !/^[A-Za-z0-9._@+/-]+$/.test(root)) {
      return `installation root ${JSON.stringify(root)} must be an absolute, normalized path below / of letters, digits and . _ @ + - (no '.', '..', '//' or trailing '/')`;
    }
    const clash = kept.find(([, dir]) => isInsideDir(root, dir) || isInsideDir(dir, root));
    if (clash) return `installation root ${root} overlaps ${clash[0]} (${clash[1]}); a directory installation there could mount what the controller keeps. Choose a separate tree such as /srv/left4me/installations`;
  }
  return undefined;
}

/** What the loader needs to judge documents as this controller does: port ranges, installation roots, where the host's files are. */
export function documentLoadOptions(cfg: ControllerConfig): Pick<LoadOptions, 'portRanges' | 'installationRoots' | 'fsRoot'> {
  return { portRanges: cfg.portRanges, installationRoots: cfg.installationRoots, fsRoot: cfg.fsRoot };
}

/** Maps a host path to where this process can reach it. */
export function onHost(cfg: Pick<ControllerConfig, 'fsRoot'>, path: string): string {
  return onHostPath(cfg.fsRoot, path);
}

/** Node names, as `spec.node` and `--node` write them. */
const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The node name a controller takes when none is given: the host name's first
 * label in lower case (`EU-1.example.org` → `eu-1`), or undefined when that
 * is no node name (then only instances without `node` run). Pure.
 */
export function defaultNodeName(hostname: string): string | undefined {
  const label = hostname.trim().split('.')[0]!.toLowerCase();
  return NODE_NAME.test(label) ? label : undefined;
}
