/**
 * <l4m-yaml-editor>: the YAML half of the documents editor, CodeMirror 6
 * loaded on first use (its own chunk: the initial bundle stays small). Until
 * it has arrived, or if it cannot load, a plain textarea with the same label
 * edits the text. Shows problems twice: as diagnostics at their lines and in
 * the "Problems" list ("line N: message"). Every edit goes up as an
 * `l4m-input` event with the whole text; `value` set from above (a form edit)
 * replaces the text without echoing it back.
 */
import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { keysAt, type Kind } from '../schemas.js';
import type { YamlEditorHandle } from '../services/yaml-codemirror.js';
import { theme } from '../theme.js';

/** A problem as the API gives it (a 422 or a dry run). */
export interface Problem {
  file?: string;
  line: number;
  col: number;
  pointer?: string;
  message: string;
}

/** The problems of the text being edited (`file: body`), the ones the editor can point at. */
export const inBody = (p: Problem): boolean => p.file === undefined || p.file === 'body';

export class L4mYamlEditor extends LitElement {
  static override properties = { kind: {}, value: {}, problems: { attribute: false }, readOnly: { type: Boolean, attribute: 'read-only' }, loaded: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      textarea { width: 100%; min-height: 16rem; box-sizing: border-box; font: 0.9rem ui-monospace, monospace; color: var(--fg); background: var(--input-bg); border: 1px solid var(--line); border-radius: 4px; }
      .cm { display: block; }
      h3 { font-size: 1rem; margin: 0.6rem 0 0.25rem; }
      ul { margin: 0; padding-left: 1.2rem; }
      li { color: var(--bad); overflow-wrap: anywhere; }
      .ok { color: var(--muted); margin: 0.5rem 0 0; }
    `,
  ];

  kind: Kind = 'Instance';
  value = '';
  problems: Problem[] = [];
  /** The text can be read but not changed (a document a git source serves). */
  readOnly = false;
  loaded = false;
  private editor: YamlEditorHandle | undefined;
  private loading: Promise<void> | undefined;

  /** Resolves once CodeMirror is up (tests wait on it; the page need not). */
  get ready(): Promise<void> {
    return this.loading ?? Promise.resolve();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.loading ??= this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.editor?.destroy();
    this.editor = undefined;
    this.loading = undefined;
    this.loaded = false;
  }

  private async load(): Promise<void> {
    try {
      const cm = await import('../services/yaml-codemirror.js');
      await this.updateComplete;
      const slot = this.renderRoot.querySelector<HTMLElement>('.cm');
      if (!slot || !this.isConnected || this.editor) return;
      this.editor = cm.createYamlEditor({
        parent: slot,
        root: this.renderRoot as ShadowRoot,
        text: this.value,
        label: 'YAML editor',
        keysAt: (path) => keysAt(this.kind, path),
        onChange: (text) => this.input(text),
        readOnly: this.readOnly,
      });
      this.editor.setProblems(this.problems.filter(inBody));
      this.loaded = true;
    } catch (err) {
      // The textarea stays: editing YAML works without CodeMirror.
      console.warn('the YAML editor could not load CodeMirror', err);
    }
  }

  private input(text: string): void {
    this.value = text;
    this.dispatchEvent(new CustomEvent<string>('l4m-input', { detail: text, bubbles: true, composed: true }));
  }

  /** Moves the cursor to a line and focuses the editor (from a click in the Problems list). */
  goToLine(line: number): void {
    const view = this.editor?.view;
    if (!view) return;
    const l = view.state.doc.line(Math.min(Math.max(line, 1), view.state.doc.lines));
    view.dispatch({ selection: { anchor: l.from }, scrollIntoView: true });
    view.focus();
  }

  override updated(changed: PropertyValues<this>): void {
    if (!this.editor) return;
    if (changed.has('readOnly')) this.editor.setReadOnly(this.readOnly);
    if (changed.has('value')) this.editor.setValue(this.value);
    if (changed.has('value') || changed.has('problems')) this.editor.setProblems(this.problems.filter(inBody));
  }

  override render() {
    return html`
      <div class="cm"></div>
      ${this.loaded
        ? nothing
        : html`<textarea aria-label="YAML editor" spellcheck="false" ?readonly=${this.readOnly} .value=${this.value} @input=${(e: Event) => this.input((e.target as HTMLTextAreaElement).value)}></textarea>`}
      ${this.problems.length > 0
        ? html`<h3>Problems</h3>
            <ul aria-label="Problems">
              ${this.problems.map(
                (p) =>
                  html`<li>${inBody(p) ? html`<a href="#" @click=${(e: Event) => (e.preventDefault(), this.goToLine(p.line))}>line ${p.line}</a>: ${p.message}` : `line ${p.line}: ${p.message} (in ${p.file})`}</li>`,
              )}
            </ul>`
        : html`<p class="ok">No problems found.</p>`}
    `;
  }
}

customElements.define('l4m-yaml-editor', L4mYamlEditor);
