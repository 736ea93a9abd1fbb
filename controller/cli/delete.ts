import { deleteDocument } from '../documents/writer.js';
import { report } from './apply.js';
import { parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { parseKind } from './kinds.js';
import { documentOptionsWithSources } from './document-sources.js';
import { resolveTarget } from './target.js';

/**
 * `left4me delete KIND NAME [--dry-run]`: removes a document (valid or broken)
 * from the state directory, refusing while other documents still use it (writer.ts).
 */
export async function deleteCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { 'dry-run': { type: 'boolean' } });
  const kind = parseKind(positionals[0]);
  const name = positionals[1];
  if (!name || positionals.length > 2) throw new UsageError('delete takes KIND and NAME');
  const target = resolveTarget(values);
  const dryRun = values['dry-run'] ?? false;
  return report(await deleteDocument(target.stateDir, kind, name, { dryRun, ...(await documentOptionsWithSources(values)) }), dryRun, target.stateDir, io);
}
