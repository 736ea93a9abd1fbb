import { loadState } from '../documents/loader.js';
import { formatProblem } from '../documents/problems.js';
import { parse, UsageError } from './args.js';
import { documentOptionsWithSources } from './document-sources.js';
import { documentOptions } from './host-options.js';
import { resolveTarget } from './target.js';
import type { Io } from './io.js';

/** `left4me validate [DIR]`: exit 0 when the whole tree is valid, 1 with the problem list when not. */
export async function validateCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {});
  if (positionals.length > 1) throw new UsageError('validate takes at most one directory');
  // The host's state directory is judged with the host's git sources beside it, as the controller reads it; a
  // directory named here (a clone of a repository, say) is judged alone.
  const dir = positionals[0] ?? resolveTarget(values).stateDir;
  const state = await loadState(dir, positionals[0] === undefined ? await documentOptionsWithSources(values) : documentOptions(values));
  const documents = state.installations.size + state.overlays.size + state.blueprints.size + state.instances.size;
  if (state.problems.length === 0) {
    io.out(`${dir}: ${documents} documents in ${state.fileCount} files are valid\n`);
    return 0;
  }
  for (const p of state.problems) io.out(`${formatProblem(p)}\n`);
  const files = new Set(state.problems.map((p) => p.file)).size;
  io.err(`${state.problems.length} problem${state.problems.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}; ${documents} valid documents\n`);
  return 1;
}
