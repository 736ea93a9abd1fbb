// `npm start -- <controller options>`: the demo's controller takes the same
// host options as `left4me controller`, so it behaves exactly like a
// production one (e.g. refusing downloads from loopback) unless told otherwise.
import { parse, UsageError } from '../cli/args.js';
import { HOST_OPTIONS, hostConfig } from '../cli/host-options.js';
import type { ControllerConfig, ControllerConfigInput } from '../config.js';

/** Usage of `npm start`, printed for -h and with usage errors. */
export const DEMO_USAGE = `usage: npm start [-- CONTROLLER OPTIONS]

Boots a private systemd with the demo servers. Controller options (as for
\`left4me controller\`) are passed to the demo's controller, e.g.:
  --allow-download-network CIDR   let overlay downloads reach a non-public network (repeatable)
  --port-range A-B, --client-port-range A-B, --node NAME
  --server-sandbox compat         run the demo servers under the previous deployment's sandbox
`;

// Where the demo host keeps its documents, units and bus is the demo's own business.
const OWNED = ['state', 'data-dir', 'unit-dir', 'fs-root', 'bus', 'demo'] as const;

/**
 * The demo controller's configuration: `args` parsed as host options, with
 * the demo host's own paths and bus (`host`) on top. Throws UsageError for an
 * unknown option or one the demo sets itself; returns undefined for -h.
 */
export function demoControllerConfig(args: string[], host: ControllerConfigInput): ControllerConfig | undefined {
  const { values, positionals } = parse(args, HOST_OPTIONS);
  if (values.help) return undefined;
  if (positionals.length > 0) throw new UsageError(`npm start takes options only, not ${JSON.stringify(positionals[0])}`);
  const owned = OWNED.find((name) => values[name] !== undefined);
  if (owned) throw new UsageError(`npm start sets --${owned} for its private host itself; leave it out`);
  return hostConfig(values, host);
}
