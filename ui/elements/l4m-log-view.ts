/**
 * <l4m-log-view src="…" label="…">: a live log. With `src` it follows an SSE
 * stream of `line` events ({time, message}; the browser resumes a dropped
 * stream with Last-Event-ID) and shows the `end` event's reason; append()
 * feeds it lines directly. Following keeps the newest line in view; Pause
 * freezes the view (new lines wait, counted, until Follow); the search box
 * filters what is shown. Scrolling up to read pauses too (the view stops
 * jumping under the reader). At most `max` lines are kept, the oldest dropped, so
 * a chatty server cannot grow the page without bound.
 * Fires `l4m-follow` ({following}) when following starts or stops.
 */
import { css, html, LitElement, nothing } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { theme } from '../theme.js';

export interface LogLine {
  time?: string;
  message: string;
}

interface Kept extends LogLine {
  seq: number;
}

export class L4mLogView extends LitElement {
  static override properties = {
    src: { type: String },
    label: { type: String },
    max: { type: Number },
    following: { state: true },
    query: { state: true },
    state: { state: true },
  };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      .bar { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-bottom: 0.4rem; }
      .bar input { flex: 1; min-width: 8rem; background: var(--input-bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; padding: 0.25rem 0.4rem; font: inherit; }
      button { font: inherit; }
      .state { color: var(--muted); font-size: 0.9em; }
      .lines { height: 22rem; overflow: auto; background: var(--input-bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; padding: 0.3rem 0.5rem;
        font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
      time { color: var(--muted); margin-right: 0.6em; }
      .empty { color: var(--muted); }
    `,
  ];

  /** An SSE URL of `line` events; unset: lines come only through append(). */
  src = '';
  label = 'Log';
  max = 5000;
  following = true;
  query = '';
  /** What the stream is doing, in words ('' when all is well). */
  state = '';
  private lines: Kept[] = [];
  /** Lines that came while paused: shown on Follow. */
  private waiting: Kept[] = [];
  private seq = 0;
  private source: EventSource | undefined;
  /** The src the stream (or its absence) was opened for. */
  private openedSrc = '';

  /** Every line kept (shown or waiting), oldest first. */
  get text(): string[] {
    return [...this.lines, ...this.waiting].map((l) => l.message);
  }

  addLines(...lines: LogLine[]): void {
    const kept = lines.map((l) => ({ ...l, seq: this.seq++ }));
    if (this.following) this.lines = bound([...this.lines, ...kept], this.max);
    else this.waiting = bound([...this.waiting, ...kept], this.max);
    // The shown and waiting lines together stay within max too.
    const over = this.lines.length + this.waiting.length - this.max;
    if (over > 0) this.lines = this.lines.slice(over);
    this.requestUpdate();
  }

  clear(): void {
    this.lines = [];
    this.waiting = [];
    this.requestUpdate();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Back in the page (moved, or shown again): the stream starts over with its tail, so the old lines go.
    if (this.src && !this.source) {
      this.clear();
      this.open();
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.close();
  }

  override willUpdate(): void {
    // Another stream: its lines are not this one's.
    if (this.isConnected && this.src !== this.openedSrc) {
      this.close();
      this.clear();
      this.open();
    }
  }

  private open(): void {
    this.openedSrc = this.src;
    if (!this.src || this.source) return;
    const es = new EventSource(this.src, { withCredentials: true });
    this.source = es;
    this.state = 'Connecting…';
    es.addEventListener('open', () => (this.state = ''));
    es.addEventListener('line', (e) => {
      const l = JSON.parse((e as MessageEvent<string>).data) as LogLine;
      this.addLines({ time: l.time, message: l.message });
    });
    es.addEventListener('end', (e) => {
      const { reason } = JSON.parse((e as MessageEvent<string>).data) as { reason?: string };
      this.state = `The log stream ended: ${reason ?? 'no reason given'}.`;
      this.close();
    });
    es.addEventListener('error', () => {
      // CONNECTING: the browser tries again by itself, from the last line it got.
      this.state = es.readyState === EventSource.CLOSED ? 'The log could not be read.' : 'Reconnecting…';
    });
  }

  private close(): void {
    this.source?.close();
    this.source = undefined;
  }

  private setFollowing(following: boolean): void {
    if (following === this.following) return;
    this.following = following;
    if (following) {
      this.lines = bound([...this.lines, ...this.waiting], this.max);
      this.waiting = [];
    }
    this.dispatchEvent(new CustomEvent('l4m-follow', { detail: { following }, bubbles: true, composed: true }));
  }

  private jumpToNewest(): void {
    this.setFollowing(true);
    void this.updateComplete.then(() => this.scrollToEnd());
  }

  private scrollToEnd(): void {
    const box = this.renderRoot.querySelector('.lines');
    if (box) box.scrollTop = box.scrollHeight;
  }

  override updated(): void {
    if (this.following) this.scrollToEnd();
  }

  /** The reader scrolled away from the end: stop following (the end is where following scrolls to, so that never pauses). */
  private onScroll(e: Event): void {
    const box = e.target as HTMLElement;
    if (this.following && box.scrollHeight - box.clientHeight - box.scrollTop > 40) this.setFollowing(false);
  }

  override render() {
    const q = this.query.toLowerCase();
    const shown = q ? this.lines.filter((l) => l.message.toLowerCase().includes(q)) : this.lines;
    return html`
      <div class="bar">
        <button @click=${() => this.setFollowing(!this.following)} aria-pressed=${this.following ? 'false' : 'true'}>${this.following ? 'Pause' : 'Follow'}</button>
        <input type="search" aria-label="Search log" placeholder="Search" .value=${this.query} @input=${(e: Event) => (this.query = (e.target as HTMLInputElement).value)} />
        <button @click=${this.jumpToNewest}>Jump to newest</button>
        <span class="state" role="status">${this.waiting.length > 0 ? `${this.waiting.length} new line${this.waiting.length === 1 ? '' : 's'} while paused. ` : ''}${this.state}</span>
      </div>
      <div class="lines" role="log" aria-label=${this.label} tabindex="0" @scroll=${this.onScroll}>
        ${shown.length === 0 ? html`<span class="empty">${q ? 'No line matches.' : 'No lines yet.'}</span>` : nothing}
        ${repeat(
          shown,
          (l) => l.seq,
          (l) => html`<div>${l.time ? html`<time datetime=${l.time}>${clock(l.time)}</time>` : nothing}${l.message}</div>`,
        )}
      </div>
    `;
  }
}

/** The line's local time of day (the date is rarely in doubt in a live log; the datetime attribute has it). */
function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}

function bound<T>(xs: T[], max: number): T[] {
  return xs.length > max ? xs.slice(xs.length - max) : xs;
}

customElements.define('l4m-log-view', L4mLogView);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-log-view': L4mLogView;
  }
}
