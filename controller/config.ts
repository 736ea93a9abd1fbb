import { join } from 'node:path';
import { DEFAULT_PORT_RANGES, type PortRanges } from './documents/crosscheck.js';
import { resolveUnitConfig, type UnitConfig, type UnitConfigOverrides } from './systemd/units.js';

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
  /** This host's node name; instances naming another node are not run here. */
  node?: string;
  fsRoot: string;
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
  /** `/var/lib/left4me`: builds, logs, status, secrets live below it. */
  dataDir: string;
  /** Base URL of the Steam Web API. */
  steamApiBase: string;
  /** Builds at once, overlays and Steam installations together (each runs at most one build sandbox at a time). */
  buildConcurrency: number;
  /** Largest single download of a build, in bytes. */
  maxDownloadBytes: number;
  /** Cap on one archive's content, in bytes: a document's larger maxSize gets this. */
  maxArchiveBytes: number;
  /** Cap on one overlay build, in bytes: held while archives extract, checked after every step. */
  maxBuildBytes: number;
}

/** Options a caller may set; the rest comes from production defaults. */
export interface ControllerConfigInput {
  stateDir?: string;
  units?: UnitConfigOverrides;
  unitDir?: string;
  portRanges?: PortRanges;
  node?: string;
  fsRoot?: string;
  busAddress?: string;
  resyncMs?: number;
  concurrency?: number;
  emptyPollMs?: number;
  trashRetentionMs?: number;
  steamApiBase?: string;
  buildConcurrency?: number;
  maxDownloadBytes?: number;
  maxArchiveBytes?: number;
  maxBuildBytes?: number;
}

/** Production defaults (DESIGN.md host layout) merged with the given options. */
export function controllerConfig(input: ControllerConfigInput = {}): ControllerConfig {
  const units = resolveUnitConfig(input.units ?? {});
  const dataDir = units.layout.instancesDir.replace(/\/instances$/, '');
  return {
    stateDir: input.stateDir ?? '/etc/left4me/state',
    units,
    unitDir: input.unitDir ?? '/etc/systemd/system',
    secretsDir: join(dataDir, 'secrets'),
    trashDir: join(dataDir, 'trash'),
    portRanges: input.portRanges ?? DEFAULT_PORT_RANGES,
    ...(input.node !== undefined ? { node: input.node } : {}),
    fsRoot: input.fsRoot ?? '/',
    ...(input.busAddress !== undefined ? { busAddress: input.busAddress } : {}),
    resyncMs: input.resyncMs ?? 60_000,
    concurrency: input.concurrency ?? 32,
    emptyPollMs: input.emptyPollMs ?? 15_000,
    trashRetentionMs: input.trashRetentionMs ?? 7 * 86_400_000,
    dataDir,
    steamApiBase: input.steamApiBase ?? 'https://api.steampowered.com',
    buildConcurrency: input.buildConcurrency ?? 2,
    maxDownloadBytes: input.maxDownloadBytes ?? 8 * 2 ** 30,
    // As large as the largest download: twice the schema's default maxSize, room for the biggest map packs.
    maxArchiveBytes: input.maxArchiveBytes ?? 8 * 2 ** 30,
    // Room for a few large map packs plus a big workshop collection in one overlay.
    maxBuildBytes: input.maxBuildBytes ?? 20 * 2 ** 30,
  };
}

/** Maps a host path to where this process can reach it. */
export function onHost(cfg: Pick<ControllerConfig, 'fsRoot'>, path: string): string {
  return cfg.fsRoot === '/' ? path : join(cfg.fsRoot, path);
}
