/**
 * <l4m-players .players=…>: who is on a server now (A2S, with SteamIDs from
 * RCON status and Steam persona names and avatars when the API knows them).
 * Avatars come from the web service itself (it proxies Steam's CDN), since
 * the dashboard's CSP loads no image from another origin. The SteamID links
 * to the player's Steam profile. A Refresh button fires `l4m-refresh`.
 */
import { css, html, LitElement, nothing } from 'lit';
import { theme } from '../theme.js';

/** A player as GET /api/v1/instances/NAME/players lists it. */
export interface PlayerView {
  name: string;
  score: number;
  durationSeconds: number;
  steamId?: string;
  persona?: string;
  avatar?: string;
}

export class L4mPlayers extends LitElement {
  static override properties = { players: { attribute: false }, note: { type: String }, loading: { type: Boolean } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); }
      td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
      .muted { color: var(--muted); }
      img.avatar { vertical-align: middle; border-radius: 3px; margin-right: 0.35rem; }
      a { color: var(--accent); }
      .bar { display: flex; gap: 0.5rem; align-items: center; margin-bottom: 0.4rem; }
      button { font: inherit; }
      @media (max-width: 700px) { .wide { display: none; } }
    `,
  ];

  players: PlayerView[] = [];
  /** A word on the list (why it is empty or partial), shown above it. */
  note = '';
  loading = false;

  private refresh(): void {
    this.dispatchEvent(new CustomEvent('l4m-refresh', { bubbles: true, composed: true }));
  }

  override render() {
    return html`
      <div class="bar">
        <button @click=${this.refresh} ?disabled=${this.loading} aria-label="Refresh players">Refresh</button>
        <span class="muted" role="status">${this.loading ? 'Loading…' : this.note}</span>
      </div>
      <table aria-label="Players">
        <thead><tr><th>Name</th><th class="num">Score</th><th class="num">Time</th><th class="wide">Steam</th></tr></thead>
        <tbody>
          ${this.players.length === 0 ? html`<tr><td colspan="4" class="muted">Nobody is playing.</td></tr>` : nothing}
          ${this.players.map(
            (p) => html`<tr>
              <td>${p.name}</td>
              <td class="num">${p.score}</td>
              <td class="num">${duration(p.durationSeconds)}</td>
              <td class="wide">${p.steamId
                ? html`${p.avatar?.startsWith('/api/v1/steam/avatars/') ? html`<img class="avatar" src=${p.avatar} alt="" width="24" height="24" loading="lazy">` : nothing}<a href="https://steamcommunity.com/profiles/${p.steamId}" target="_blank" rel="noopener noreferrer">${p.persona ?? p.steamId}</a>${p.persona ? html` <span class="muted">${p.steamId}</span>` : nothing}`
                : html`<span class="muted">unknown</span>`}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    `;
  }
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

customElements.define('l4m-players', L4mPlayers);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-players': L4mPlayers;
  }
}
