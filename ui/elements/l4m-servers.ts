/**
 * <l4m-servers>: every server the user may see, live. The list comes from
 * GET /api/v1/instances (again whenever the status feed names a server the
 * list lacks, or drops one it has); every status event updates its row. Each row's
 * last day of players, CPU and memory comes from …/history (15-minute
 * buckets, a few requests at a time, again every minute). Filter by text,
 * sort by any column; the actions ask before they act.
 */
import { ContextConsumer } from '@lit/context';
import { Task } from '@lit/task';
import { css, html, LitElement } from 'lit';
import type { InstanceItem } from '../../controller/web/wire.js';
import type { Api } from '../services/api.js';
import { apiContext, feedContext } from '../services/context.js';
import { StatusController } from '../services/status-feed.js';
import { theme } from '../theme.js';
import type { ActionDetail } from './l4m-instance-actions.js';
import './l4m-instance-actions.js';
import './l4m-sparkline.js';

/** A bucket of GET /api/v1/instances/NAME/history. */
export interface HistoryPoint {
  t: number;
  players: number | null;
  cpu: number | null;
  memory: number | null;
}

/** A row as shown: the list's item with live status laid over it and the newest CPU and memory. */
interface Row extends InstanceItem {
  trouble: Trouble | undefined;
  cpu: number | undefined;
  memory: number | undefined;
}

type Trouble = 'failed' | 'stalled';
type SortKey = 'name' | 'ready' | 'reason' | 'state' | 'map' | 'players' | 'port' | 'blueprint' | 'owner' | 'cpu' | 'memory';

const HISTORY_QUERY = 'since=24h&step=15m';
const HISTORY_EVERY_MS = 60_000;
/** How long history answers gather before the table shows them: one render for many answers, not one each. */
const HISTORY_FLUSH_MS = 250;
/** At most this many history requests at once: the browser has 6 connections per host and the status feed holds one. */
const HISTORY_PARALLEL = 3;
/** A CPU or memory figure older than this says nothing about now (a stopped server). */
const FRESH_MS = 35 * 60_000;

/** Reasons that mean the server failed (its unit, or the build it needs). */
const FAILED = new Set(['Failed', 'BuildFailed']);
/** Reasons the controller stalls on: a human must act (Stalled in the controller's words). */
const STALLED = new Set(['Invalid', 'PortConflict', 'DependencyInvalid', 'DependencyMissing', 'StateUnreadable']);

/** Whether a server needs a human: failed, stalled, or fine (undefined). */
export function troubleOf(r: Pick<InstanceItem, 'ready' | 'reason' | 'unit'>): Trouble | undefined {
  if (r.unit === 'failed' || (r.ready !== 'True' && r.reason !== undefined && FAILED.has(r.reason))) return 'failed';
  if (r.ready !== 'True' && r.reason !== undefined && STALLED.has(r.reason)) return 'stalled';
  return undefined;
}

export const readyText = (ready: string) => (ready === 'True' ? 'Ready' : ready === 'False' ? 'Not ready' : 'Unknown');
const READY_RANK: Record<string, number> = { False: 0, Unknown: 1, True: 2 };

/** CPU in cores as a percentage of one core. */
export const formatCpu = (cores: number | undefined) => (cores === undefined ? '–' : `${(cores * 100).toFixed(cores < 0.1 ? 1 : 0)}%`);
/** Bytes in MiB or GiB. */
export const formatMemory = (bytes: number | undefined) =>
  bytes === undefined ? '–' : bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;

function sortValue(r: Row, key: SortKey): string | number | undefined {
  if (key === 'ready') return READY_RANK[r.ready] ?? 1;
  return r[key];
}

/** Orders rows by a column; rows without a value go last either way, ties by name. */
function compareRows(key: SortKey, dir: 1 | -1) {
  return (a: Row, b: Row): number => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    if (x !== y) {
      if (x === undefined) return 1;
      if (y === undefined) return -1;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      if (c !== 0) return c * dir;
    }
    return a.name.localeCompare(b.name);
  };
}

/** Whether a row holds every word of the filter (name, owner, blueprint, state, Ready, reason, port), any case. */
function matches(r: Row, filter: string): boolean {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const text = [r.name, r.owner, r.blueprint, r.state, r.unit, readyText(r.ready), r.reason, r.trouble, r.port].filter((v) => v !== undefined).join(' ').toLowerCase();
  return words.every((w) => text.includes(w));
}

const COLUMNS: Array<{ key: SortKey | undefined; label: string; wide?: boolean }> = [
  { key: 'name', label: 'Name' },
  { key: 'ready', label: 'Ready' },
  { key: 'reason', label: 'Reason', wide: true },
  { key: 'state', label: 'State' },
  { key: 'map', label: 'Map', wide: true },
  { key: 'players', label: 'Players' },
  { key: undefined, label: 'Last 24 h', wide: true },
  { key: 'port', label: 'Port' },
  { key: 'blueprint', label: 'Blueprint', wide: true },
  { key: 'owner', label: 'Owner', wide: true },
  { key: 'cpu', label: 'CPU', wide: true },
  { key: 'memory', label: 'Memory', wide: true },
  { key: undefined, label: 'Actions' },
];

export class L4mServers extends LitElement {
  static override properties = { filter: { state: true }, sortKey: { state: true }, sortDir: { state: true }, history: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      .bar { display: flex; gap: 0.75rem; align-items: center; flex-wrap: wrap; margin-bottom: 0.5rem; }
      input { font: inherit; padding: 0.25rem 0.5rem; border: 1px solid var(--line); border-radius: 4px; background: var(--input-bg); color: var(--fg); min-width: 14rem; }
      .count { color: var(--muted); }
      .scroll { overflow-x: auto; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
      th, td[data-col='name'], td[data-col='players'] { white-space: nowrap; }
      /* One line of buttons: on a phone the table scrolls sideways rather than every row growing four buttons tall. */
      l4m-instance-actions { flex-wrap: nowrap; }
      th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; color: var(--fg); cursor: pointer; }
      th button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
      th .arrow { color: var(--muted); }
      td.num { font-variant-numeric: tabular-nums; }
      tr.failed, tr.stalled { background: var(--row-bad); }
      tr.failed td:first-child { box-shadow: inset 4px 0 var(--bad); }
      tr.stalled td:first-child { box-shadow: inset 4px 0 var(--warn); }
      .flag { font-weight: 600; margin-left: 0.35rem; }
      tr.failed .flag { color: var(--bad); }
      tr.stalled .flag { color: var(--warn); }
      .True { color: var(--ok); } .False { color: var(--bad); } .Unknown { color: var(--warn); }
      a { color: var(--accent); }
      .muted { color: var(--muted); font-size: 0.9em; }
      @media (max-width: 700px) { .wide { display: none; } input { min-width: 0; flex: 1; } }
    `,
  ];

  filter = '';
  sortKey: SortKey = 'name';
  sortDir: 1 | -1 = 1;
  /** Each server's last day, by name. */
  history = new Map<string, HistoryPoint[]>();

  private readonly api = new ContextConsumer(this, { context: apiContext });
  private readonly feed = new ContextConsumer(this, { context: feedContext });
  private readonly live = new StatusController(this, () => this.feed.value);
  private readonly list = new Task(this, {
    task: async () => (await this.api.value!.get<{ items: InstanceItem[] }>('/api/v1/instances')).items,
    args: () => [],
  });
  /** The feed's server names when the list was last asked again because of them. */
  private relistedFor = '';
  /** The feed's server names at the last update. */
  private feedNames = new Set<string>();
  private historyTimer: ReturnType<typeof setInterval> | undefined;
  private historyRun: Promise<void> | undefined;
  /** History answers not yet shown, and the timer that will show them. */
  private historyPending = new Map<string, HistoryPoint[]>();
  private historyFlush: ReturnType<typeof setTimeout> | undefined;
  /** Each history's players, so that a sparkline gets the same array (and skips rendering) until its history changes. */
  private readonly playersOf = new WeakMap<HistoryPoint[], Array<number | null>>();

  override connectedCallback(): void {
    super.connectedCallback();
    this.historyTimer = setInterval(() => void this.loadHistory(), HISTORY_EVERY_MS);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.historyTimer);
    clearTimeout(this.historyFlush);
  }

  /** A row with the newest live status laid over what the list said. */
  private rowOf(item: InstanceItem, now: number): Row {
    const s = this.feed.value?.get('Instance', item.name);
    const merged: InstanceItem = s
      ? { ...item, ready: s.ready, reason: s.reason, message: s.message, port: s.port ?? item.port, players: s.players, maxPlayers: s.maxPlayers ?? item.maxPlayers, map: s.map ?? item.map, unit: s.unit }
      : item;
    const points = this.history.get(item.name) ?? [];
    const latest = (pick: (p: HistoryPoint) => number | null) => {
      for (let i = points.length - 1; i >= 0; i--) {
        const v = pick(points[i]!);
        if (v !== null) return now - points[i]!.t <= FRESH_MS ? v : undefined;
      }
      return undefined;
    };
    return { ...merged, trouble: troubleOf(merged), cpu: latest((p) => p.cpu), memory: latest((p) => p.memory) };
  }

  protected override updated(): void {
    const items = this.list.value;
    const feed = this.feed.value;
    if (!items || !feed?.connected) return;
    // Only servers with a status file are in the feed, so the two need not agree; but a name the list lacks is a
    // server created since it was read, and a name gone from the feed that the list has is one deleted: read it again
    // (once per such change of the feed's names, so a name the list never gets cannot make it loop).
    const named = new Set([...feed.summaries.values()].filter((s) => s.kind === 'Instance').map((s) => s.name));
    const listed = new Set(items.map((i) => i.name));
    const added = [...named].some((n) => !listed.has(n));
    const removed = [...this.feedNames].some((n) => !named.has(n) && listed.has(n));
    this.feedNames = named;
    const key = [...named].sort().join('\n');
    if ((added || removed) && key !== this.relistedFor) {
      this.relistedFor = key;
      void this.list.run().then(() => this.loadHistory());
    }
  }

  protected override firstUpdated(): void {
    void this.list.taskComplete.then(() => this.loadHistory()).catch(() => undefined);
  }

  /** Reads every listed server's history, a few at a time; one run at a time. */
  private loadHistory(): Promise<void> {
    if (this.historyRun) return this.historyRun;
    const api: Api | undefined = this.api.value;
    const names = (this.list.value ?? []).map((i) => i.name);
    if (!api || names.length === 0) return Promise.resolve();
    const queue = [...names];
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        try {
          const h = await api.get<{ points: HistoryPoint[] }>(`/api/v1/instances/${encodeURIComponent(name)}/history?${HISTORY_QUERY}`);
          this.showHistory(name, h.points);
        } catch {
          // No history (a server just created, or gone): its sparkline stays empty; the next round asks again.
        }
      }
    };
    this.historyRun = Promise.all(Array.from({ length: Math.min(HISTORY_PARALLEL, names.length) }, worker)).then(() => {
      this.historyRun = undefined;
    });
    return this.historyRun;
  }

  private showHistory(name: string, points: HistoryPoint[]): void {
    this.historyPending.set(name, points);
    this.historyFlush ??= setTimeout(() => {
      this.historyFlush = undefined;
      this.history = new Map([...this.history, ...this.historyPending]);
      this.historyPending.clear();
    }, HISTORY_FLUSH_MS);
  }

  private players(points: HistoryPoint[]): Array<number | null> {
    let players = this.playersOf.get(points);
    if (!players) this.playersOf.set(points, (players = points.map((p) => p.players)));
    return players;
  }

  /** An action is an edit of the document (spec.state), which the feed does not carry: read the list again to show it. */
  private readonly acted = (e: CustomEvent<ActionDetail>) => {
    if (e.detail.ok) void this.list.run();
  };

  private sortBy(key: SortKey): void {
    if (this.sortKey === key) this.sortDir = this.sortDir === 1 ? -1 : 1;
    else {
      this.sortKey = key;
      this.sortDir = 1;
    }
  }

  private header(c: (typeof COLUMNS)[number]) {
    const cls = c.wide ? 'wide' : '';
    if (!c.key) return html`<th scope="col" class=${cls}>${c.label}</th>`;
    const key = c.key;
    const active = this.sortKey === key;
    const sort = active ? (this.sortDir === 1 ? 'ascending' : 'descending') : 'none';
    return html`<th scope="col" class=${cls} aria-sort=${sort}>
      <button type="button" @click=${() => this.sortBy(key)}>${c.label}<span class="arrow" aria-hidden="true">${active ? (this.sortDir === 1 ? ' ▲' : ' ▼') : ''}</span></button>
    </th>`;
  }

  private row(r: Row) {
    const points = this.history.get(r.name);
    return html`<tr class=${r.trouble ?? ''} data-name=${r.name}>
      <td data-col="name"><a href="#/servers/${encodeURIComponent(r.name)}">${r.name}</a></td>
      <td data-col="ready"><span class=${r.ready} title=${r.reason ? `${r.reason}: ${r.message ?? ''}` : ''}>${readyText(r.ready)}</span></td>
      <td data-col="reason" class="wide muted" title=${r.message ?? ''}>${r.reason ?? ''}</td>
      <td data-col="state">${r.state}${r.unit ? html` <span class="muted">(${r.unit})</span>` : ''}${r.trouble ? html`<span class="flag">${r.trouble === 'failed' ? 'Failed' : 'Stalled'}</span>` : ''}</td>
      <td data-col="map" class="wide">${r.map ?? '–'}</td>
      <td data-col="players" class="num">${r.players !== undefined ? `${r.players}/${r.maxPlayers ?? '?'}` : '–'}</td>
      <td data-col="history" class="wide">${points
        ? html`<l4m-sparkline .values=${this.players(points)} .max=${r.maxPlayers} label="Players of ${r.name} over 24 h"></l4m-sparkline>`
        : ''}</td>
      <td data-col="port" class="num">${r.port ?? '–'}</td>
      <td data-col="blueprint" class="wide">${r.blueprint}</td>
      <td data-col="owner" class="wide">${r.owner}</td>
      <td data-col="cpu" class="wide num">${formatCpu(r.cpu)}</td>
      <td data-col="memory" class="wide num">${formatMemory(r.memory)}</td>
      <td data-col="actions"><l4m-instance-actions name=${r.name} state=${r.state} .unit=${r.unit} .players=${r.players}></l4m-instance-actions></td>
    </tr>`;
  }

  private table(items: InstanceItem[]) {
    const now = Date.now();
    const all = items.map((i) => this.rowOf(i, now));
    const rows = all.filter((r) => matches(r, this.filter)).sort(compareRows(this.sortKey, this.sortDir));
    const troubled = all.filter((r) => r.trouble).length;
    return html`
      <div class="bar">
        <input type="search" aria-label="Filter servers" placeholder="Filter servers" .value=${this.filter} @input=${(e: InputEvent) => (this.filter = (e.target as HTMLInputElement).value)} />
        <span class="count" role="status">${rows.length === all.length ? `${all.length} servers` : `${rows.length} of ${all.length} servers`}${troubled ? `, ${troubled} need attention` : ''}</span>
      </div>
      <div class="scroll">
        <table aria-label="Servers" @l4m-action=${this.acted}>
          <thead><tr>${COLUMNS.map((c) => this.header(c))}</tr></thead>
          <tbody>
            ${rows.map((r) => this.row(r))}
            ${rows.length === 0 ? html`<tr><td colspan=${COLUMNS.length} class="muted">${all.length === 0 ? 'No servers yet.' : 'No server matches the filter.'}</td></tr>` : ''}
          </tbody>
        </table>
      </div>
    `;
  }

  override render() {
    void this.live;
    // The last list stays on screen while it is read again.
    const items = this.list.value;
    if (items) return this.table(items);
    return this.list.render({
      pending: () => html`<p>Loading servers…</p>`,
      error: (e) => html`<p role="alert">Could not load the servers: ${e instanceof Error ? e.message : String(e)}</p>`,
    });
  }
}

customElements.define('l4m-servers', L4mServers);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-servers': L4mServers;
  }
}
