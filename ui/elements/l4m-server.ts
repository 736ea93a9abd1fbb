/**
 * <l4m-server .name=…>: one server's page. Its document and status come from
 * GET /api/v1/instances/NAME, fetched again whenever the status feed says
 * something of it changed (Ready itself shows live from the feed); the log,
 * console and players are for its owner and admins (others are told so
 * instead of being shown errors); the charts read 24 h of history, refreshed
 * each minute (the controller samples once a minute). Start, Stop, Restart
 * and Reset are <l4m-instance-actions>, as on the servers page.
 */
import { ContextConsumer } from '@lit/context';
import { Task, TaskStatus } from '@lit/task';
import { css, html, LitElement, nothing } from 'lit';
import { ApiError } from '../services/api.js';
import { apiContext, feedContext } from '../services/context.js';
import { StatusController } from '../services/status-feed.js';
import { theme } from '../theme.js';
import type { ChartPoint } from './l4m-chart.js';
import type { ConditionView, EventView } from './l4m-conditions.js';
import type { PlayerView } from './l4m-players.js';
import './l4m-chart.js';
import './l4m-conditions.js';
import './l4m-console.js';
import './l4m-instance-actions.js';
import './l4m-log-view.js';
import './l4m-players.js';

/** The parts of GET /api/v1/instances/NAME this page reads. */
interface InstanceAnswer {
  document: { metadata: { name: string; owner?: string }; spec: { blueprint?: string; state?: string } };
  status: { ready: string; reason?: string; message?: string; port?: number; players?: number; maxPlayers?: number; unit?: string; conditions: ConditionView[]; events: EventView[] };
}

interface HistoryPoint {
  t: number;
  players: number | null;
  cpu: number | null;
  memory: number | null;
}

const HISTORY_REFRESH_MS = 60_000;

export class L4mServer extends LitElement {
  static override properties = { name: { type: String }, copied: { state: true }, playersTick: { state: true }, historyTick: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      h1 { margin: 0 0 0.25rem; font-size: 1.5rem; overflow-wrap: anywhere; }
      h2 { font-size: 1.1rem; margin: 0.5rem 0; }
      .head { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: baseline; margin-bottom: 1rem; }
      .ready.True { color: var(--ok); } .ready.False { color: var(--bad); } .ready.Unknown { color: var(--warn); }
      .muted { color: var(--muted); }
      .connect { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.75rem 0; }
      l4m-instance-actions { display: flex; margin: 0.75rem 0; }
      code { background: var(--input-bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; padding: 0.15rem 0.4rem; user-select: all; }
      button { font: inherit; }
      .grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1.25rem; }
      .charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 1rem; }
      section { min-width: 0; }
      .wide { grid-column: 1 / -1; }
      [role='alert'] { color: var(--bad); }
      @media (max-width: 900px) { .grid, .charts { grid-template-columns: minmax(0, 1fr); } }
    `,
  ];

  name = '';
  copied = '';
  /** Bumped to fetch the players (or history) again. */
  playersTick = 0;
  historyTick = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly api = new ContextConsumer(this, { context: apiContext });
  private readonly feed = new ContextConsumer(this, { context: feedContext });
  private readonly live = new StatusController(this, () => this.feed.value);

  /** What the feed says of this server now, as a string: a change fetches the document again. */
  private liveKey(): string {
    const s = this.feed.value?.get('Instance', this.name);
    return s ? [s.ready, s.reason, s.message, s.port, s.unit].join('\u0000') : '';
  }

  private readonly instance = new Task(this, {
    task: async ([name]: [string, string]) => this.api.value!.get<InstanceAnswer>(`/api/v1/instances/${encodeURIComponent(name)}`),
    args: () => [this.name, this.liveKey()] as [string, string],
  });

  /** Players, for those who may see them (null for others: the API would answer 403); fetched again when the live count changes. */
  private readonly players = new Task(this, {
    task: async ([name, manage]: [string, boolean, number | undefined, number]) =>
      manage ? this.api.value!.get<{ items: PlayerView[]; steamIds: boolean; personas: boolean }>(`/api/v1/instances/${encodeURIComponent(name)}/players`) : null,
    args: () => {
      const a = this.instance.value;
      const manage = a !== undefined && a.document.metadata.name === this.name && this.mayManage(a);
      return [this.name, manage, this.feed.value?.get('Instance', this.name)?.players, this.playersTick] as [string, boolean, number | undefined, number];
    },
  });

  private readonly history = new Task(this, {
    task: async ([name]: [string, number]) => (await this.api.value!.get<{ points: HistoryPoint[] }>(`/api/v1/instances/${encodeURIComponent(name)}/history?since=24h`)).points,
    args: () => [this.name, this.historyTick] as [string, number],
  });

  override connectedCallback(): void {
    super.connectedCallback();
    this.timer = setInterval(() => this.historyTick++, HISTORY_REFRESH_MS);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.timer);
  }

  /** The log, console and players are the owner's and admins' (the API answers others 403). */
  private mayManage(a: InstanceAnswer): boolean {
    const user = this.api.value?.user;
    return user !== undefined && (user.role === 'admin' || user.name === ownerOf(a));
  }

  /** An action edits the document (spec.state, an annotation), which the status feed does not carry: read it again. */
  private readonly acted = () => void this.instance.run();

  private async copy(text: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
      this.copied = 'Copied.';
    } catch {
      // No clipboard (plain http, or refused): select the text so that Ctrl+C copies it.
      const code = this.renderRoot.querySelector('.connect code');
      const sel = window.getSelection();
      if (code && sel) {
        const range = document.createRange();
        range.selectNodeContents(code);
        sel.removeAllRanges();
        sel.addRange(range);
      }
      this.copied = 'Selected: press Ctrl+C to copy.';
    }
  }

  override render() {
    void this.live;
    const a = this.instance.value;
    if (!a || a.document.metadata.name !== this.name) {
      return this.instance.render({
        pending: () => html`<h1>${this.name}</h1><p>Loading…</p>`,
        error: (e) => html`<h1>${this.name}</h1>${problem(e, this.name)}`,
      });
    }
    const s = this.feed.value?.get('Instance', this.name);
    const st = a.status;
    const ready = s?.ready ?? st.ready;
    const reason = s ? s.reason : st.reason;
    const message = s ? s.message : st.message;
    const port = s?.port ?? st.port;
    const players = s?.players ?? st.players;
    const maxPlayers = s?.maxPlayers ?? st.maxPlayers;
    const connect = port !== undefined ? `connect ${location.hostname}:${port}` : undefined;
    const manage = this.mayManage(a);
    const base = `/api/v1/instances/${encodeURIComponent(this.name)}`;
    return html`
      <h1>${this.name}</h1>
      <div class="head">
        <span class="ready ${ready}" role="status">${ready === 'True' ? 'Ready' : ready === 'False' ? 'Not ready' : 'Unknown'}${reason && reason !== 'Ready' ? html` <span class="muted" title=${message ?? ''}>(${reason})</span>` : nothing}</span>
        <span>State: ${a.document.spec.state ?? 'running'}${s?.unit ?? st.unit ? html` <span class="muted">(${s?.unit ?? st.unit})</span>` : nothing}</span>
        <span>Players: ${players !== undefined ? `${players}/${maxPlayers ?? '?'}` : '–'}</span>
        <span>Blueprint: <a href="#/documents/blueprints/${encodeURIComponent(a.document.spec.blueprint ?? '')}">${a.document.spec.blueprint}</a></span>
        <span class="muted">Owner: ${ownerOf(a)}</span>
      </div>
      ${message ? html`<p class="muted">${message}</p>` : nothing}
      <div class="connect">
        ${connect
          ? html`<code>${connect}</code><button @click=${() => this.copy(connect)}>Copy connect string</button><span class="muted" role="status">${this.copied}</span>`
          : html`<span class="muted">No port yet: the connect string shows once the server has one.</span>`}
      </div>
      <l4m-instance-actions .name=${this.name} .state=${a.document.spec.state ?? 'running'} .unit=${s?.unit ?? st.unit} .players=${players} @l4m-action=${this.acted}></l4m-instance-actions>
      <div class="grid">
        <section class="wide" aria-labelledby="h-charts">
          <h2 id="h-charts">Last 24 hours</h2>
          ${this.renderCharts()}
        </section>
        <section aria-labelledby="h-status">
          <h2 id="h-status">Status</h2>
          <l4m-conditions .conditions=${st.conditions} .events=${st.events}></l4m-conditions>
        </section>
        <section aria-labelledby="h-players">
          <h2 id="h-players">Players</h2>
          ${manage ? this.renderPlayers() : html`<p class="muted">Only the owner (${ownerOf(a)}) and admins can see who is playing.</p>`}
        </section>
        <section class="wide" aria-labelledby="h-log">
          <h2 id="h-log">Log</h2>
          ${manage ? html`<l4m-log-view label="Server log" src="${base}/log?follow=1&tail=200"></l4m-log-view>` : html`<p class="muted">Only the owner and admins can read the server's log.</p>`}
        </section>
        <section class="wide" aria-labelledby="h-console">
          <h2 id="h-console">Console</h2>
          ${manage ? html`<l4m-console .name=${this.name}></l4m-console>` : html`<p class="muted">Only the owner and admins can use the server's console.</p>`}
        </section>
      </div>
    `;
  }

  private renderPlayers() {
    const r = this.players.value;
    let note = '';
    if (this.players.error) note = playersProblem(this.players.error);
    else if (r && !r.steamIds) note = 'SteamIDs unknown (RCON status did not answer).';
    else if (r && r.personas && r.items.some((p) => p.steamId && !p.persona)) note = 'Steam names are being fetched; refresh in a moment.';
    return html`<l4m-players .players=${this.players.error ? [] : (r?.items ?? [])} note=${note} ?loading=${this.players.status === TaskStatus.PENDING} @l4m-refresh=${() => this.playersTick++}></l4m-players>`;
  }

  private renderCharts() {
    const pts = this.history.value ?? [];
    const series = (pick: (p: HistoryPoint) => number | null): ChartPoint[] => pts.map((p) => ({ t: p.t, v: pick(p) }));
    return html`
      ${this.history.error ? html`<p role="alert">The history could not be read: ${errorMessage(this.history.error)}</p>` : nothing}
      <div class="charts">
        <l4m-chart label="Players over time" .points=${series((p) => p.players)} .format=${(v: number) => String(Math.round(v))}></l4m-chart>
        <l4m-chart label="CPU over time" .points=${series((p) => (p.cpu === null ? null : p.cpu * 100))} .format=${(v: number) => `${v.toFixed(v < 10 ? 1 : 0)} %`}></l4m-chart>
        <l4m-chart label="Memory over time" .points=${series((p) => p.memory)} .format=${bytes}></l4m-chart>
      </div>
    `;
  }
}

/** A document without an owner is the system's (the schema's default). */
function ownerOf(a: InstanceAnswer): string {
  return a.document.metadata.owner ?? 'system';
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The page's own load failed: 404 and 403 in words, anything else as it came. */
function problem(e: unknown, name: string) {
  if (e instanceof ApiError && e.status === 404) return html`<p role="alert">There is no server named “${name}”, or it is not yours to see.</p><p><a href="#/servers">Back to the servers</a></p>`;
  if (e instanceof ApiError && e.status === 403) return html`<p role="alert">You may not see the server “${name}”: ${e.message}</p><p><a href="#/servers">Back to the servers</a></p>`;
  return html`<p role="alert">The server could not be loaded: ${errorMessage(e)}</p>`;
}

function playersProblem(e: unknown): string {
  if (e instanceof ApiError && e.status === 502) return 'The server does not answer (is it running?).';
  if (e instanceof ApiError && e.status === 403) return 'Only the owner and admins can see who is playing.';
  return `The players could not be read: ${errorMessage(e)}`;
}

/** 1536 → "1.5 KiB". */
function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

customElements.define('l4m-server', L4mServer);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-server': L4mServer;
  }
}
