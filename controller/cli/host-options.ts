import { parseNetwork } from '../builds/networks.js';
import { controllerConfig, installationRootProblem, keptDirectories, type ControllerConfig, type ControllerConfigInput } from '../config.js';
import { DEFAULT_INSTALLATION_ROOTS } from '../documents/installation-path.js';
import type { LoadOptions } from '../documents/loader.js';
import { DEFAULT_DATA_DIR, hostLayout } from '../host/layout.js';
import { uidRangeProblem } from '../systemd/server-accounts.js';
import { defaultUnitConfig, SERVER_SANDBOXES, type ServerSandbox } from '../systemd/units.js';
import { UsageError } from './args.js';
import { resolveTarget } from './target.js';

/** Options of the verbs that look at a host (controller, diff): they must see the host the same way. */
export const HOST_OPTIONS = {
  'unit-dir': { type: 'string' },
  'fs-root': { type: 'string' },
  bus: { type: 'string' },
  node: { type: 'string' },
  'port-range': { type: 'string' },
  'client-port-range': { type: 'string' },
  'allow-download-network': { type: 'string', multiple: true },
  'uid-range': { type: 'string' },
  'max-archive-bytes': { type: 'string' },
  'max-build-bytes': { type: 'string' },
  'build-concurrency': { type: 'string' },
  'server-sandbox': { type: 'string' },
} as const;

type HostValues = {
  state?: string;
  demo?: boolean;
  'data-dir'?: string;
  'installation-root'?: string[];
  'unit-dir'?: string;
  'fs-root'?: string;
  bus?: string;
  node?: string;
  'port-range'?: string;
  'client-port-range'?: string;
  'allow-download-network'?: string[];
  'uid-range'?: string;
  'server-sandbox'?: string;
};
/** The operator's limits on builds; documents only ask within them. */
type LimitValues = { 'max-archive-bytes'?: string; 'max-build-bytes'?: string; 'build-concurrency'?: string };

const BINARY_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Parses a size such as `8G`, `512MiB` or `1048576` (binary units) into bytes, at least 1. */
export function parseBytes(flag: string, text: string): number {
  const m = /^(\d{1,15})([kmgt]?)(?:i?b)?$/i.exec(text);
  const bytes = m ? Number(m[1]) * BINARY_UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new UsageError(`${flag} must be a size in bytes such as 8G, 512M or 1048576 (at least 1)`);
  return bytes;
}

function limitsFrom(values: LimitValues): ControllerConfigInput {
  const out: ControllerConfigInput = {};
  if (values['max-archive-bytes'] !== undefined) out.maxArchiveBytes = parseBytes('--max-archive-bytes', values['max-archive-bytes']);
  if (values['max-build-bytes'] !== undefined) out.maxBuildBytes = parseBytes('--max-build-bytes', values['max-build-bytes']);
  const builds = values['build-concurrency'];
  if (builds !== undefined) {
    if (!/^\d{1,2}$/.test(builds) || Number(builds) < 1 || Number(builds) > 64) throw new UsageError('--build-concurrency must be a whole number from 1 to 64');
    out.buildConcurrency = Number(builds);
  }
  return out;
}

/** Parses `27015-27115` into an inclusive range of unprivileged ports. */
export function parseRange(flag: string, text: string): { min: number; max: number } {
  const m = /^(\d{4,5})-(\d{4,5})$/.exec(text);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || min > max) throw new UsageError(`${flag} must look like 27015-27115 (ports 1024-65535, low first)`);
  return { min, max };
}

/** One --allow-download-network value, canonical (`127.0.0.1/8` is refused, naming `127.0.0.0/8`). */
function allowedNetwork(text: string): string {
  try {
    return parseNetwork(text).cidr;
  } catch (err) {
    throw new UsageError(`--allow-download-network ${(err as Error).message}`);
  }
}

/** Parses `--uid-range 1879048192-1879113727`: uids servers are leased from, refused where systemd reserves them. */
function parseUidRange(text: string | undefined, game: { min: number; max: number }): { min: number; max: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,10})-(\d{1,10})$/.exec(text);
  if (!m) throw new UsageError('--uid-range must look like 1879048192-1879113727');
  const range = { min: Number(m[1]), max: Number(m[2]) };
  const problem = uidRangeProblem(range, game);
  if (problem) throw new UsageError(`--uid-range ${problem}`);
  return range;
}

/** `--server-sandbox strict|compat`: the game servers' sandbox profile (see ServerSandbox in systemd/units.ts). */
function parseServerSandbox(text: string | undefined): ServerSandbox | undefined {
  if (text === undefined) return undefined;
  const profile = SERVER_SANDBOXES.find((p) => p === text);
  if (!profile) throw new UsageError(`--server-sandbox must be one of ${SERVER_SANDBOXES.join(', ')} (compat: the previous deployment's directives, for when srcds fails under strict)`);
  return profile;
}

/** The controller configuration the host options (and --demo) describe. */
export function hostConfig(values: HostValues & LimitValues, extra: ControllerConfigInput = {}): ControllerConfig {
  const target = resolveTarget(values);
  const demo = target.demo;
  const game = parseRange('--port-range', values['port-range'] ?? '27015-27115');
  const client = parseRange('--client-port-range', values['client-port-range'] ?? '26900-27000');
  if (game.min <= client.max && client.min <= game.max) throw new UsageError('--port-range and --client-port-range must not overlap');
  const uids = parseUidRange(values['uid-range'], game);
  const bus = values.bus ?? demo?.busAddress;
  const dataDir = values['data-dir'];
  const roots = values['installation-root'] ?? demo?.installationRoots;
  const sandbox = parseServerSandbox(values['server-sandbox']);
  const cfg = controllerConfig({
    stateDir: target.stateDir,
    unitDir: values['unit-dir'] ?? demo?.unitDir ?? '/etc/systemd/system',
    fsRoot: values['fs-root'] ?? demo?.fsRoot ?? '/',
    ...(bus ? { busAddress: bus } : {}),
    ...(values.node !== undefined ? { node: values.node } : {}),
    ...(dataDir !== undefined || sandbox !== undefined
      ? { units: { ...(dataDir !== undefined ? { layout: hostLayout(dataDir) } : {}), ...(sandbox !== undefined ? { server: { sandbox } } : {}) } }
      : {}),
    portRanges: { game, client },
    allowedDownloadNetworks: (values['allow-download-network'] ?? []).map(allowedNetwork),
    ...(uids ? { uidRange: uids } : {}),
    ...(roots !== undefined ? { installationRoots: roots } : {}),
    ...limitsFrom(values),
    ...extra,
  });
  const unsafe = installationRootProblem(cfg.installationRoots, keptDirectories(cfg));
  if (unsafe) throw new UsageError(`--installation-root: ${unsafe}`);
  return cfg;
}

/**
 * Loader options for the verbs that read documents (validate, get, apply…),
 * so they judge directory installations as the controller on that host does:
 * the same roots (refused the same way) and the same file system. No unit
 * layout is built, so a scratch --data-dir anywhere still works.
 */
export function documentOptions(values: HostValues): LoadOptions {
  const target = resolveTarget(values);
  const demo = target.demo;
  const installationRoots = values['installation-root'] ?? demo?.installationRoots ?? DEFAULT_INSTALLATION_ROOTS;
  const unsafe = installationRootProblem(installationRoots, [
    ['the state directory', target.stateDir],
    ['the data directory', values['data-dir'] ?? demo?.dataDir ?? DEFAULT_DATA_DIR],
    ['the configuration directory', defaultUnitConfig().layout.configDir],
    ['the unit directory', demo?.unitDir ?? '/etc/systemd/system'],
  ]);
  if (unsafe) throw new UsageError(`--installation-root: ${unsafe}`);
  // The controller's port ranges, when given, so that a verb judges fixed ports as the controller will.
  const ranges = values['port-range'] !== undefined || values['client-port-range'] !== undefined
    ? { portRanges: { game: parseRange('--port-range', values['port-range'] ?? '27015-27115'), client: parseRange('--client-port-range', values['client-port-range'] ?? '26900-27000') } }
    : {};
  return { installationRoots, fsRoot: demo?.fsRoot ?? '/', ...ranges };
}
