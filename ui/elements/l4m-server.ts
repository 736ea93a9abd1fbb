/** <l4m-server name="…">: one server's page (conditions, events, log, console, players, charts). */
import { css, html, LitElement } from 'lit';
import { theme } from '../theme.js';

export class L4mServer extends LitElement {
  static override properties = { name: { type: String } };
  static override styles = [theme, css`:host { display: block; }`];
  name = '';

  override render() {
    return html`<h1>${this.name}</h1>`;
  }
}

customElements.define('l4m-server', L4mServer);
