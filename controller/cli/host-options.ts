import { installationRootProblem, type ControllerConfig, type ControllerConfigInput } from '../config.js';
import {
  DEFAULT_CONTROLLER_CONFIG,
  hostSettingsConfig,
  loadControllerConfigFile,
  portRange,
  SettingError,
  sizeBytes,
  type ControllerFileResult,
  type HostSettings,
  type SettingName,
} from '../config-file.js';
import { formatProblem } from '../documents/problems.js';
import type { Io } from './io.js';
import { DEFAULT_INSTALLATION_ROOTS } from '../documents/installation-path.js';
import type { LoadOptions } from '../documents/loader.js';
import { DEFAULT_DATA_DIR, onHostPath } from '../host/layout.js';
import { defaultUnitConfig } from '../systemd/units.js';
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

/** `--config FILE`: the controller configuration file of the verbs that read it (controller, diff); not the demo's. */
export const CONFIG_OPTION = { config: { type: 'string' } } as const;

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

/** The flag of each host setting; the ones without a flag are set only in controller.yaml. */
const FLAGS: Record<SettingName, string> = {
  stateDir: '--state',
  dataDir: '--data-dir',
  configDir: 'configDir',
  unitDir: '--unit-dir',
  fsRoot: '--fs-root',
  busAddress: '--bus',
  node: '--node',
  portRange: '--port-range',
  clientPortRange: '--client-port-range',
  uidRange: '--uid-range',
  allowDownloadNetworks: '--allow-download-network',
  installationRoots: '--installation-root',
  maxArchiveBytes: '--max-archive-bytes',
  maxBuildBytes: '--max-build-bytes',
  maxDownloadBytes: 'maxDownloadBytes',
  buildConcurrency: '--build-concurrency',
  concurrency: 'concurrency',
  steamApiBase: 'steamApiBase',
  serverSandbox: '--server-sandbox',
};

/** Parses a size such as `8G`, `512MiB` or `1048576` (binary units) into bytes, at least 1. */
export function parseBytes(flag: string, text: string): number {
  const bytes = sizeBytes(text);
  if (bytes === undefined) throw new UsageError(`${flag} must be a size in bytes such as 8G, 512M or 1048576 (at least 1)`);
  return bytes;
}

/** Parses `27015-27115` into an inclusive range of unprivileged ports. */
export function parseRange(flag: string, text: string): { min: number; max: number } {
  const range = portRange(text);
  if (!range) throw new UsageError(`${flag} must look like 27015-27115 (ports 1024-65535, low first)`);
  return range;
}

/** The host settings the flags give (and --demo's host), only those set: what a configuration file's values give way to. */
export function flagSettings(values: HostValues & LimitValues): HostSettings {
  const target = resolveTarget(values);
  const demo = target.demo;
  const given: Array<[SettingName, unknown]> = [
    ['stateDir', values.state !== undefined || demo ? target.stateDir : undefined],
    ['dataDir', values['data-dir']],
    ['unitDir', values['unit-dir'] ?? demo?.unitDir],
    ['fsRoot', values['fs-root'] ?? demo?.fsRoot],
    ['busAddress', values.bus ?? demo?.busAddress],
    ['node', values.node],
    ['portRange', values['port-range']],
    ['clientPortRange', values['client-port-range']],
    ['uidRange', values['uid-range']],
    ['allowDownloadNetworks', values['allow-download-network']],
    ['installationRoots', values['installation-root'] ?? demo?.installationRoots],
    ['maxArchiveBytes', values['max-archive-bytes']],
    ['maxBuildBytes', values['max-build-bytes']],
    ['buildConcurrency', values['build-concurrency']],
    ['serverSandbox', values['server-sandbox']],
  ];
  return Object.fromEntries(given.filter(([, v]) => v !== undefined)) as HostSettings;
}

/**
 * The controller configuration the host options (and --demo) describe, over
 * the settings of a configuration file when one is given: a flag wins over
 * the file. A bad value is a UsageError naming its flag, or its field and file.
 */
export function hostConfig(values: HostValues & LimitValues, extra: ControllerConfigInput = {}, file?: { path: string; settings: HostSettings }): ControllerConfig {
  const flags = flagSettings(values);
  const name = (s: SettingName) => (s in flags || !file || !(s in file.settings) ? FLAGS[s] : `${s} (${file.path})`);
  try {
    return hostSettingsConfig({ ...file?.settings, ...flags }, name, extra);
  } catch (err) {
    if (err instanceof SettingError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * The configuration file: `--config FILE`, else the default path on the host
 * the verb drives (through `--fs-root` or the demo host's root, so a test or
 * demo host's verbs never read this machine's /etc/left4me/controller.yaml).
 */
export function configPath(values: HostValues & { config?: string }): string {
  return values.config ?? onHostPath(flagSettings(values).fsRoot ?? resolveTarget(values).demo?.fsRoot ?? '/', DEFAULT_CONTROLLER_CONFIG);
}

/**
 * Reads the configuration file of a controller-side verb, whole: with any
 * problem, prints each as file:line:col and returns undefined (the verb exits
 * 1, before touching the host). A missing default file is no configuration.
 */
export async function readConfigFile(values: HostValues & { config?: string }, verb: string, refusal: string, io: Io): Promise<(ControllerFileResult & { path: string }) | undefined> {
  const path = configPath(values);
  const file = await loadControllerConfigFile(path, { optional: values.config === undefined, owner: process.getuid?.() });
  if (file.problems.length === 0) return { ...file, path };
  for (const p of file.problems) io.err(`${formatProblem(p)}\n`);
  io.err(`left4me ${verb}: ${path} has ${file.problems.length} problem${file.problems.length === 1 ? '' : 's'}; ${refusal} (check it with \`left4me config check ${path}\`)\n`);
  return undefined;
}

/**
 * Loader options for the verbs that read documents (validate, get, apply…),
 * so they judge directory installations as the controller on that host does:
 * the same roots (refused the same way), the same port ranges and the same
 * file system — from the flags, else the host's configuration file
 * (`file`, read by the caller), else the defaults. No unit layout is built,
 * so a scratch --data-dir anywhere still works.
 */
export function documentOptions(values: HostValues, file: HostSettings = {}): LoadOptions {
  const target = resolveTarget(values);
  const demo = target.demo;
  const installationRoots = values['installation-root'] ?? file.installationRoots ?? demo?.installationRoots ?? DEFAULT_INSTALLATION_ROOTS;
  const unsafe = installationRootProblem(installationRoots, [
    ['the state directory', target.stateDir],
    ['the data directory', values['data-dir'] ?? demo?.dataDir ?? DEFAULT_DATA_DIR],
    ['the configuration directory', defaultUnitConfig().layout.configDir],
    ['the unit directory', demo?.unitDir ?? '/etc/systemd/system'],
  ]);
  if (unsafe) throw new UsageError(`--installation-root: ${unsafe}`);
  // The controller's port ranges, when given, so that a verb judges fixed ports as the controller will.
  const game = values['port-range'] ?? file.portRange;
  const client = values['client-port-range'] ?? file.clientPortRange;
  const ranges = game !== undefined || client !== undefined
    ? { portRanges: { game: parseRange('--port-range', game ?? '27015-27115'), client: parseRange('--client-port-range', client ?? '26900-27000') } }
    : {};
  return { installationRoots, fsRoot: demo?.fsRoot ?? '/', ...ranges };
}
