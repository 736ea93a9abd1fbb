import { loadControllerConfigFile } from '../config-file.js';
import { formatProblem } from '../documents/problems.js';
import { parse, UsageError } from './args.js';
import { configPath } from './host-options.js';
import type { Io } from './io.js';

/**
 * `left4me config check [FILE]`: checks a controller configuration file the
 * way `left4me controller` reads it at start (FILE defaults to
 * /etc/left4me/controller.yaml), so an operator can check a change before a
 * restart. Exit 0 when the controller would start with it, 1 with every
 * problem as file:line:col. Reads the file only; any account may run it
 * (as root it also applies the controller's rule on who owns the file).
 */
export async function configCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'check') throw new UsageError(sub === undefined ? 'config needs a subcommand: check [FILE]' : `unknown config subcommand "${sub}" (only: check [FILE])`);
  const { positionals } = parse(rest, {});
  if (positionals.length > 1) throw new UsageError('config check takes at most one file');
  const explicit = positionals[0];
  const path = configPath(explicit !== undefined ? { config: explicit } : {});
  // As root, the ownership rule the controller applies too; as anyone else the file is only read.
  const uid = process.getuid?.();
  const file = await loadControllerConfigFile(path, { optional: explicit === undefined, ...(uid === 0 ? { owner: 0 } : {}) });
  if (file.problems.length > 0) {
    for (const p of file.problems) io.out(`${formatProblem(p)}\n`);
    io.err(`${path}: ${file.problems.length} problem${file.problems.length === 1 ? '' : 's'}; the controller would refuse to start\n`);
    return 1;
  }
  if (!file.found) {
    io.out(`${path}: no such file; the controller runs on its flags and defaults\n`);
    return 0;
  }
  const names = file.options.sources.map((s) => s.name);
  io.out(`${path}: valid; ${names.length} source${names.length === 1 ? '' : 's'}${names.length ? ` (${names.join(', ')})` : ''}\n`);
  return 0;
}
