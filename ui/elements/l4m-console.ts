/**
 * <l4m-console name="…">: an instance's RCON console. One command per
 * request (POST /api/v1/instances/NAME/rcon); ArrowUp/ArrowDown walk the
 * commands sent before (the line being typed comes back after the newest).
 * The commands and their output are kept per browser session
 * (sessionStorage, bounded), so a reload or a trip to another page keeps
 * them. A refusal (400, 403, 429 with when to try again, 502) shows in the
 * output. Fires `l4m-command` ({command, output}) after each answer.
 */
import { ContextConsumer } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { ApiError } from '../services/api.js';
import { apiContext } from '../services/context.js';
import { theme } from '../theme.js';

/** One exchange of the console. */
export interface ConsoleEntry {
  command: string;
  output?: string;
  truncated?: boolean;
  error?: string;
}

/** What sessionStorage keeps per instance: enough to be useful, small enough for its quota. */
const MAX_ENTRIES = 100;
const MAX_CHARS = 200_000;
const MAX_HISTORY = 100;

export class L4mConsole extends LitElement {
  static override properties = { name: { type: String }, entries: { state: true }, busy: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      form { display: flex; gap: 0.5rem; margin-top: 0.4rem; }
      input { flex: 1; min-width: 0; background: var(--input-bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; padding: 0.3rem 0.4rem;
        font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
      button { font: inherit; }
      .out { height: 16rem; overflow: auto; background: var(--input-bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; padding: 0.3rem 0.5rem;
        font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
      .cmd { color: var(--accent); }
      .err { color: var(--bad); }
      .note { color: var(--muted); }
    `,
  ];

  name = '';
  entries: ConsoleEntry[] = [];
  busy = false;
  /** Commands sent, oldest first; `cursor` is where ArrowUp/Down stand (history.length: the line being typed). */
  private history: string[] = [];
  private cursor = 0;
  private draft = '';
  private readonly api = new ContextConsumer(this, { context: apiContext });

  private get key(): string {
    return `l4m-console:${this.name}`;
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('name')) this.load();
  }

  private load(): void {
    let saved: { entries?: ConsoleEntry[]; history?: string[] } = {};
    try {
      saved = JSON.parse(sessionStorage.getItem(this.key) ?? '{}') as typeof saved;
    } catch {
      // A damaged entry is forgotten, not fatal.
    }
    this.entries = Array.isArray(saved.entries) ? saved.entries : [];
    this.history = Array.isArray(saved.history) ? saved.history.filter((h) => typeof h === 'string') : [];
    this.cursor = this.history.length;
  }

  private save(): void {
    let entries = this.entries.slice(-MAX_ENTRIES);
    while (entries.length > 1 && JSON.stringify(entries).length > MAX_CHARS) entries = entries.slice(1);
    this.entries = entries;
    try {
      sessionStorage.setItem(this.key, JSON.stringify({ entries, history: this.history.slice(-MAX_HISTORY) }));
    } catch {
      // Over the quota: the console still works, it just forgets on reload.
    }
  }

  private get input(): HTMLInputElement {
    return this.renderRoot.querySelector('input')!;
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    if (this.history.length === 0) return;
    e.preventDefault();
    const input = this.input;
    if (this.cursor === this.history.length) this.draft = input.value;
    this.cursor = e.key === 'ArrowUp' ? Math.max(0, this.cursor - 1) : Math.min(this.history.length, this.cursor + 1);
    input.value = this.cursor === this.history.length ? this.draft : this.history[this.cursor]!;
    input.setSelectionRange(input.value.length, input.value.length);
  }

  private async send(e: Event): Promise<void> {
    e.preventDefault();
    const input = this.input;
    const command = input.value.trim();
    if (!command || this.busy || !this.api.value) return;
    if (this.history[this.history.length - 1] !== command) this.history = [...this.history, command].slice(-MAX_HISTORY);
    this.cursor = this.history.length;
    this.draft = '';
    input.value = '';
    this.busy = true;
    const entry: ConsoleEntry = { command };
    try {
      const r = await this.api.value.post<{ output: string; truncated: boolean }>(`/api/v1/instances/${encodeURIComponent(this.name)}/rcon`, { command });
      entry.output = r.output;
      entry.truncated = r.truncated;
    } catch (err) {
      entry.error = errorText(err);
    } finally {
      this.busy = false;
    }
    this.entries = [...this.entries, entry];
    this.save();
    if (entry.error === undefined) this.dispatchEvent(new CustomEvent('l4m-command', { detail: { command, output: entry.output }, bubbles: true, composed: true }));
    await this.updateComplete;
    const out = this.renderRoot.querySelector('.out');
    if (out) out.scrollTop = out.scrollHeight;
    this.input.focus();
  }

  private clear(): void {
    this.entries = [];
    this.save();
  }

  override render() {
    return html`
      <pre class="out" role="log" aria-label="Console output" tabindex="0">${this.entries.length === 0 ? html`<span class="note">Commands and their output show here.</span>` : nothing}${this.entries.map(
        (en) => html`<span class="cmd">&gt; ${en.command}</span>
${en.error !== undefined ? html`<span class="err">${en.error}</span>` : en.output}${en.truncated ? html`<span class="note">\n(output cut at 64 KiB)</span>` : nothing}
`,
      )}</pre>
      <form @submit=${this.send}>
        <input aria-label="Console command" autocomplete="off" spellcheck="false" maxlength="512" placeholder="status" @keydown=${this.onKey} />
        <button type="submit" ?disabled=${this.busy}>Send</button>
        <button type="button" @click=${this.clear} ?disabled=${this.entries.length === 0}>Clear</button>
      </form>
    `;
  }
}

/** A console refusal in words; 429 says when to try again. */
function errorText(err: unknown): string {
  if (!(err instanceof ApiError)) return `The command could not be sent: ${err instanceof Error ? err.message : String(err)}`;
  if (err.status === 429) {
    const after = err.headers.get('retry-after') ?? (typeof err.body.retryAfter === 'number' ? String(err.body.retryAfter) : undefined);
    return `Too many commands: try again${after ? ` in ${after} s` : ' shortly'}. (${err.message})`;
  }
  if (err.status === 403) return `Only the server's owner and admins may use its console. (${err.message})`;
  if (err.status === 404) return `No such server. (${err.message})`;
  return `Error ${err.status}: ${err.message}`;
}

customElements.define('l4m-console', L4mConsole);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-console': L4mConsole;
  }
}
