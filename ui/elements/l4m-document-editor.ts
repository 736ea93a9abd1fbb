/**
 * One concern: editing one document through the API, from load to save.
 * <l4m-document-editor>: one document, created or edited, as a form and as
 * YAML side by side, kept in sync (a form edit rewrites the YAML through the
 * `yaml` library's Document API, so comments the user wrote stay). Every
 * change is checked by the server's dry run (POST /api/v1/validate, debounced)
 * and its problems shown at their lines. "Preview" shows what changes (a JSON
 * diff of the version read against the edit) and what the controller would
 * do; "Save" POSTs a new document or PUTs with If-Match; a 409 shows theirs
 * against mine and lets the user take theirs or put mine over it. Leaving with
 * unsaved changes asks first (services/leave-guard.ts). Loaded lazily by <l4m-documents>, with everything it needs (yaml, the schemas,
 * fast-json-patch, CodeMirror after it).
 */
import { ContextConsumer } from '@lit/context';
import { Task } from '@lit/task';
import { css, html, LitElement, nothing } from 'lit';
import { isCollection, isScalar, parseDocument, stringify } from 'yaml';
import { KIND_PATHS, withoutDefaults, type Kind } from '../schemas.js';
import { ApiError } from '../services/api.js';
import { apiContext } from '../services/context.js';
import { LeaveGuard } from '../services/leave-guard.js';
import { theme } from '../theme.js';
import './l4m-confirm.js';
import './l4m-diff.js';
import type { FieldChange } from './l4m-schema-form.js';
import './l4m-schema-form.js';
import './l4m-yaml-editor.js';
import type { Problem } from './l4m-yaml-editor.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface DocumentAnswer {
  valid: boolean;
  document?: Obj;
  written?: Obj;
  etag: string;
  outcome?: string;
  status?: { ready: string; reason?: string; message?: string };
  /** Set when a git source serves the document: it is changed in the repository, never here. */
  origin?: { source: string; commit: string; file: string };
  problems?: Problem[];
}

interface Effect {
  instance: string;
  effect: string;
  message: string;
}

interface ValidateAnswer {
  ok: boolean;
  message?: string;
  problems: Problem[];
  effects: Effect[];
  outcomes: Array<{ kind: string; name: string; outcome: string }>;
}

/** What a new document of each kind starts as. */
function template(kind: Kind, blueprints: string[]): Obj {
  const spec: Obj =
    kind === 'Instance' ? { blueprint: blueprints[0] ?? '', state: 'running' } : kind === 'Blueprint' ? { overlays: [] } : kind === 'Overlay' ? { sources: [] } : { source: 'directory', path: '' };
  return { apiVersion: 'left4me/v1', kind, metadata: { name: '' }, spec };
}

/** How long typing may pause before the dry run asks the server. */
const VALIDATE_AFTER_MS = 400;

export class L4mDocumentEditor extends LitElement {
  static override properties = {
    kind: {},
    name: {},
    create: { type: Boolean },
    text: { state: true },
    doc: { state: true },
    problems: { state: true },
    preview: { state: true },
    conflict: { state: true },
    busy: { state: true },
    notice: { state: true },
    error: { state: true },
  };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      h1 { font-size: 1.4rem; margin: 0 0 0.5rem; }
      h2 { font-size: 1.1rem; margin: 0 0 0.5rem; }
      .bar { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.5rem 0 1rem; }
      .halves { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); gap: 1.5rem; align-items: start; }
      @media (max-width: 800px) { .halves { grid-template-columns: minmax(0, 1fr); } }
      button { font: inherit; padding: 0.3rem 0.8rem; }
      button.danger { color: var(--bad); }
      .panel { border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem; margin-top: 1rem; }
      .cols { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
      @media (max-width: 800px) { .cols { grid-template-columns: minmax(0, 1fr); } }
      pre { background: var(--input-bg); border: 1px solid var(--line); padding: 0.5rem; overflow: auto; font-size: 0.85em; max-height: 40vh; }
      [role='alert'] { color: var(--bad); }
      .muted { color: var(--muted); }
      .True { color: var(--ok); } .False { color: var(--bad); } .Unknown { color: var(--warn); }
      a { color: var(--accent); }
    `,
  ];

  /** The kind's path segment: instances, blueprints, overlays or installations. */
  kind = 'instances';
  /** The document's name (any name, `new` too); unused when creating. */
  name = '';
  /** Create a new document instead of editing `name`. */
  create = false;
  text = '';
  doc: Obj = {};
  problems: Problem[] = [];
  preview: { before: Obj; after: Obj; answer: ValidateAnswer } | undefined;
  conflict: { theirs: Obj; etag: string } | undefined;
  busy = false;
  notice = '';
  error = '';

  /** The version read from the server (the diff's "before"), and its ETag. */
  private original: Obj | undefined;
  private etag = '';
  private blueprints: string[] = [];
  private overlays: string[] = [];
  private status: DocumentAnswer['status'];
  private origin: DocumentAnswer['origin'];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private checks = 0;
  private readonly api = new ContextConsumer(this, { context: apiContext });
  /** The text as last loaded or saved: anything else is unsaved work, which leaving asks about first. */
  private savedText: string | undefined;
  private readonly guard = new LeaveGuard(
    this,
    () => this.savedText !== undefined && this.text !== this.savedText,
    () => this.confirm('Leave without saving?', `Your changes to ${this.isNew ? `the new ${this.kindName.toLowerCase()}` : `${this.kindName.toLowerCase()} ${this.name}`} are not saved; they are lost if you leave.`),
  );

  private get kindName(): Kind {
    return KIND_PATHS[this.kind] ?? 'Instance';
  }

  private get isNew(): boolean {
    return this.create;
  }

  private readonly load = new Task(this, {
    args: () => [this.kind, this.name, this.create] as const,
    task: async ([kind, name, create]) => {
      const api = this.api.value!;
      const names = async (path: string) => (await api.get<{ items: Array<{ name: string }> }>(`/api/v1/${path}`)).items.map((i) => i.name);
      [this.blueprints, this.overlays] = await Promise.all([
        this.kindName === 'Instance' ? names('blueprints') : [],
        this.kindName === 'Blueprint' ? names('overlays') : [],
      ]);
      this.reset();
      if (create) {
        this.original = undefined;
        this.etag = '';
        this.status = undefined;
        this.origin = undefined;
        this.setText(stringify(template(this.kindName, this.blueprints)));
        this.savedText = this.text;
        return;
      }
      const a = await api.request<DocumentAnswer>('GET', `/api/v1/${kind}/${encodeURIComponent(name)}`);
      this.status = a.body.status;
      this.origin = a.body.origin;
      this.adopt(a.body.document ?? a.body.written ?? {}, a.body.etag || a.headers.get('etag') || '');
      // A document a git source serves is not checked as an edit (the API refuses it): its problems are the repository's, as read.
      if (this.origin) this.problems = a.body.problems ?? [];
      else this.check(0);
    },
  });

  private reset(): void {
    this.savedText = undefined;
    this.preview = undefined;
    this.conflict = undefined;
    this.problems = [];
    this.notice = '';
    this.error = '';
  }

  /** Takes a version from the server as the one being edited. */
  private adopt(doc: Obj, etag: string): void {
    this.original = doc;
    this.etag = etag;
    this.setText(stringify(doc));
    this.savedText = this.text;
  }

  private setText(text: string): void {
    this.text = text;
    const parsed = parseDocument(text);
    if (parsed.errors.length === 0) {
      const js: unknown = parsed.toJS();
      this.doc = isObj(js) ? js : {};
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.timer);
  }

  /** A form edit: the field rewritten in the YAML, keeping the rest of the text (and its comments) as it is. */
  private onField(e: CustomEvent<FieldChange>): void {
    const d = parseDocument(this.text);
    if (d.errors.length > 0) {
      this.error = 'The YAML has a syntax error: fix it in the editor before using the form.';
      return;
    }
    const node = d.getIn(e.detail.path, true);
    if (e.detail.value === undefined) d.deleteIn(e.detail.path);
    else if (isScalar(node) && typeof e.detail.value !== 'object') {
      // The same node with a new value: its comments stay; its old quoting goes (the new value is written plain when it can be).
      node.value = e.detail.value;
      node.type = undefined;
    } else {
      // An item added to a list written inline (a new overlay's `sources: []`) turns the list into block style: one item a line, readable.
      const parent = d.getIn(e.detail.path.slice(0, -1), true);
      if (isCollection(parent) && parent.flow && typeof e.detail.value === 'object') parent.flow = false;
      d.setIn(e.detail.path, typeof e.detail.value === 'object' && e.detail.value !== null ? d.createNode(e.detail.value) : e.detail.value);
    }
    this.error = '';
    this.setText(d.toString());
    this.check();
  }

  private onInput(e: CustomEvent<string>): void {
    this.setText(e.detail);
    this.check();
  }

  /** The dry run of the text, after a pause in typing; an older answer never overwrites a newer one. */
  private check(delay = VALIDATE_AFTER_MS): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.validate(), delay);
  }

  private async validate(): Promise<ValidateAnswer | undefined> {
    const n = ++this.checks;
    let answer: ValidateAnswer;
    if (this.text.trim() === '') {
      // The API would answer 415 in its own terms (a body is required): say it in the editor's.
      const empty = { file: 'body', line: 1, col: 1, message: 'the editor is empty: write one document' };
      this.problems = [empty];
      return { ok: false, message: empty.message, problems: [empty], effects: [], outcomes: [] };
    }
    try {
      answer = (await this.api.value!.request<ValidateAnswer>('POST', '/api/v1/validate', { yaml: this.text })).body;
    } catch (err) {
      if (n !== this.checks) return undefined;
      const body = err instanceof ApiError ? err.body : {};
      answer = { ok: false, message: err instanceof Error ? err.message : String(err), problems: Array.isArray(body.problems) ? (body.problems as Problem[]) : [], effects: [], outcomes: [] };
    }
    if (n !== this.checks) return undefined;
    this.problems = answer.problems;
    return answer;
  }

  private async showPreview(): Promise<void> {
    clearTimeout(this.timer);
    this.busy = true;
    try {
      const answer = await this.validate();
      if (!answer) return;
      const after = structuredClone(this.doc);
      // The server fills in the owner when the document names none: the diff should not call that a removal.
      const owner = isObj(this.original?.metadata) ? this.original.metadata.owner : undefined;
      if (isObj(after.metadata) && after.metadata.owner === undefined && owner !== undefined) after.metadata.owner = owner;
      const [before, edited] = withoutDefaults(this.kindName, this.original ?? {}, after);
      this.preview = { before, after: edited, answer };
    } finally {
      this.busy = false;
    }
  }

  private async save(): Promise<void> {
    clearTimeout(this.timer);
    this.busy = true;
    this.error = '';
    this.notice = '';
    const api = this.api.value!;
    try {
      if (this.isNew) {
        const a = await api.request<DocumentAnswer>('POST', `/api/v1/${this.kind}`, { yaml: this.text });
        const name = isObj(a.body.document?.metadata) ? String(a.body.document.metadata.name) : '';
        this.savedText = this.text;
        location.hash = `#/documents/${this.kind}/${encodeURIComponent(name)}`;
        return;
      }
      const a = await api.request<DocumentAnswer>('PUT', `/api/v1/${this.kind}/${encodeURIComponent(this.name)}`, { yaml: this.text, headers: { 'if-match': this.etag } });
      this.original = a.body.document ?? this.original;
      this.etag = a.body.etag;
      this.savedText = this.text;
      this.status = a.body.status ?? this.status;
      this.preview = undefined;
      this.problems = [];
      this.notice = `Saved (${a.body.outcome ?? 'configured'}).`;
    } catch (err) {
      this.failed(err);
    } finally {
      this.busy = false;
    }
  }

  private failed(err: unknown): void {
    if (err instanceof ApiError && err.status === 409 && typeof err.body.etag === 'string') {
      const theirs = err.body.current ?? err.body.written;
      this.conflict = { theirs: isObj(theirs) ? theirs : {}, etag: err.body.etag };
      this.error = 'Someone changed this document since you opened it.';
      return;
    }
    if (err instanceof ApiError && Array.isArray(err.body.problems)) this.problems = err.body.problems as Problem[];
    this.error = err instanceof Error ? err.message : String(err);
  }

  private useTheirs(): void {
    const c = this.conflict!;
    this.reset();
    this.adopt(c.theirs, c.etag);
    this.notice = 'Loaded their version; your edit is discarded.';
    this.check(0);
  }

  private async keepMine(): Promise<void> {
    const c = this.conflict!;
    if (!(await this.confirm(`Replace their version of ${this.name} with yours?`, 'Their changes are lost; yours are saved over them.'))) return;
    this.original = c.theirs;
    this.etag = c.etag;
    this.conflict = undefined;
    await this.save();
  }

  private async deleteDocument(): Promise<void> {
    if (!(await this.confirm(`Delete ${this.kindName.toLowerCase()} ${this.name}?`, this.kindName === 'Instance' ? 'Its server is stopped and removed; its writable layer goes to the trash.' : undefined))) return;
    this.busy = true;
    try {
      await this.api.value!.request('DELETE', `/api/v1/${this.kind}/${encodeURIComponent(this.name)}`, { headers: { 'if-match': this.etag } });
      // Gone: an edit of it is nothing to keep.
      this.savedText = this.text;
      location.hash = `#/documents/${this.kind}`;
    } catch (err) {
      this.failed(err);
    } finally {
      this.busy = false;
    }
  }

  /** Asks in the dashboard's confirmation dialog (<l4m-confirm>: modal, Cancel first, focus given back). */
  private confirm(message: string, detail?: string): Promise<boolean> {
    return this.renderRoot.querySelector('l4m-confirm')!.open(message, detail ? { detail } : {});
  }

  override render() {
    return this.load.render({
      pending: () => html`<p>Loading…</p>`,
      error: (e) =>
        html`<p role="alert">Could not load ${this.kind}/${this.name}: ${e instanceof Error ? e.message : String(e)}</p>
          <a href="#/documents/${this.kind}">Back to the list</a>`,
      complete: () => this.editor(),
    });
  }

  private editor() {
    const user = this.api.value?.user;
    const owner = isObj(this.original?.metadata) ? this.original.metadata.owner : undefined;
    const managed = this.origin;
    const readOnly = !!managed || (user?.role !== 'admin' && (owner === 'system' || this.kindName === 'Installation'));
    const kindWord = this.kindName.toLowerCase();
    return html`
      <p><a href="#/documents/${this.kind}">← ${this.kind}</a></p>
      <h1>${this.isNew ? `New ${kindWord}` : `${this.kindName} ${this.name}`}</h1>
      ${this.status
        ? html`<p><span class=${this.status.ready}>${this.status.ready === 'True' ? 'Ready' : this.status.ready === 'False' ? 'Not ready' : 'Unknown'}</span>
            <span class="muted">${this.status.reason ?? ''}${this.status.message ? ` — ${this.status.message}` : ''}</span></p>`
        : nothing}
      ${managed
        ? html`<p class="managed" role="note">Managed by git source <strong>${managed.source}</strong> (${managed.commit.slice(0, 7)}): change <code>${managed.file}</code> in the repository.</p>`
        : readOnly ? html`<p class="muted">A system document: only an admin may change it.</p>` : nothing}
      <div class="bar">
        <button @click=${this.showPreview} ?disabled=${this.busy}>Preview</button>
        <button @click=${this.save} ?disabled=${this.busy || readOnly}>Save</button>
        ${this.isNew ? nothing : html`<button class="danger" @click=${this.deleteDocument} ?disabled=${this.busy || readOnly}>Delete</button>`}
        <span role="status">${this.notice}</span>
      </div>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      ${this.conflict ? this.conflictView() : nothing}
      ${this.preview ? this.previewView() : nothing}
      <div class="halves">
        <section aria-labelledby="form-title">
          <h2 id="form-title">Form</h2>
          <l4m-schema-form ?read-only=${!!managed} .kind=${this.kindName} .value=${this.doc} .blueprints=${this.blueprints} .overlays=${this.overlays} ?is-new=${this.isNew} @l4m-field=${this.onField}></l4m-schema-form>
        </section>
        <section aria-labelledby="yaml-title">
          <h2 id="yaml-title">YAML</h2>
          <l4m-yaml-editor ?read-only=${!!managed} .kind=${this.kindName} .value=${this.text} .problems=${this.problems} @l4m-input=${this.onInput}></l4m-yaml-editor>
        </section>
      </div>
      <l4m-confirm></l4m-confirm>
    `;
  }

  private previewView() {
    const p = this.preview!;
    return html`<div class="panel">
      <l4m-diff .base=${p.before} .edited=${p.after} label="Changes"></l4m-diff>
      <h3>What the controller will do</h3>
      ${p.answer.ok ? nothing : html`<p role="alert">Would be refused: ${p.answer.message ?? 'see the problems'}</p>`}
      <ul aria-label="Effects">
        ${p.answer.effects.map((e) => html`<li>${e.instance}: ${e.message}</li>`)}
      </ul>
      ${p.answer.ok && p.answer.effects.length === 0 ? html`<p class="muted">No server is affected.</p>` : nothing}
    </div>`;
  }

  private conflictView() {
    const c = this.conflict!;
    const [theirs, mine] = withoutDefaults(this.kindName, c.theirs, this.doc);
    return html`<section class="panel" role="region" aria-label="Conflict">
      <h2>Conflict</h2>
      <p>The document changed on the server after you opened it. Take their version (your edit is lost) or put yours over it.</p>
      <l4m-diff .base=${theirs} .edited=${mine} label="Theirs → mine"></l4m-diff>
      <div class="cols">
        <div><h3>Theirs</h3><pre aria-label="Their version">${stringify(c.theirs)}</pre></div>
        <div><h3>Mine</h3><pre aria-label="My version">${this.text}</pre></div>
      </div>
      <div class="bar">
        <button @click=${this.useTheirs}>Use theirs</button>
        <button @click=${this.keepMine}>Keep mine</button>
      </div>
    </section>`;
  }
}

customElements.define('l4m-document-editor', L4mDocumentEditor);
