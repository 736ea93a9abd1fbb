/**
 * <l4m-instance-actions name="…" state="running" unit="active" players="3">:
 * a server's Start, Stop, Restart and Reset buttons (aria-labels "Start NAME"
 * …). Each asks first in an <l4m-confirm> that says what the action will do
 * to this server now (from its state, unit and players: the same rules the
 * controller applies, see controller/web/effects.ts), then POSTs
 * /api/v1/instances/NAME/ACTION through the API client from context. The
 * outcome is shown beside the buttons and sent up as an `l4m-action` event
 * ({ name, action, ok, outcome?, error? }). Used by the servers table and the
 * server page.
 */
import { ContextConsumer } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { apiContext } from '../services/context.js';
import { theme } from '../theme.js';
import type { L4mConfirm } from './l4m-confirm.js';
import './l4m-confirm.js';

export const ACTIONS = ['start', 'stop', 'restart', 'reset'] as const;
export type InstanceAction = (typeof ACTIONS)[number];

/** What an `l4m-action` event carries. */
export interface ActionDetail {
  name: string;
  action: InstanceAction;
  ok: boolean;
  /** The controller's planned outcome as the API answered it (202). */
  outcome?: string;
  error?: string;
}

/** What is known of the server when the user asks. */
export interface ServerNow {
  /** spec.state: running or stopped. */
  state?: string;
  /** systemd's active state of its unit. */
  unit?: string;
  players?: number;
}

const UP = new Set(['active', 'reloading', 'activating']);
const label = (a: InstanceAction) => a[0]!.toUpperCase() + a.slice(1);

/**
 * What an action will do to a server, in words, for the confirmation. An
 * action is an explicit edit (spec.state or a restart/reset annotation), so
 * updatePolicy never delays it: whenEmpty and manual only govern when a
 * changed config is picked up (and a restart is manual's go-ahead).
 */
export function actionEffect(action: InstanceAction, now: ServerNow): string {
  const running = now.unit !== undefined ? UP.has(now.unit) : now.state === 'running';
  const wanted = now.state ?? 'running';
  const kicked = running && now.players ? ` The ${now.players === 1 ? 'player' : `${now.players} players`} connected now ${now.players === 1 ? 'is' : 'are'} disconnected.` : '';
  switch (action) {
    case 'start':
      if (wanted === 'running' && running) return 'It already runs: nothing changes.';
      return 'It starts now (spec.state becomes running).';
    case 'stop':
      if (wanted === 'stopped' && !running) return 'It is already stopped: nothing changes.';
      return `It stops now (spec.state becomes stopped).${kicked}`;
    case 'restart':
      if (wanted === 'stopped' && !running) return 'It is stopped and stays stopped (left4me/restartedAt is recorded).';
      if (!running) return 'It starts now (left4me/restartedAt is set).';
      return `It restarts now, whatever its updatePolicy: an explicit restart does not wait for players to leave, and it picks up any config change that was waiting.${kicked}`;
    case 'reset':
      if (!running) return 'Its writable layer (everything the server wrote: logs, saved settings, downloaded files) is wiped; it stays stopped.';
      return `It restarts now with its writable layer wiped: everything the server wrote (logs, saved settings, downloaded files) is lost, whatever its updatePolicy.${kicked}`;
  }
}

export class L4mInstanceActions extends LitElement {
  static override properties = {
    name: { type: String },
    state: { type: String },
    unit: { type: String },
    players: { type: Number },
    busy: { state: true },
    result: { state: true },
  };
  static override styles = [
    theme,
    css`
      :host { display: inline-flex; flex-wrap: wrap; gap: 0.3rem; align-items: center; }
      button { font: inherit; font-size: 0.9em; padding: 0.15rem 0.55rem; border-radius: 4px; border: 1px solid var(--line); background: var(--input-bg); color: var(--fg); cursor: pointer; }
      button[aria-disabled='true'] { opacity: 0.5; cursor: default; }
      button:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
      .ok { color: var(--muted); font-size: 0.85em; }
      .err { color: var(--bad); font-size: 0.85em; }
    `,
  ];

  name = '';
  state: string | undefined;
  unit: string | undefined;
  players: number | undefined;
  /** The action being sent, while it is. */
  busy: InstanceAction | undefined;
  result: { ok: boolean; text: string } | undefined;
  private readonly api = new ContextConsumer(this, { context: apiContext });

  /** Whether the dialog is in the tree: only once asked, so that a table of a hundred servers renders no hundred dialogs. */
  private asked = false;

  private async confirm(): Promise<L4mConfirm> {
    if (!this.asked) {
      this.asked = true;
      this.requestUpdate();
      await this.updateComplete;
    }
    return this.renderRoot.querySelector<L4mConfirm>('l4m-confirm')!;
  }

  /** Asks, then sends the action; resolves when it is done (or was cancelled). */
  async ask(action: InstanceAction): Promise<void> {
    // Not `disabled` while one is sent: a disabled button would drop the focus the dialog just gave back.
    if (this.busy) return;
    const yes = await (await this.confirm()).open(`${label(action)} ${this.name}?`, { detail: actionEffect(action, this) });
    if (!yes) return;
    this.busy = action;
    this.result = undefined;
    const detail: ActionDetail = { name: this.name, action, ok: false };
    try {
      const api = this.api.value;
      if (!api) throw new Error('no connection to the API');
      const answer = await api.post<{ action: string; outcome?: string }>(`/api/v1/instances/${encodeURIComponent(this.name)}/${action}`);
      detail.ok = true;
      if (answer.outcome !== undefined) detail.outcome = answer.outcome;
      // 'unchanged': the document already said so (a start of a server meant to run).
      this.result = { ok: true, text: answer.outcome === 'unchanged' ? `${label(action)}: nothing to change` : `${label(action)} requested` };
    } catch (err) {
      detail.error = err instanceof Error ? err.message : String(err);
      this.result = { ok: false, text: `${label(action)} failed: ${detail.error}` };
    } finally {
      this.busy = undefined;
    }
    this.dispatchEvent(new CustomEvent<ActionDetail>('l4m-action', { detail, bubbles: true, composed: true }));
  }

  override render() {
    return html`
      ${ACTIONS.map((a) => html`<button type="button" aria-label="${label(a)} ${this.name}" aria-disabled=${this.busy !== undefined ? 'true' : 'false'} @click=${() => void this.ask(a)}>${label(a)}</button>`)}
      <span class="ok" role="status">${this.result?.ok ? this.result.text : ''}</span>
      <span class="err" role="alert">${this.result?.ok === false ? this.result.text : ''}</span>
      ${this.asked ? html`<l4m-confirm></l4m-confirm>` : nothing}
    `;
  }
}

customElements.define('l4m-instance-actions', L4mInstanceActions);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-instance-actions': L4mInstanceActions;
  }
}
