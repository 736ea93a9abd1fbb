/**
 * <l4m-confirm>: the dashboard's one confirmation dialog. `await
 * el.open(message)` shows a modal dialog (role dialog, aria-label "Confirm",
 * buttons "Confirm" and "Cancel") and resolves true or false; Escape and a
 * click outside are Cancel. Focus goes to Cancel (the safe choice) and back
 * to where it was when the dialog closes. Each answer is also an
 * `l4m-confirm` event ({ confirmed, message }) for whoever listens.
 */
import { css, html, LitElement } from 'lit';
import { theme } from '../theme.js';

/** What an `l4m-confirm` event carries. */
export interface ConfirmDetail {
  confirmed: boolean;
  message: string;
}

/** How one question is put, beyond its message. */
export interface ConfirmOptions {
  /** A second paragraph under the message (what will happen). */
  detail?: string;
}

export class L4mConfirm extends LitElement {
  static override properties = { message: { state: true }, detail: { state: true } };
  static override styles = [
    theme,
    css`
      dialog { background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 6px; padding: 0; max-width: min(32rem, 90vw); }
      dialog::backdrop { background: rgb(0 0 0 / 0.4); }
      form { padding: 1rem 1.25rem; }
      p { margin: 0 0 0.75rem; }
      .detail { color: var(--muted); }
      .buttons { display: flex; gap: 0.5rem; justify-content: flex-end; flex-wrap: wrap; }
      button { font: inherit; padding: 0.3rem 0.9rem; border-radius: 4px; border: 1px solid var(--line); background: var(--input-bg); color: var(--fg); cursor: pointer; }
      button.confirm { background: var(--accent); border-color: var(--accent); color: #fff; }
      button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
    `,
  ];

  message = '';
  detail = '';
  private settle: ((confirmed: boolean) => void) | undefined;
  private returnFocus: HTMLElement | undefined;

  /** Asks; resolves true on Confirm, false on Cancel, Escape or a click outside. A question still open is cancelled first. */
  async open(message: string, opts: ConfirmOptions = {}): Promise<boolean> {
    this.finish(false, true);
    this.message = message;
    this.detail = opts.detail ?? '';
    this.returnFocus ??= deepActiveElement();
    // Settled from here on: a second open() before the dialog shows cancels this one.
    const answer = new Promise<boolean>((resolve) => (this.settle = resolve));
    await this.updateComplete;
    const dialog = this.dialog;
    if (this.settle && !dialog.open) {
      dialog.showModal();
      this.renderRoot.querySelector<HTMLButtonElement>('button.cancel')?.focus();
    }
    return answer;
  }

  /** Whether a question is showing. */
  get isOpen(): boolean {
    return this.settle !== undefined;
  }

  private get dialog(): HTMLDialogElement {
    return this.renderRoot.querySelector('dialog')!;
  }

  /** Answers the open question; `keepOpen` when another replaces it at once (no close and reopen, focus stays). */
  private finish(confirmed: boolean, keepOpen = false): void {
    const settle = this.settle;
    if (!settle) return;
    this.settle = undefined;
    settle(confirmed);
    this.dispatchEvent(new CustomEvent<ConfirmDetail>('l4m-confirm', { detail: { confirmed, message: this.message }, bubbles: true, composed: true }));
    if (!keepOpen) this.close();
  }

  private close(): void {
    const dialog = this.renderRoot.querySelector('dialog');
    if (dialog?.open) dialog.close();
    this.returnFocus?.focus();
    this.returnFocus = undefined;
  }

  /**
   * The dialog closed (Escape, or the browser closing it). The close event is
   * queued: it can arrive after the next question has already opened the
   * dialog again, and must not answer that one.
   */
  private onClose(): void {
    if (!this.dialog.open) this.finish(false);
  }

  /** A click on the backdrop lands on the dialog element itself (the dialog has no padding: all of it is the form). */
  private onClick(e: MouseEvent): void {
    if (e.target === this.dialog) this.finish(false);
  }

  override render() {
    return html`<dialog aria-label="Confirm" aria-modal="true" @cancel=${(e: Event) => (e.preventDefault(), this.finish(false))} @close=${() => this.onClose()} @click=${this.onClick}>
      <form method="dialog" @submit=${(e: Event) => e.preventDefault()}>
        <p class="message">${this.message}</p>
        ${this.detail ? html`<p class="detail">${this.detail}</p>` : ''}
        <div class="buttons">
          <button type="button" class="cancel" @click=${() => this.finish(false)}>Cancel</button>
          <button type="button" class="confirm" @click=${() => this.finish(true)}>Confirm</button>
        </div>
      </form>
    </dialog>`;
  }
}

/** The focused element, looking through open shadow roots (focus inside a component shows only its host at the top). */
function deepActiveElement(): HTMLElement | undefined {
  let el: Element | null = document.activeElement;
  while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
  return el instanceof HTMLElement ? el : undefined;
}

customElements.define('l4m-confirm', L4mConfirm);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-confirm': L4mConfirm;
  }
}
