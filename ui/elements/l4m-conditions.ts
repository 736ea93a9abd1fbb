/**
 * <l4m-conditions .conditions=… .events=…>: what the controller says of one
 * document — its conditions as a table (Ready, Stalled, …: status, reason,
 * message, since when) and its recent events as a list, newest first.
 */
import { css, html, LitElement } from 'lit';
import { theme } from '../theme.js';

/** A condition as the API shows it (status/conditions.ts). */
export interface ConditionView {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

/** An event as the API shows it (status/store.ts). */
export interface EventView {
  time: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Conditions whose True is bad news (they only appear while true). */
const NEGATIVE = new Set(['Stalled', 'RestartPending']);

export class L4mConditions extends LitElement {
  static override properties = { conditions: { attribute: false }, events: { attribute: false } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
      .good { color: var(--ok); } .bad { color: var(--bad); } .unknown { color: var(--warn); }
      .muted, time { color: var(--muted); }
      h3 { font-size: 1rem; margin: 1rem 0 0.4rem; }
      ul { list-style: none; padding: 0; margin: 0; }
      li { padding: 0.3rem 0; border-bottom: 1px solid var(--line); }
      li.Warning .reason { color: var(--bad); }
      .reason { font-weight: 600; margin: 0 0.4rem; }
      @media (max-width: 700px) { .since { display: none; } }
    `,
  ];

  conditions: ConditionView[] = [];
  events: EventView[] = [];

  override render() {
    const events = [...this.events].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
    return html`
      <table aria-label="Conditions">
        <thead><tr><th>Condition</th><th>Status</th><th>Reason</th><th>Message</th><th class="since">Since</th></tr></thead>
        <tbody>
          ${this.conditions.length === 0 ? html`<tr><td colspan="5" class="muted">No conditions reported yet.</td></tr>` : ''}
          ${this.conditions.map(
            (c) => html`<tr data-type=${c.type}>
              <td>${c.type}</td>
              <td class=${tone(c)}>${c.status}</td>
              <td>${c.reason}</td>
              <td>${c.message}</td>
              <td class="since">${c.lastTransitionTime ? html`<time datetime=${c.lastTransitionTime}>${when(c.lastTransitionTime)}</time>` : ''}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      <h3>Events</h3>
      <ul aria-label="Events">
        ${events.length === 0 ? html`<li class="muted">No events yet.</li>` : ''}
        ${events.map((e) => html`<li class=${e.type}><time datetime=${e.time}>${when(e.time)}</time><span class="reason">${e.reason}</span>${e.message}</li>`)}
      </ul>
    `;
  }
}

function tone(c: ConditionView): string {
  if (c.status === 'Unknown') return 'unknown';
  return (c.status === 'True') !== NEGATIVE.has(c.type) ? 'good' : 'bad';
}

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' });
}

customElements.define('l4m-conditions', L4mConditions);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-conditions': L4mConditions;
  }
}
