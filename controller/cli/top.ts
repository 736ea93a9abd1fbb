/**
 * `left4me top [--once]`: a live table of the instances — desired state,
 * Ready, players, CPU and memory from each server's newest history sample,
 * port — read from the status and history files every 2 s (as `get -w`, it
 * reads files only; the controller needs no port). Printed through the
 * CLI's printable io: a refresh is a new table under a time line, not a
 * repainted screen, since terminal controls are escaped on the way out.
 */
import { dirname, join } from 'node:path';
import { loadState } from '../documents/loader.js';
import { HistoryStore } from '../status/history.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { parse, UsageError } from './args.js';
import { documentOptionsWithSources } from './document-sources.js';
import type { Io } from './io.js';
import { renderTable } from './table.js';
import { resolveTarget } from './target.js';

/** How often the live table is read and printed again. */
export const TOP_REFRESH_MS = 2_000;

const HEADER = ['NAME', 'STATE', 'READY', 'PLAYERS', 'CPU', 'MEMORY', 'PORT'];

/** Bytes as people read them (binary units). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** The rows of the table, sorted by name: every instance with a document or a status. */
export async function topRows(stateDir: string, statusDir: string, load: Parameters<typeof loadState>[1], now = Date.now()): Promise<string[][]> {
  const store = new StatusStore(statusDir);
  const history = new HistoryStore(join(dirname(statusDir), 'history'));
  const state = await loadState(stateDir, load);
  const names = new Set([...state.instances.keys(), ...(await store.names('Instance'))]);
  const rows = await Promise.all(
    [...names].sort().map(async (name) => {
      const [st, latest] = await Promise.all([store.read('Instance', name).catch(() => undefined), history.latest(name, now).catch(() => undefined)]);
      const doc = state.instances.get(name);
      const s = latest?.sample;
      const players = s?.players ?? st?.players;
      const maxPlayers = s?.maxPlayers ?? st?.maxPlayers;
      return [
        name,
        doc ? doc.spec.state : state.invalid.has(`instance/${name}`) ? 'invalid' : 'deleting',
        readyOf(st),
        players !== undefined ? `${players}/${maxPlayers ?? '?'}` : '-',
        latest?.cpu !== undefined ? `${(latest.cpu * 100).toFixed(1)}%` : '-',
        s?.memory !== undefined ? formatBytes(s.memory) : '-',
        st?.port !== undefined ? String(st.port) : '-',
      ];
    }),
  );
  return rows;
}

function readyOf(st: DocumentStatus | undefined): string {
  const r = st?.conditions.find((c) => c.type === 'Ready');
  if (!r) return 'Unknown';
  return r.status === 'True' ? 'True' : `${r.status} (${r.reason})`;
}

export async function topCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { once: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('top takes no arguments');
  const target = resolveTarget(values);
  const print = async () => {
    const rows = await topRows(target.stateDir, target.statusDir, await documentOptionsWithSources(values));
    io.out(rows.length ? renderTable(HEADER, rows) : 'no instances\n');
  };
  if (values.once) {
    await print();
    return 0;
  }
  let stop = false;
  let wake: (() => void) | undefined;
  const quit = () => {
    stop = true;
    wake?.();
  };
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
  try {
    while (!stop) {
      io.out(`\n${new Date().toISOString().slice(11, 19)}  (every ${TOP_REFRESH_MS / 1000} s; Ctrl-C stops)\n`);
      await print();
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, TOP_REFRESH_MS).unref();
      });
    }
  } finally {
    process.off('SIGINT', quit);
    process.off('SIGTERM', quit);
  }
  return 0;
}
