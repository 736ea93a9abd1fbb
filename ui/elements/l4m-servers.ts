/**
 * <l4m-servers>: every server the user may see, live. The list comes from
 * GET /api/v1/instances once; every status event after that updates its row.
 */
import { ContextConsumer } from '@lit/context';
import { Task } from '@lit/task';
import { css, html, LitElement } from 'lit';
import { apiContext, feedContext } from '../services/context.js';
import { StatusController } from '../services/status-feed.js';
import { theme } from '../theme.js';

/** A row of GET /api/v1/instances. */
export interface InstanceItem {
  name: string;
  owner: string;
  blueprint: string;
  state: string;
  ready: string;
  reason?: string;
  message?: string;
  port?: number;
  players?: number;
  maxPlayers?: number;
  unit?: string;
}

export class L4mServers extends LitElement {
  static override styles = [
    theme,
    css`
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); }
      tr.bad { background: var(--row-bad); }
      .True { color: var(--ok); } .False { color: var(--bad); } .Unknown { color: var(--warn); }
      a { color: var(--accent); }
      .reason { color: var(--muted); font-size: 0.9em; }
      @media (max-width: 700px) { .wide { display: none; } }
    `,
  ];

  private readonly api = new ContextConsumer(this, { context: apiContext });
  private readonly feed = new ContextConsumer(this, { context: feedContext });
  private readonly live = new StatusController(this, () => this.feed.value);
  private readonly list = new Task(this, { task: async () => (await this.api.value!.get<{ items: InstanceItem[] }>('/api/v1/instances')).items, args: () => [] });

  /** A row with the newest live status laid over what the list said. */
  private rowOf(item: InstanceItem): InstanceItem {
    const s = this.feed.value?.get('Instance', item.name);
    if (!s) return item;
    return { ...item, ready: s.ready, reason: s.reason, message: s.message, port: s.port ?? item.port, players: s.players, maxPlayers: s.maxPlayers, unit: s.unit };
  }

  override render() {
    void this.live;
    return this.list.render({
      pending: () => html`<p>Loading servers…</p>`,
      error: (e) => html`<p role="alert">Could not load the servers: ${e instanceof Error ? e.message : String(e)}</p>`,
      complete: (items) => html`
        <table aria-label="Servers">
          <thead><tr><th>Name</th><th>Ready</th><th>State</th><th>Players</th><th>Port</th><th class="wide">Blueprint</th><th class="wide">Owner</th></tr></thead>
          <tbody>
            ${items.map((i) => this.rowOf(i)).map(
              (r) => html`<tr class=${r.ready === 'False' ? 'bad' : ''} data-name=${r.name}>
                <td><a href="#/servers/${encodeURIComponent(r.name)}">${r.name}</a></td>
                <td><span class=${r.ready}>${r.ready === 'True' ? 'Ready' : r.ready === 'False' ? 'Not ready' : 'Unknown'}</span> <span class="reason" title=${r.message ?? ''}>${r.reason ?? ''}</span></td>
                <td>${r.state}${r.unit ? html` <span class="reason">(${r.unit})</span>` : ''}</td>
                <td>${r.players !== undefined ? `${r.players}/${r.maxPlayers ?? '?'}` : '–'}</td>
                <td>${r.port ?? '–'}</td>
                <td class="wide">${r.blueprint}</td>
                <td class="wide">${r.owner}</td>
              </tr>`,
            )}
          </tbody>
        </table>
      `,
    });
  }
}

customElements.define('l4m-servers', L4mServers);
