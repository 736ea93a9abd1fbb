/**
 * <l4m-users>: the Users page (route `users`, admins only): accounts (add,
 * remove, reset a password) and Bearer tokens (list, create — the secret is
 * shown once, here, and never again — and revoke). Whatever removes or
 * resets something asks first in a modal dialog.
 */
import { ContextConsumer } from '@lit/context';
import { Task } from '@lit/task';
import { css, html, LitElement, nothing } from 'lit';
import { ApiError } from '../services/api.js';
import { apiContext } from '../services/context.js';
import { theme } from '../theme.js';
import { registerRoute } from './l4m-app.js';

interface User {
  name: string;
  role: 'admin' | 'user';
  created?: string;
}

interface TokenInfo {
  id: string;
  user: string;
  created: string;
}

/** What the dialog asks before it acts. */
interface Pending {
  title: string;
  text: string;
  /** Ask for a new password too (a reset). */
  password?: boolean;
  run(password: string): Promise<void>;
}

const errorText = (err: unknown) => (err instanceof ApiError ? `${err.message} (HTTP ${err.status})` : err instanceof Error ? err.message : String(err));

export class L4mUsers extends LitElement {
  static override properties = { pending: { state: true }, error: { state: true }, notice: { state: true }, newToken: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      section { margin-bottom: 1.5rem; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); }
      form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: end; margin: 0.75rem 0; }
      label { display: grid; gap: 0.2rem; }
      input, select, button { font: inherit; }
      input, select { padding: 0.3rem; background: var(--input-bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; }
      .actions { display: flex; flex-wrap: wrap; gap: 0.4rem; }
      [role='alert'] { color: var(--bad); }
      .token { font-family: ui-monospace, monospace; word-break: break-all; background: var(--input-bg); border: 1px solid var(--line); padding: 0.4rem; border-radius: 4px; }
      .muted { color: var(--muted); }
      dialog { background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 6px; max-width: 26rem; }
      dialog::backdrop { background: rgb(0 0 0 / 0.4); }
      @media (max-width: 700px) { .wide { display: none; } }
    `,
  ];

  pending: Pending | undefined;
  error = '';
  notice = '';
  /** A token just created: its secret, shown until the page is left. */
  newToken: { id: string; user: string; token: string } | undefined;
  private readonly api = new ContextConsumer(this, { context: apiContext });
  private readonly data = new Task(this, {
    task: async () => {
      const api = this.api.value!;
      const [users, tokens] = await Promise.all([api.get<{ items: User[] }>('/api/v1/users'), api.get<{ items: TokenInfo[] }>('/api/v1/tokens')]);
      return { users: users.items, tokens: tokens.items };
    },
    args: () => [],
  });
  /** What had focus before the dialog opened, to give it back. */
  private opener: HTMLElement | undefined;

  private ask(p: Pending, from: Event): void {
    this.opener = from.currentTarget as HTMLElement;
    this.error = '';
    this.pending = p;
  }

  override updated(): void {
    const dialog = this.renderRoot.querySelector('dialog');
    if (dialog && this.pending && !dialog.open) dialog.showModal();
  }

  private closeDialog(): void {
    this.renderRoot.querySelector('dialog')?.close();
    this.pending = undefined;
    this.opener?.focus();
  }

  private async confirm(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const p = this.pending;
    if (!p) return;
    const password = String(new FormData(e.target as HTMLFormElement).get('password') ?? '');
    try {
      await p.run(password);
      this.closeDialog();
      this.data.run();
    } catch (err) {
      this.error = errorText(err);
    }
  }

  private async act(what: () => Promise<string>): Promise<void> {
    this.error = '';
    this.notice = '';
    try {
      this.notice = await what();
      this.data.run();
    } catch (err) {
      this.error = errorText(err);
    }
  }

  private addUser(e: SubmitEvent): void {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '');
    void this.act(async () => {
      await this.api.value!.post('/api/v1/users', { name, password: String(f.get('password') ?? ''), role: String(f.get('role') ?? 'user') });
      form.reset();
      return `Added ${name}.`;
    });
  }

  private createToken(e: SubmitEvent): void {
    e.preventDefault();
    const user = String(new FormData(e.target as HTMLFormElement).get('user') ?? '');
    void this.act(async () => {
      this.newToken = await this.api.value!.post<{ id: string; user: string; token: string }>('/api/v1/tokens', user ? { user } : undefined);
      return `Created a token for ${this.newToken.user}.`;
    });
  }

  private async copyToken(): Promise<void> {
    if (!this.newToken) return;
    try {
      await navigator.clipboard.writeText(this.newToken.token);
      this.notice = 'Copied the token.';
    } catch {
      this.notice = 'The browser refused the clipboard: select the token and copy it.';
    }
  }

  private usersTable(users: User[]) {
    const me = this.api.value?.user?.name;
    return html`
      <table aria-label="Users">
        <thead><tr><th>Name</th><th>Role</th><th class="wide">Created</th><th>Actions</th></tr></thead>
        <tbody>
          ${users.map(
            (u) => html`<tr data-name=${u.name}>
              <td>${u.name}</td>
              <td>${u.role}</td>
              <td class="wide">${u.created ? new Date(u.created).toLocaleString() : ''}</td>
              <td class="actions">
                <button aria-label="Reset password of ${u.name}" @click=${(e: Event) =>
                  this.ask({ title: `Reset the password of ${u.name}`, text: `${u.name}'s sessions end; the new password works at once.`, password: true, run: (pw) => this.api.value!.request('PUT', `/api/v1/users/${encodeURIComponent(u.name)}/password`, { body: { password: pw } }).then(() => undefined) }, e)}>
                  Reset password
                </button>
                ${u.name === me
                  ? nothing
                  : html`<button aria-label="Remove ${u.name}" @click=${(e: Event) =>
                      this.ask({ title: `Remove ${u.name}`, text: `${u.name} can no longer log in; their sessions and tokens end. Their documents stay.`, run: () => this.api.value!.request('DELETE', `/api/v1/users/${encodeURIComponent(u.name)}`).then(() => undefined) }, e)}>
                      Remove
                    </button>`}
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
      <form @submit=${this.addUser} aria-label="Add user">
        <label>Name <input name="name" required pattern="[a-z][a-z0-9_-]{0,31}" autocomplete="off" /></label>
        <label>Password <input name="password" type="password" required autocomplete="new-password" /></label>
        <label>Role <select name="role"><option value="user">user</option><option value="admin">admin</option></select></label>
        <button type="submit">Add user</button>
      </form>
    `;
  }

  private tokensTable(tokens: TokenInfo[], users: User[]) {
    return html`
      <table aria-label="Tokens">
        <thead><tr><th>Id</th><th>User</th><th class="wide">Created</th><th>Actions</th></tr></thead>
        <tbody>
          ${tokens.length === 0 ? html`<tr><td colspan="4" class="muted">No tokens.</td></tr>` : nothing}
          ${tokens.map(
            (t) => html`<tr data-id=${t.id}>
              <td><code>${t.id}</code></td>
              <td>${t.user}</td>
              <td class="wide">${new Date(t.created).toLocaleString()}</td>
              <td><button aria-label="Revoke token ${t.id}" @click=${(e: Event) =>
                this.ask({ title: `Revoke token ${t.id}`, text: `Scripts using it (${t.user}'s) stop working at once.`, run: () => this.api.value!.request('DELETE', `/api/v1/tokens/${t.id}`).then(() => undefined) }, e)}>Revoke</button></td>
            </tr>`,
          )}
        </tbody>
      </table>
      <form @submit=${this.createToken} aria-label="Create token">
        <label>For <select name="user">${users.map((u) => html`<option value=${u.name} ?selected=${u.name === this.api.value?.user?.name}>${u.name}</option>`)}</select></label>
        <button type="submit">Create token</button>
      </form>
      ${this.newToken
        ? html`<div role="region" aria-label="New token">
            <p>The token for ${this.newToken.user} (id ${this.newToken.id}). It is shown only now: keep it somewhere safe.</p>
            <p class="token">${this.newToken.token}</p>
            <button @click=${this.copyToken}>Copy token</button>
            <button @click=${() => (this.newToken = undefined)}>Done</button>
          </div>`
        : nothing}
    `;
  }

  private dialog() {
    const p = this.pending;
    if (!p) return nothing;
    return html`<dialog role="dialog" aria-modal="true" aria-label="Confirm" @cancel=${() => this.closeDialog()}>
      <form @submit=${this.confirm}>
        <h2>${p.title}</h2>
        <p>${p.text}</p>
        ${p.password ? html`<label>New password <input name="password" type="password" required autocomplete="new-password" autofocus /></label>` : nothing}
        ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
        <div class="actions">
          <button type="submit">Confirm</button>
          <button type="button" @click=${() => this.closeDialog()}>Cancel</button>
        </div>
      </form>
    </dialog>`;
  }

  override render() {
    return html`
      <h1>Users</h1>
      ${this.data.render({
        pending: () => html`<p>Loading…</p>`,
        error: (e) => html`<p role="alert">Could not load the accounts: ${errorText(e)}</p>`,
        complete: ({ users, tokens }) => html`
          <section><h2>Accounts</h2>${this.usersTable(users)}</section>
          <section><h2>Tokens</h2>${this.tokensTable(tokens, users)}</section>
        `,
      })}
      <p role="status">${this.notice}</p>
      ${this.error && !this.pending ? html`<p role="alert">${this.error}</p>` : nothing}
      ${this.dialog()}
    `;
  }
}

customElements.define('l4m-users', L4mUsers);

registerRoute({ name: 'users', label: 'Users', adminOnly: true, render: () => html`<l4m-users></l4m-users>` });
