// `npm start -- <controller options>`: the demo's controller takes the same
// host options as `left4me controller`, so it behaves exactly like a
// production one (e.g. refusing downloads from loopback) unless told otherwise.
import { parse, UsageError } from '../cli/args.js';
import { HOST_OPTIONS, hostConfig } from '../cli/host-options.js';
import type { ControllerConfig, ControllerConfigInput } from '../config.js';
import { gitUrlProblem, refNameProblem } from '../config-file.js';
import { validDocumentsPath } from '../sources/sync.js';
import type { GitSourceConfig } from '../sources/types.js';

/** Usage of `npm start`, printed for -h and with usage errors. */
export const DEMO_USAGE = `usage: npm start [-- CONTROLLER OPTIONS]

Boots a private systemd with the demo servers. Controller options (as for
\`left4me controller\`) are passed to the demo's controller, e.g.:
  --allow-download-network CIDR   let overlay downloads reach a non-public network (repeatable)
  --port-range A-B, --client-port-range A-B, --node NAME
  --source URL[#BRANCH][:PATH]    run the demo from a git repository (a local path, file://,
                                  https:// or ssh) instead of state.example/demo; polled every
                                  minute, and its webhook works too (source name: demo)
  --server-sandbox compat         run the demo servers under the previous deployment's sandbox
`;

/** The git source `npm start -- --source` names. */
export const DEMO_SOURCE = 'demo';

/** Splits a trailing `:PATH` off a URL when what stays is still a URL with a path (a local path, scheme://host/path, or user@host:path). */
function splitPath(spec: string): [url: string, path?: string] {
  const i = spec.lastIndexOf(':');
  if (i < 0) return [spec];
  const before = spec.slice(0, i);
  const after = spec.slice(i + 1);
  if (after === '' || after.startsWith('/')) return [spec];
  const schemeWithPath = /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/./i.test(before);
  const local = before.startsWith('/');
  const scpWithPath = /^[^/:]+:(?!\/\/)[^:]+$/.test(before);
  return schemeWithPath || local || scpWithPath ? [before, after] : [spec];
}

/**
 * `--source URL[#BRANCH][:PATH]` as a git source: BRANCH defaults to main and
 * PATH to the repository root. The URL, branch and path pass the same checks
 * as controller.yaml's (config-file.ts). Throws UsageError.
 */
export function demoSource(spec: string): GitSourceConfig {
  const hash = spec.indexOf('#');
  let url: string;
  let branch = 'main';
  let path: string | undefined;
  if (hash >= 0) {
    url = spec.slice(0, hash);
    const rest = spec.slice(hash + 1);
    const colon = rest.indexOf(':');
    if (colon >= 0) {
      path = rest.slice(colon + 1);
      if (colon > 0) branch = rest.slice(0, colon);
    } else if (rest !== '') branch = rest;
  } else {
    [url, path] = splitPath(spec);
  }
  const urlProblem = gitUrlProblem(url);
  if (urlProblem) throw new UsageError(`--source: ${urlProblem}`);
  const refProblem = refNameProblem(branch);
  if (refProblem) throw new UsageError(`--source: branch ${JSON.stringify(branch)}: ${refProblem}`);
  const docs = (path ?? '.').replace(/\/+$/, '') || '.';
  if (!validDocumentsPath(docs)) throw new UsageError(`--source: path ${JSON.stringify(path)} must be "." or a relative path inside the repository without "." or ".." parts`);
  return { name: DEMO_SOURCE, url, ref: { branch }, path: docs, intervalMs: 60_000, submodules: false, allowForcePush: false };
}

// Where the demo host keeps its documents, units and bus is the demo's own business.
const OWNED = ['state', 'data-dir', 'unit-dir', 'fs-root', 'bus', 'demo'] as const;

/**
 * The demo controller's configuration: `args` parsed as host options, with
 * the demo host's own paths and bus (`host`) on top. Throws UsageError for an
 * unknown option or one the demo sets itself; returns undefined for -h.
 */
export function demoControllerConfig(args: string[], host: ControllerConfigInput): ControllerConfig | undefined {
  const { values, positionals } = parse(args, { ...HOST_OPTIONS, source: { type: 'string' } });
  if (values.help) return undefined;
  if (positionals.length > 0) throw new UsageError(`npm start takes options only, not ${JSON.stringify(positionals[0])}`);
  const owned = OWNED.find((name) => values[name] !== undefined);
  if (owned) throw new UsageError(`npm start sets --${owned} for its private host itself; leave it out`);
  const source = typeof values.source === 'string' ? demoSource(values.source) : undefined;
  return hostConfig(values, { ...host, ...(source ? { sources: [source] } : {}) });
}
