import type { Document, Kind, OverlaySource } from '../documents/kinds.js';
import type { DocumentOrigin } from '../documents/origin.js';
import { originLabel } from '../documents/problems.js';
import { parseDuration } from '../documents/duration.js';
import { documentsOf, loadState, type LoadOptions } from '../documents/loader.js';
import { parse, UsageError } from './args.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { documentOptionsWithSources } from './document-sources.js';
import { getSources } from './get-sources.js';
import { resolveTarget } from './target.js';
import type { Io } from './io.js';
import { parseKind } from './kinds.js';
import { printableJson, printableYaml } from './printable.js';
import { renderTable } from './table.js';

/** How often `get -w` reads the documents and the status store again. */
const WATCH_POLL_MS = 1_000;

/**
 * `left4me get KIND [NAME] [-o table|yaml|json|name] [-w [--timeout D]]`:
 * lists documents from the state directory and the host's git sources with
 * their status; `get sources` lists the git sources themselves (get-sources.ts).
 */
export async function getCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    output: { type: 'string', short: 'o', default: 'table' },
    watch: { type: 'boolean', short: 'w' },
    timeout: { type: 'string' },
  });
  const name = positionals[1];
  if (positionals.length > 2) throw new UsageError('get takes KIND and at most one NAME');
  const output = values.output as string;
  if (!['table', 'yaml', 'json', 'name'].includes(output)) throw new UsageError(`unknown output format "${output}" (table, yaml, json or name)`);
  if (positionals[0] === 'sources' || positionals[0] === 'source') {
    if (values.watch) throw new UsageError('-w watches documents; run get sources again to see the sources change');
    return getSources(values, name, output, io);
  }
  const kind = parseKind(positionals[0]);
  if (values.watch && output !== 'table') throw new UsageError('-w watches the table; it does not go with -o');
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    if (!values.watch) throw new UsageError('--timeout goes with -w');
    try {
      timeoutMs = parseDuration(values.timeout);
    } catch {
      throw new UsageError(`--timeout takes a duration such as 90s, 5m or 1h (got "${values.timeout}")`);
    }
  }

  const target = resolveTarget(values);
  const store = new StatusStore(target.statusDir);
  // Read again on every listing: a source's `current` may flip while -w watches.
  const load = () => documentOptionsWithSources(values);
  const listing = await list(target.stateDir, load, store, kind, name);
  if (name !== undefined && listing.docs.length === 0 && listing.invalid.length === 0) {
    io.err(`${kind.toLowerCase()}/${name} not found\n`);
    return 1;
  }
  if (listing.problems > 0) io.err(`warning: the state directory has ${listing.problems} problem(s); run left4me validate\n`);

  const { docs, invalid, statuses } = listing;
  const plain = [
    ...docs.map(({ apiVersion, kind: k, metadata, spec }) => ({ apiVersion, kind: k, metadata, spec, ...(statuses.has(metadata.name) ? { status: statuses.get(metadata.name) } : {}) })),
    ...invalid.map((i) => ({ kind, metadata: { name: i.name }, invalid: { file: i.origin ? originLabel(i.origin) : i.file, line: i.line, ...(i.origin ? { origin: i.origin } : {}) }, ...(statuses.has(i.name) ? { status: statuses.get(i.name) } : {}) })),
  ].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  if (output === 'json') io.out(`${printableJson(name !== undefined ? plain[0] : plain)}\n`);
  else if (output === 'yaml') io.out(plain.map((d) => printableYaml(d)).join('---\n'));
  else if (output === 'name') io.out(plain.map((d) => `${kind.toLowerCase()}/${d.metadata.name}\n`).join(''));
  else if (values.watch) return watchTable(target.stateDir, load, store, kind, name, listing, timeoutMs, io);
  else if (plain.length === 0) io.err(`no ${kind.toLowerCase()}s\n`);
  else io.out(renderTable(...table(kind, listing, Date.now())));
  return 0;
}

/** The documents of a kind (valid, and invalid ones by name and place) with their statuses. */
interface Listing {
  docs: Document[];
  invalid: Array<{ name: string; file: string; line: number; origin?: DocumentOrigin }>;
  statuses: Map<string, DocumentStatus>;
  problems: number;
}

async function list(stateDir: string, load: () => Promise<LoadOptions>, store: StatusStore, kind: Kind, name: string | undefined): Promise<Listing> {
  const state = await loadState(stateDir, await load());
  let docs = [...documentsOf(state, kind).values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  // Invalid documents stay listed (READY False (Invalid)): their servers keep running as they were.
  const prefix = `${kind.toLowerCase()}/`;
  let invalid = [...state.invalid.entries()].filter(([key]) => key.startsWith(prefix)).map(([key, where]) => ({ name: key.slice(prefix.length), file: where.file, line: where.line, ...(where.origin ? { origin: where.origin } : {}) }));
  if (name !== undefined) {
    docs = docs.filter((d) => d.metadata.name === name);
    invalid = invalid.filter((i) => i.name === name);
  }
  const statuses = new Map<string, DocumentStatus>();
  await Promise.all([...docs.map((d) => d.metadata.name), ...invalid.map((i) => i.name)].map(async (n) => {
    const st = await store.read(kind, n).catch(() => undefined);
    if (st) statuses.set(n, st);
  }));
  return { docs, invalid, statuses, problems: state.problems.length };
}

/**
 * `get -w`: the table once, then every row that changes (or `NAME deleted`),
 * kubectl style, until interrupted or --timeout passes.
 */
async function watchTable(stateDir: string, load: () => Promise<LoadOptions>, store: StatusStore, kind: Kind, name: string | undefined, first: Listing, timeoutMs: number | undefined, io: Io): Promise<number> {
  const deadline = timeoutMs !== undefined ? Date.now() + timeoutMs : Infinity;
  const [header, rows] = table(kind, first, Date.now());
  io.out(renderTable(header, rows));
  // Rows compare without AGE-like columns that tick by themselves.
  const key = (row: string[]) => row.filter((_, i) => header[i] !== 'AGE').join('\0');
  let shown = new Map(rows.map((r) => [r[0]!, key(r)]));
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(WATCH_POLL_MS, Math.max(0, deadline - Date.now()))));
    const [, now] = table(kind, await list(stateDir, load, store, kind, name), Date.now());
    const next = new Map(now.map((r) => [r[0]!, key(r)]));
    for (const row of now) if (shown.get(row[0]!) !== next.get(row[0]!)) io.out(renderTable(header, [row]).split('\n')[1]! + '\n');
    for (const gone of shown.keys()) if (!next.has(gone)) io.out(`${gone} deleted\n`);
    shown = next;
  }
  return 0;
}

/** The header and rows of valid documents and, sorted in among them, rows of invalid ones (what their status still says). */
function table(kind: Kind, { docs, invalid, statuses }: Listing, now: number): [string[], string[][]] {
  const [headers, rows] = validRows(kind, docs, statuses, now);
  for (const { name, origin } of invalid) {
    const row = invalidRow(kind, headers.length, name, statuses.get(name), now);
    if (kind === 'Instance') row[row.length - 1] = sourceWord(origin);
    rows.push(row);
  }
  return [headers, rows.sort((a, b) => (a[0]! < b[0]! ? -1 : 1))];
}

/** An invalid document's row: its name, READY False (Invalid), and for instances what the server is doing. */
function invalidRow(kind: Kind, width: number, name: string, st: DocumentStatus | undefined, now: number): string[] {
  const row = [name, st ? readyWord(st) : 'False (Invalid)'];
  if (kind === 'Instance') {
    const running = st?.conditions.find((c) => c.type === 'Running');
    row.push(
      st?.unit ? unitWord(st.unit.activeState, st.unit.activeState === 'active' ? 'running' : 'stopped') : '-',
      st?.port !== undefined ? String(st.port) : '-',
      st?.players !== undefined ? `${st.players}/${st.maxPlayers ?? '?'}` : '-',
      running?.status === 'True' && st?.unit?.activeState === 'active' ? age(now - Date.parse(running.lastTransitionTime)) : '-',
    );
  }
  while (row.length < width) row.push('?');
  return row;
}

function validRows(kind: Kind, docs: Document[], statuses: Map<string, DocumentStatus>, now: number): [string[], string[][]] {
  switch (kind) {
    case 'Installation':
      return [
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
      ];
    case 'Overlay':
      return [
        ['NAME', 'READY', 'SOURCES', 'BUILD', 'REFRESH', 'OWNER'],
        (docs as Document<'Overlay'>[]).map((d) => {
          const st = statuses.get(d.metadata.name);
          return [d.metadata.name, readyWord(st), d.spec.sources.map(sourceType).join(','), buildWord(st), d.spec.refresh ?? '-', d.metadata.owner];
        }),
      ];
    case 'Blueprint':
      return [
        ['NAME', 'READY', 'INSTALLATION', 'OVERLAYS', 'MAP', 'MODE', 'TICKRATE'],
        (docs as Document<'Blueprint'>[]).map((d) => [
          d.metadata.name,
          readyWord(statuses.get(d.metadata.name)),
          d.spec.installation ?? '(only one)',
          d.spec.overlays.join(',') || '-',
          d.spec.map,
          d.spec.gameMode,
          String(d.spec.tickrate),
        ]),
      ];
    case 'Instance':
      return [
        ['NAME', 'READY', 'STATE', 'PORT', 'PLAYERS', 'AGE', 'BLUEPRINT', 'NODE', 'SOURCE'],
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
            sourceWord(d.source.origin),
          ];
        }),
      ];
  }
}

/** Where a document comes from: `local`, or the git source and commit (`fleet@1a2b3c4`). */
function sourceWord(origin: DocumentOrigin | undefined): string {
  return origin ? `${origin.source}@${origin.commit.slice(0, 7)}` : 'local';
}

function readyWord(st: DocumentStatus | undefined): string {
  const ready = st?.conditions.find((c) => c.type === 'Ready');
  return ready ? (ready.status === 'True' ? 'True' : `False (${ready.reason})`) : '-';
}

/** The build instances use, and a mark when the newest attempt failed (the older one keeps serving). */
function buildWord(st: DocumentStatus | undefined): string {
  const b = st?.build;
  if (!b) return '-';
  if (b.result !== 'Failed') return b.ready ?? 'none';
  return b.ready ? `${b.ready} (serving; newest build failed)` : 'none (newest build failed)';
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
