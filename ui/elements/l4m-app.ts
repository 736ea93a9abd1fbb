/**
 * <l4m-app>: the dashboard's shell. Holds the API client and the live status
 * feed (provided to every element through @lit/context), asks who is logged
 * in, shows <l4m-login> until someone is, and routes on the location hash
 * (`#/servers`, `#/servers/NAME`, `#/documents`, …) to one page element.
 */
import { ContextProvider } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { Api, type SessionUser } from '../services/api.js';
import { apiContext, feedContext } from '../services/context.js';
import { mayLeave, unsaved } from '../services/leave-guard.js';
import { StatusFeed } from '../services/status-feed.js';
import { theme } from '../theme.js';
import './l4m-login.js';
import './l4m-server.js';
import './l4m-servers.js';

/** A page of the dashboard: a route pattern and what it renders. */
export interface Route {
  /** The first hash segment: `#/servers/x` → `servers`. */
  name: string;
  label: string;
  adminOnly?: boolean;
  render(args: string[]): unknown;
}

/** The pages, in the order the navigation shows them; other elements add theirs with registerRoute(). */
export const ROUTES: Route[] = [
  { name: 'servers', label: 'Servers', render: (args) => (args[0] ? html`<l4m-server .name=${args[0]}></l4m-server>` : html`<l4m-servers></l4m-servers>`) },
];

export function registerRoute(route: Route): void {
  if (!ROUTES.some((r) => r.name === route.name)) ROUTES.push(route);
}

export class L4mApp extends LitElement {
  static override properties = { user: { state: true }, route: { state: true }, ready: { state: true }, dark: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; min-height: 100vh; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, sans-serif; }
      header { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; padding: 0.5rem 1rem; border-bottom: 1px solid var(--line); }
      header strong { margin-right: 1rem; }
      nav { display: flex; gap: 0.75rem; flex-wrap: wrap; }
      nav a { color: var(--fg); text-decoration: none; padding: 0.25rem 0.4rem; border-radius: 4px; }
      nav a[aria-current='page'] { background: var(--accent-bg); }
      .spacer { flex: 1; }
      main { padding: 1rem; max-width: 1400px; margin: 0 auto; }
      button { font: inherit; }
    `,
  ];

  user: SessionUser | undefined;
  route: string[] = ['servers'];
  ready = false;
  dark = matchMedia('(prefers-color-scheme: dark)').matches;
  readonly api = new Api();
  readonly feed = new StatusFeed();
  /** The hash the page shows now, its entry's place in the session history, and a hash the person agreed to go to despite unsaved work. */
  private shownHash: string | undefined;
  private shownIndex = 0;
  private leavingTo: string | undefined;
  private readonly onHash = () => void this.followHash();
  private readonly onUnauthorized = () => this.loggedOut();

  constructor() {
    super();
    new ContextProvider(this, { context: apiContext, initialValue: this.api });
    new ContextProvider(this, { context: feedContext, initialValue: this.feed });
    const saved = localStorage.getItem('l4m-theme');
    if (saved) this.dark = saved === 'dark';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.onHash);
    window.addEventListener('l4m-unauthorized', this.onUnauthorized);
    this.onHash();
    void this.api.whoami().then((u) => {
      this.ready = true;
      if (u) this.loggedIn(u);
    });
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.onHash);
    window.removeEventListener('l4m-unauthorized', this.onUnauthorized);
    this.feed.stop();
  }

  /**
   * Follows the location hash to its page, unless the page has unsaved work
   * and the person, asked, stays. The hash has changed already when the
   * browser says so, so staying means going back to the entry shown: each
   * entry the dashboard shows is stamped with its place in the history, so a
   * back or forward step (stamped) is undone by the opposite step, and a new
   * entry (a link, a typed address: not stamped) by one step back.
   */
  private async followHash(): Promise<void> {
    const next = location.hash;
    if (next === this.shownHash) return;
    if (this.shownHash !== undefined && next !== this.leavingTo && unsaved()) {
      const place: unknown = (history.state as { l4mIndex?: unknown } | null)?.l4mIndex;
      const traversed = typeof place === 'number' ? place - this.shownIndex : undefined;
      if (traversed === undefined) history.back();
      else if (traversed !== 0) history.go(-traversed);
      if (!(await mayLeave())) return;
      this.leavingTo = next;
      if (traversed === undefined) location.hash = next;
      else history.go(traversed);
      return;
    }
    this.leavingTo = undefined;
    this.shownHash = next;
    const place: unknown = (history.state as { l4mIndex?: unknown } | null)?.l4mIndex;
    if (typeof place === 'number') this.shownIndex = place;
    else {
      this.shownIndex += 1;
      history.replaceState({ ...(history.state as object | null), l4mIndex: this.shownIndex }, '');
    }
    this.route = parseHash(next);
  }

  private loggedIn(user: SessionUser): void {
    this.user = user;
    this.feed.start();
  }

  private loggedOut(): void {
    this.user = undefined;
    this.feed.stop();
  }

  private async logout(): Promise<void> {
    if (!(await mayLeave())) return;
    await this.api.logout();
    this.loggedOut();
  }

  private toggleTheme(): void {
    this.dark = !this.dark;
    localStorage.setItem('l4m-theme', this.dark ? 'dark' : 'light');
  }

  override updated(): void {
    this.toggleAttribute('dark', this.dark);
  }

  override render() {
    if (!this.ready) return nothing;
    if (!this.user) return html`<main><l4m-login @l4m-login=${(e: CustomEvent<SessionUser>) => this.loggedIn(e.detail)}></l4m-login></main>`;
    const current = ROUTES.find((r) => r.name === this.route[0]) ?? ROUTES[0]!;
    return html`
      <header>
        <strong>left4me</strong>
        <nav aria-label="Pages">
          ${ROUTES.filter((r) => !r.adminOnly || this.user?.role === 'admin').map((r) => html`<a href="#/${r.name}" aria-current=${r === current ? 'page' : 'false'}>${r.label}</a>`)}
        </nav>
        <span class="spacer"></span>
        <span>${this.user.name}${this.user.role === 'admin' ? ' (admin)' : ''}</span>
        <button @click=${this.toggleTheme} aria-label="Switch to ${this.dark ? 'light' : 'dark'} theme">${this.dark ? 'Light' : 'Dark'}</button>
        <button @click=${this.logout}>Log out</button>
      </header>
      <main>${current.render(this.route.slice(1))}</main>
    `;
  }
}

/** `#/servers/demo-1` → ['servers', 'demo-1'] (segments URI-decoded). */
export function parseHash(hash: string): string[] {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  return parts.length > 0 ? parts : ['servers'];
}

customElements.define('l4m-app', L4mApp);
