/**
 * <l4m-overlay-sources .sources=…>: an overlay's sources in the documents
 * form, as a list: each source a group ("Source 2: archive") with the common
 * fields of its kind as the overlay schema defines them (files: path,
 * content, url, sha256 per file; archive: url, sha256, format, strip
 * components, target; workshop: items and collections, one id a line;
 * script: run and timeout), a button to remove it, and a kind to add a new
 * one at the end. Like <l4m-schema-form> it never edits the document: every
 * change goes up as an `l4m-field` event whose path reaches into the list
 * (`['spec', 'sources', 1, 'archive', 'url']`), so the editor rewrites that
 * one node of the YAML and the comments around it stay.
 */
import { css, html, LitElement, nothing } from 'lit';
import { defOf, labelOf, propertyOf, type SchemaNode } from '../schemas.js';
import { theme } from '../theme.js';
import type { FieldChange } from './l4m-schema-form.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The source kinds, and what a new one of each starts as (the server's dry run says what is still missing). */
const NEW_SOURCE: Record<string, () => Obj> = {
  files: () => ({ files: [{ path: '', content: '' }] }),
  archive: () => ({ archive: { url: '', sha256: '' } }),
  workshop: () => ({ workshop: { items: [] } }),
  script: () => ({ script: { run: '' } }),
};

/** Workshop ids as the schema takes them: numbers while a number holds them exactly, else digit strings. */
function workshopIds(text: string): Array<number | string> {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (/^\d{1,15}$/.test(s) ? Number(s) : s));
}

let ids = 0;

export class L4mOverlaySources extends LitElement {
  static override properties = { sources: { attribute: false } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      fieldset { border: 1px solid var(--line); border-radius: 4px; padding: 0.5rem; margin: 0 0 0.6rem; display: grid; gap: 0.5rem; }
      fieldset fieldset { margin: 0; }
      legend { font-weight: 600; }
      label { display: block; font-weight: 600; }
      .help { display: block; color: var(--muted); font-size: 0.85em; margin-top: 0.15rem; }
      input, select, textarea { font: inherit; color: var(--fg); background: var(--input-bg); border: 1px solid var(--line); border-radius: 4px; padding: 0.3rem 0.4rem; width: 100%; box-sizing: border-box; }
      textarea { min-height: 4rem; }
      .row { display: flex; gap: 0.4rem; align-items: center; flex-wrap: wrap; }
      .row select { width: auto; }
      button { font: inherit; justify-self: start; }
    `,
  ];

  /** `spec.sources` of the overlay as edited. */
  sources: unknown[] = [];
  private readonly uid = `s${++ids}`;

  private emit(path: Array<string | number>, value: unknown): void {
    this.dispatchEvent(new CustomEvent<FieldChange>('l4m-field', { detail: { path: ['spec', 'sources', ...path], value }, bubbles: true, composed: true }));
  }

  override render() {
    const addId = `${this.uid}-add`;
    return html`<fieldset>
      <legend>Sources</legend>
      ${this.sources.map((s, i) => this.source(s, i))}
      <div class="row">
        <label for=${addId}>New source</label>
        <select id=${addId}>
          ${Object.keys(NEW_SOURCE).map((k) => html`<option value=${k}>${k}</option>`)}
        </select>
        <button type="button" @click=${this.add}>Add source</button>
      </div>
    </fieldset>`;
  }

  private add(): void {
    const kind = this.renderRoot.querySelector<HTMLSelectElement>(`#${this.uid}-add`)!.value;
    // One new item at the end of the list: the other sources' nodes (and their comments) are not rewritten.
    this.emit([this.sources.length], NEW_SOURCE[kind]!());
  }

  private source(s: unknown, i: number) {
    const kind = isObj(s) ? (Object.keys(s)[0] ?? '') : '';
    const spec = isObj(s) ? s[kind] : undefined;
    const at = [i, kind];
    const body =
      kind === 'files'
        ? this.files(Array.isArray(spec) ? spec : [], i)
        : kind === 'archive'
          ? this.fields(defOf('Overlay', 'archive'), isObj(spec) ? spec : {}, at, ['url', 'sha256', 'format', 'stripComponents', 'target'])
          : kind === 'workshop'
            ? this.workshop(isObj(spec) ? spec : {}, at)
            : kind === 'script'
              ? this.fields(defOf('Overlay', 'script'), isObj(spec) ? spec : {}, at, ['run', 'timeout'])
              : html`<p>This source is edited in the YAML.</p>`;
    return html`<fieldset>
      <legend>Source ${i + 1}: ${kind || 'unknown'}</legend>
      ${body}
      <button type="button" aria-label="Remove source ${i + 1}" @click=${() => this.emit([i], undefined)}>Remove source</button>
    </fieldset>`;
  }

  private files(entries: unknown[], i: number) {
    const node = defOf('Overlay', 'file');
    return html`${entries.map(
      (e, j) => html`<fieldset>
        <legend>File ${j + 1}</legend>
        ${this.fields(node, isObj(e) ? e : {}, [i, 'files', j], ['path', 'content', 'url', 'sha256'])}
        <button type="button" aria-label="Remove file ${j + 1} of source ${i + 1}" @click=${() => this.emit([i, 'files', j], undefined)}>Remove file</button>
      </fieldset>`,
    )}
      <button type="button" aria-label="Add a file to source ${i + 1}" @click=${() => this.emit([i, 'files', entries.length], { path: '', content: '' })}>Add file</button>`;
  }

  private workshop(spec: Obj, at: Array<string | number>) {
    const node = defOf('Overlay', 'workshop');
    return html`${(['items', 'collections'] as const).map((key) => {
      const id = `${this.uid}-${at.join('-')}-${key}`;
      const list = Array.isArray(spec[key]) ? (spec[key] as unknown[]).map(String) : [];
      return html`<div>
        <label for=${id}>${labelOf(key)}</label>
        <textarea id=${id} aria-describedby="${id}-help" .value=${list.join('\n')}
          @change=${(e: Event) => {
            const got = workshopIds((e.target as HTMLTextAreaElement).value);
            this.emit([...at, key], got.length > 0 ? got : undefined);
          }}></textarea>
        <small class="help" id="${id}-help">One id a line. ${propertyOf(node, key).description}</small>
      </div>`;
    })}`;
  }

  /** Text, number and choice fields of one object (a file, an archive, a script), by the schema's names and help. */
  private fields(node: SchemaNode | undefined, value: Obj, at: Array<string | number>, keys: string[]) {
    return keys.map((key) => {
      const id = `${this.uid}-${at.join('-')}-${key}`;
      const prop = propertyOf(node, key);
      const v = value[key];
      const help = prop.description ? html`<small class="help" id="${id}-help">${prop.description}</small>` : nothing;
      const described = prop.description ? `${id}-help` : '';
      const path = [...at, key];
      const label = html`<label for=${id}>${labelOf(key)}</label>`;
      if (prop.enum) {
        const current = typeof v === 'string' ? v : '';
        return html`<div>${label}<select id=${id} aria-describedby=${described} @change=${(e: Event) => this.emit(path, (e.target as HTMLSelectElement).value || undefined)}>
          <option value="" ?selected=${current === ''}>(not set)</option>
          ${prop.enum.map((o) => html`<option value=${o} ?selected=${o === current}>${o}</option>`)}
        </select>${help}</div>`;
      }
      if (key === 'stripComponents') {
        return html`<div>${label}<input id=${id} type="number" min="0" step="1" inputmode="numeric" aria-describedby=${described} placeholder=${String(prop.default ?? '')}
          .value=${typeof v === 'number' ? String(v) : ''}
          @change=${(e: Event) => {
            const t = (e.target as HTMLInputElement).value.trim();
            this.emit(path, t === '' ? undefined : Number.isInteger(Number(t)) ? Number(t) : t);
          }} />${help}</div>`;
      }
      if (key === 'content' || key === 'run') {
        // A file's content may be empty (an empty file); a script's run may not, and an empty one is left for the dry run to name.
        return html`<div>${label}<textarea id=${id} aria-describedby=${described} .value=${typeof v === 'string' ? v : ''}
          @change=${(e: Event) => this.emit(path, (e.target as HTMLTextAreaElement).value)}></textarea>${help}</div>`;
      }
      return html`<div>${label}<input id=${id} type="text" aria-describedby=${described} placeholder=${prop.default !== undefined ? String(prop.default) : ''} .value=${typeof v === 'string' ? v : ''}
        @change=${(e: Event) => {
          const text = (e.target as HTMLInputElement).value.trim() || undefined;
          // A file is either content or a download: a URL given to a file whose content is still empty replaces that content.
          if (key === 'url' && text && value.content === '') this.emit([...at, 'content'], undefined);
          this.emit(path, text);
        }} />${help}</div>`;
    });
  }
}

customElements.define('l4m-overlay-sources', L4mOverlaySources);
