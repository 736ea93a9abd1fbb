import { stringify } from 'yaml';
import type { Document, Kind, OverlaySource } from '../documents/kinds.js';
import { documentsOf, loadState } from '../documents/loader.js';
import { parse, UsageError } from './args.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { documentOptions } from './host-options.js';
import { resolveTarget } from './target.js';
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

  const target = resolveTarget(values);
  const state = await loadState(target.stateDir, documentOptions(values));
  const store = new StatusStore(target.statusDir);
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

  const statuses = new Map<string, DocumentStatus>();
  await Promise.all(docs.map(async (d) => {
    const st = await store.read(kind, d.metadata.name).catch(() => undefined);
    if (st) statuses.set(d.metadata.name, st);
  }));
  const plain = docs.map(({ apiVersion, kind: k, metadata, spec }) => ({ apiVersion, kind: k, metadata, spec, ...(statuses.has(metadata.name) ? { status: statuses.get(metadata.name) } : {}) }));
  if (output === 'json') io.out(`${JSON.stringify(name !== undefined ? plain[0] : plain, null, 2)}\n`);
  else if (output === 'yaml') io.out(plain.map((d) => stringify(d)).join('---\n'));
  else if (output === 'name') io.out(docs.map((d) => `${kind.toLowerCase()}/${d.metadata.name}\n`).join(''));
  else if (docs.length === 0) io.err(`no ${kind.toLowerCase()}s\n`);
  else io.out(table(kind, docs, statuses, Date.now()));
  return 0;
}

function table(kind: Kind, docs: Document[], statuses: Map<string, DocumentStatus>, now: number): string {
  switch (kind) {
    case 'Installation':
      return renderTable(
        ['NAME', 'READY', 'SOURCE', 'WHERE', 'BUILD', 'OWNER'],
        (docs as Document<'Installation'>[]).map((d) => {
          const st = statuses.get(d.metadata.name);
          return [
            d.metadata.name,
            readyWord(st),
            d.spec.source,
            d.spec.source === 'directory' ? d.spec.path ?? '' : `branch ${d.spec.steam?.branch ?? 'public'}`,
            d.spec.source === 'steam' ? buildWord(st) : '-',
            d.metadata.owner,
          ];
        }),
      );
    case 'Overlay':
      return renderTable(
        ['NAME', 'READY', 'SOURCES', 'BUILD', 'REFRESH', 'OWNER'],
        (docs as Document<'Overlay'>[]).map((d) => {
          const st = statuses.get(d.metadata.name);
          return [d.metadata.name, readyWord(st), d.spec.sources.map(sourceType).join(','), buildWord(st), d.spec.refresh ?? '-', d.metadata.owner];
        }),
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
        ['NAME', 'READY', 'STATE', 'PORT', 'PLAYERS', 'AGE', 'BLUEPRINT', 'NODE'],
        (docs as Document<'Instance'>[]).map((d) => {
          const st = statuses.get(d.metadata.name);
          const running = st?.conditions.find((c) => c.type === 'Running');
          return [
            d.metadata.name,
            readyWord(st),
            st?.unit ? unitWord(st.unit.activeState, d.spec.state) : d.spec.state,
            st?.port !== undefined ? String(st.port) : d.spec.port !== undefined ? String(d.spec.port) : 'auto',
            st?.players !== undefined ? `${st.players}/${st.maxPlayers ?? '?'}` : '-',
            running?.status === 'True' && st?.unit?.activeState === 'active' ? age(now - Date.parse(running.lastTransitionTime)) : '-',
            d.spec.blueprint,
            d.spec.node ?? '-',
          ];
        }),
      );
  }
}

function readyWord(st: DocumentStatus | undefined): string {
  const ready = st?.conditions.find((c) => c.type === 'Ready');
  return ready ? (ready.status === 'True' ? 'True' : `False (${ready.reason})`) : '-';
}

/** The ready build, and a mark when the newest attempt failed. */
function buildWord(st: DocumentStatus | undefined): string {
  const b = st?.build;
  if (!b) return '-';
  return `${b.ready ?? 'none'}${b.result === 'Failed' ? ' (newest build failed)' : ''}`;
}

function unitWord(active: string, desired: string): string {
  const word = active === 'active' ? 'running' : active === 'inactive' ? 'stopped' : active === 'activating' ? 'starting' : active === 'deactivating' ? 'stopping' : active;
  return word === (desired === 'running' ? 'running' : 'stopped') ? word : `${word} (want ${desired})`;
}

/** kubectl-style age: 45s, 12m, 3h, 2d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function sourceType(s: OverlaySource): string {
  return Object.keys(s)[0]!;
}
