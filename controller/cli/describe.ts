import { documentsOf, loadState } from '../documents/loader.js';
import type { DocumentOrigin } from '../documents/origin.js';
import { formatProblem } from '../documents/problems.js';
import { StatusStore } from '../status/store.js';
import { serverAccountName } from '../systemd/server-accounts.js';
import { parse, UsageError } from './args.js';
import { age } from './get.js';
import type { Io } from './io.js';
import { parseKind } from './kinds.js';
import { printableYaml } from './printable.js';
import { renderTable } from './table.js';
import { documentOptionsWithSources } from './document-sources.js';
import { resolveTarget } from './target.js';

/** `left4me describe KIND NAME`: the document, where it is written, its conditions and recent events. */
export async function describeCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {});
  const kind = parseKind(positionals[0]);
  const name = positionals[1];
  if (!name || positionals.length > 2) throw new UsageError('describe takes KIND and NAME');
  const target = resolveTarget(values);
  const state = await loadState(target.stateDir, await documentOptionsWithSources(values));
  const doc = documentsOf(state, kind).get(name);
  const status = await new StatusStore(target.statusDir).read(kind, name);
  const problems = state.problems.filter((p) => p.kind === kind && p.name === name);
  if (!doc && !status && problems.length === 0) {
    io.err(`${kind.toLowerCase()}/${name} not found\n`);
    return 1;
  }
  const now = Date.now();
  const out: string[] = [`Name:        ${name}`, `Kind:        ${kind}`];
  const inv = doc ? undefined : state.invalid.get(`${kind.toLowerCase()}/${name}`);
  if (inv) out.push(`Source:      ${sourceLine(inv)}`);
  if (doc) {
    out.push(`Source:      ${sourceLine(doc.source)}`, `Owner:       ${doc.metadata.owner}`, `Generation:  ${doc.generation}`);
  }
  if (status) {
    if (status.observedGeneration) out.push(`Observed:    ${status.observedGeneration}${doc && status.observedGeneration !== doc.generation ? ' (not yet reconciled)' : ''}`);
    if (status.port !== undefined) out.push(`Ports:       game ${status.port}, client ${status.clientPort}`);
    if (status.uid !== undefined) out.push(`User:        uid ${status.uid} (${serverAccountName(status.uid)}), its own`);
    if (status.unit) out.push(`Unit:        ${status.unit.activeState}/${status.unit.subState}${status.unit.mainPid ? ` pid ${status.unit.mainPid}` : ''}`);
    if (status.players !== undefined) out.push(`Players:     ${status.players}/${status.maxPlayers ?? '?'}`);
    if (status.build) {
      const b = status.build;
      out.push(`Build:       ${b.ready ?? 'none ready'}${b.wanted !== b.ready ? ` (newest: ${b.wanted}, ${b.result.toLowerCase()})` : ''}; log: left4me logs ${kind.toLowerCase()} ${name}`);
    }
    if (status.progress) out.push(`Progress:    pass ${status.progress.pass}/${status.progress.passes} ${status.progress.platform} ${status.progress.state} ${status.progress.percent.toFixed(1)}%`);
    // Continuation lines are indented under the value, so quoted build output cannot pose as a field.
    if (status.lastError) out.push(`Last error:  ${status.lastError.file ? `${status.lastError.file}:${status.lastError.line} ` : ''}${status.lastError.message.replace(/\n/g, '\n             ')}`);
  }
  if (problems.length > 0) out.push('', 'Problems:', ...problems.map((p) => `  ${formatProblem(p)}`));
  if (status && status.conditions.length > 0) {
    out.push('', 'Conditions:');
    out.push(
      ...renderTable(
        ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
        status.conditions.map((c) => [c.type, c.status, c.reason, age(now - Date.parse(c.lastTransitionTime)), c.message]),
      )
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  if (status && status.events.length > 0) {
    out.push('', 'Events:');
    out.push(
      ...renderTable(
        ['AGE', 'TYPE', 'REASON', 'MESSAGE'],
        status.events.slice().reverse().map((e) => [age(now - Date.parse(e.time)), e.type, e.reason, e.message]),
      )
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  if (doc) out.push('', 'Spec:', ...printableYaml(doc.spec).trimEnd().split('\n').map((l) => `  ${l}`));
  io.out(`${out.join('\n')}\n`);
  return 0;
}

/** Where a document is written: the local file, or `git NAME, <repository path>:<line> at <commit>` (change it there). */
function sourceLine(s: { file: string; line: number; origin?: DocumentOrigin }): string {
  return s.origin ? `git ${s.origin.source}, ${s.origin.file}:${s.line} at ${s.origin.commit}` : `${s.file}:${s.line}`;
}
