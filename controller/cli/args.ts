import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage mistake: the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {}

/** Options every verb accepts. */
export const COMMON_OPTIONS = {
  state: { type: 'string' },
  demo: { type: 'boolean' },
  'data-dir': { type: 'string' },
  // Every verb that reads documents must judge directory installations as the controller does.
  'installation-root': { type: 'string', multiple: true },
  // ...and fixed ports by the controller's ranges: its configuration file (host-options.ts configPath).
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Default state directory on a host (DESIGN.md §1); `--state DIR` overrides it. */
export const DEFAULT_STATE_DIR = '/etc/left4me/state';

/** parseArgs in strict mode, with its errors turned into UsageErrors. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
