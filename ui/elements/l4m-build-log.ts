/**
 * <l4m-build-log plural="overlays" name="…" ?live>: the newest build log of
 * an overlay or installation. Finished builds are read once (the last lines,
 * as text); while a build runs (`live`) the log is followed as an
 * EventSource on `…/build-log?follow=1`, which sends the last lines first and
 * then each new one, and ends when the build does.
 */
import { ContextConsumer } from '@lit/context';
import { css, html, LitElement, type PropertyValues } from 'lit';
import { ApiError } from '../services/api.js';
import { apiContext } from '../services/context.js';
import { theme } from '../theme.js';

/** Lines kept on the page: a long steamcmd log stays readable and cheap. */
const MAX_LINES = 2000;

export class L4mBuildLog extends LitElement {
  static override properties = { plural: { type: String }, name: { type: String }, live: { type: Boolean }, lines: { state: true }, note: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      pre { margin: 0; padding: 0.5rem; max-height: 28rem; overflow: auto; background: var(--input-bg); border: 1px solid var(--line); border-radius: 4px; font: 13px/1.35 ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
      .muted { color: var(--muted); }
    `,
  ];

  plural: 'overlays' | 'installations' = 'overlays';
  name = '';
  live = false;
  lines: string[] = [];
  note = '';
  private readonly api = new ContextConsumer(this, { context: apiContext });
  private source: EventSource | undefined;

  override updated(changed: PropertyValues<this>): void {
    if (changed.has('plural') || changed.has('name') || changed.has('live')) void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.close();
  }

  private close(): void {
    this.source?.close();
    this.source = undefined;
  }

  private get url(): string {
    return `/api/v1/${this.plural}/${encodeURIComponent(this.name)}/build-log`;
  }

  private async load(): Promise<void> {
    this.close();
    if (!this.name) return;
    if (this.live) {
      this.lines = [];
      this.note = 'Following the build…';
      const es = new EventSource(`${this.url}?follow=1`, { withCredentials: true });
      this.source = es;
      es.addEventListener('line', (e) => {
        const { message } = JSON.parse((e as MessageEvent<string>).data) as { message: string };
        this.lines = [...this.lines, message].slice(-MAX_LINES);
      });
      es.addEventListener('end', () => {
        this.note = 'The build is over.';
        this.close();
      });
      return;
    }
    try {
      const text = await this.api.value!.request<string>('GET', `${this.url}?tail=${MAX_LINES}`, { headers: { accept: 'text/plain' } });
      this.lines = String(text.body).split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
      this.note = '';
    } catch (err) {
      this.lines = [];
      this.note = err instanceof ApiError && err.status === 404 ? 'No build log yet.' : `The build log could not be read: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  override render() {
    return html`
      <pre role="log" aria-label="Build log" aria-live=${this.live ? 'polite' : 'off'} tabindex="0">${this.lines.join('\n')}</pre>
      ${this.note ? html`<p class="muted">${this.note}</p>` : ''}
    `;
  }
}

customElements.define('l4m-build-log', L4mBuildLog);
