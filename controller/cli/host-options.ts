import { controllerConfig, type ControllerConfig, type ControllerConfigInput } from '../config.js';
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
  'max-archive-bytes': { type: 'string' },
  'max-build-bytes': { type: 'string' },
  'build-concurrency': { type: 'string' },
} as const;

type HostValues = { state?: string; demo?: boolean; 'data-dir'?: string; 'unit-dir'?: string; 'fs-root'?: string; bus?: string; node?: string; 'port-range'?: string; 'client-port-range'?: string };
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

/** The controller configuration the host options (and --demo) describe. */
export function hostConfig(values: HostValues & LimitValues, extra: ControllerConfigInput = {}): ControllerConfig {
  const target = resolveTarget(values);
  const demo = target.demo;
  const game = parseRange('--port-range', values['port-range'] ?? '27015-27115');
  const client = parseRange('--client-port-range', values['client-port-range'] ?? '26900-27000');
  if (game.min <= client.max && client.min <= game.max) throw new UsageError('--port-range and --client-port-range must not overlap');
  const bus = values.bus ?? demo?.busAddress;
  const dataDir = values['data-dir'];
  return controllerConfig({
    stateDir: target.stateDir,
    unitDir: values['unit-dir'] ?? demo?.unitDir ?? '/etc/systemd/system',
    fsRoot: values['fs-root'] ?? demo?.fsRoot ?? '/',
    ...(bus ? { busAddress: bus } : {}),
    ...(values.node !== undefined ? { node: values.node } : {}),
    ...(dataDir !== undefined
      ? { units: { layout: { instancesDir: `${dataDir}/instances`, overlaysDir: `${dataDir}/overlays`, runtimeDir: `${dataDir}/runtime`, statusDir: `${dataDir}/status`, cacheDir: `${dataDir}/cache`, installationDir: `${dataDir}/installation` } } }
      : {}),
    portRanges: { game, client },
    ...limitsFrom(values),
    ...extra,
  });
}
