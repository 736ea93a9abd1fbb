/** <l4m-login>: the login form. Fires `l4m-login` (detail: the user) on success; says when logins are rate-limited. */
import { ContextConsumer } from '@lit/context';
import { css, html, LitElement } from 'lit';
import { ApiError } from '../services/api.js';
import { apiContext } from '../services/context.js';
import { theme } from '../theme.js';

export class L4mLogin extends LitElement {
  static override properties = { error: { state: true }, busy: { state: true } };
  static override styles = [
    theme,
    css`
      form { display: grid; gap: 0.75rem; max-width: 22rem; margin: 10vh auto; }
      label { display: grid; gap: 0.25rem; }
      input { font: inherit; padding: 0.4rem; background: var(--input-bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; }
      button { font: inherit; padding: 0.4rem; }
      [role='alert'] { color: var(--bad); }
    `,
  ];

  error = '';
  busy = false;
  private readonly api = new ContextConsumer(this, { context: apiContext });

  private async submit(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    this.busy = true;
    this.error = '';
    try {
      const user = await this.api.value!.login(String(form.get('name') ?? ''), String(form.get('password') ?? ''));
      this.dispatchEvent(new CustomEvent('l4m-login', { detail: user, bubbles: true, composed: true }));
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) this.error = `Too many failed logins: try again in ${err.headers.get('retry-after') ?? 'a few'} seconds.`;
      else if (err instanceof ApiError && err.status === 401) this.error = 'Wrong name or password.';
      else this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = false;
    }
  }

  override render() {
    return html`
      <form @submit=${this.submit} aria-label="Log in">
        <h1>left4me</h1>
        <label>Name <input name="name" autocomplete="username" required /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <button type="submit" ?disabled=${this.busy}>Log in</button>
        ${this.error ? html`<p role="alert">${this.error}</p>` : ''}
      </form>
    `;
  }
}

customElements.define('l4m-login', L4mLogin);
