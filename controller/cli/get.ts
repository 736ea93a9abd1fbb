import { stringify } from 'yaml';
import type { Document, Kind, OverlaySource } from '../documents/kinds.js';
import { documentsOf, loadState } from '../documents/loader.js';
import { DEFAULT_STATE_DIR, parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { parseKind } from './kinds.js';
import { renderTable } from './table.js';

/** `left4me get KIND [NAME] [-o table|yaml|json]`: lists documents from the state directory. */
export async function getCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { output: { type: 'string', short: 'o', default: 'table' } });
  const kind = parseKind(positionals[0]);
  const name = positionals[1];
  if (positionals.length > 2) throw new UsageError('get takes KIND and at most one NAME');
  const output = values.output as string;
  if (!['table', 'yaml', 'json', 'name'].includes(output)) throw new UsageError(`unknown output format "${output}" (table, yaml, json or name)`);

  const state = await loadState(values.state ?? DEFAULT_STATE_DIR);
  let docs = [...documentsOf(state, kind).values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  if (name !== undefined) {
    docs = docs.filter((d) => d.metadata.name === name);
    if (docs.length === 0) {
      const invalid = state.invalid.get(`${kind.toLowerCase()}/${name}`);
      io.err(
        invalid
          ? `${kind.toLowerCase()}/${name} is invalid (${invalid.file}:${invalid.line}); run left4me validate\n`
          : `${kind.toLowerCase()}/${name} not found\n`,
      );
      return 1;
    }
  }
  if (state.problems.length > 0) {
    io.err(`warning: the state directory has ${state.problems.length} problem(s); run left4me validate\n`);
  }

  const plain = docs.map(({ apiVersion, kind: k, metadata, spec }) => ({ apiVersion, kind: k, metadata, spec }));
  if (output === 'json') io.out(`${JSON.stringify(name !== undefined ? plain[0] : plain, null, 2)}\n`);
  else if (output === 'yaml') io.out(plain.map((d) => stringify(d)).join('---\n'));
  else if (output === 'name') io.out(docs.map((d) => `${kind.toLowerCase()}/${d.metadata.name}\n`).join(''));
  else if (docs.length === 0) io.err(`no ${kind.toLowerCase()}s\n`);
  else io.out(table(kind, docs));
  return 0;
}

function table(kind: Kind, docs: Document[]): string {
  switch (kind) {
    case 'Installation':
      return renderTable(
        ['NAME', 'SOURCE', 'WHERE', 'OWNER'],
        (docs as Document<'Installation'>[]).map((d) => [
          d.metadata.name,
          d.spec.source,
          d.spec.source === 'directory' ? d.spec.path ?? '' : `branch ${d.spec.steam?.branch ?? 'public'}`,
          d.metadata.owner,
        ]),
      );
    case 'Overlay':
      return renderTable(
        ['NAME', 'SOURCES', 'REFRESH', 'OWNER'],
        (docs as Document<'Overlay'>[]).map((d) => [d.metadata.name, d.spec.sources.map(sourceType).join(','), d.spec.refresh ?? '-', d.metadata.owner]),
      );
    case 'Blueprint':
      return renderTable(
        ['NAME', 'INSTALLATION', 'OVERLAYS', 'MAP', 'MODE', 'TICKRATE'],
        (docs as Document<'Blueprint'>[]).map((d) => [
          d.metadata.name,
          d.spec.installation ?? '(only one)',
          d.spec.overlays.join(',') || '-',
          d.spec.map,
          d.spec.gameMode,
          String(d.spec.tickrate),
        ]),
      );
    case 'Instance':
      return renderTable(
        ['NAME', 'BLUEPRINT', 'STATE', 'PORT', 'NODE'],
        (docs as Document<'Instance'>[]).map((d) => [
          d.metadata.name,
          d.spec.blueprint,
          d.spec.state,
          d.spec.port !== undefined ? String(d.spec.port) : 'auto',
          d.spec.node ?? '-',
        ]),
      );
  }
}

function sourceType(s: OverlaySource): string {
  return Object.keys(s)[0]!;
}
