/**
 * <l4m-documents>: the Documents pages. `#/documents/KIND` lists the
 * documents of a kind the user can see, with their status (live from the
 * feed) and invalid ones marked; `#/documents/KIND/NAME` edits one and
 * `#/documents/KIND/+new` creates one, in <l4m-document-editor>, which is
 * loaded only then (with the YAML library, the schemas and CodeMirror) so the
 * dashboard's first load stays small. `+` is in no document name, so every
 * name (`new` too) opens as itself.
 */
import { ContextConsumer } from '@lit/context';
import { Task } from '@lit/task';
import { css, html, LitElement, nothing } from 'lit';
import { apiContext, feedContext } from '../services/context.js';
import { StatusController, type StatusSummary } from '../services/status-feed.js';
import { theme } from '../theme.js';
import { registerRoute } from './l4m-app.js';

/** The path segment after the kind that creates a document: never a document's name (names have no `+`). */
export const CREATE_SEGMENT = '+new';

/** The kinds, by their path segment, in the order the page offers them. */
const KINDS: Array<{ path: string; kind: StatusSummary['kind']; label: string; one: string }> = [
  { path: 'instances', kind: 'Instance', label: 'Instances', one: 'instance' },
  { path: 'blueprints', kind: 'Blueprint', label: 'Blueprints', one: 'blueprint' },
  { path: 'overlays', kind: 'Overlay', label: 'Overlays', one: 'overlay' },
  { path: 'installations', kind: 'Installation', label: 'Installations', one: 'installation' },
];

/** A row of GET /api/v1/KIND (instances add blueprint, state, port, players). */
export interface DocumentItem {
  name: string;
  owner: string;
  ready: string;
  reason?: string;
  message?: string;
  blueprint?: string;
  state?: string;
  /** Set when a git source serves the document (read-only here). */
  origin?: { source: string; commit: string; file: string };
}

const readyText = (r: string) => (r === 'True' ? 'Ready' : r === 'False' ? 'Not ready' : 'Unknown');

export class L4mDocuments extends LitElement {
  static override properties = { args: { attribute: false } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      nav { display: flex; gap: 0.5rem; flex-wrap: wrap; margin-bottom: 0.75rem; }
      nav a { padding: 0.2rem 0.5rem; border-radius: 4px; color: var(--fg); text-decoration: none; border: 1px solid var(--line); }
      nav a[aria-current='page'] { background: var(--accent-bg); }
      .bar { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin-bottom: 0.5rem; }
      .bar h1 { font-size: 1.4rem; margin: 0; flex: 1; }
      a { color: var(--accent); }
      a.new { border: 1px solid var(--accent); border-radius: 4px; padding: 0.3rem 0.7rem; text-decoration: none; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); }
      tr.bad { background: var(--row-bad); }
      .True { color: var(--ok); } .False { color: var(--bad); } .Unknown { color: var(--warn); }
      .reason { color: var(--muted); font-size: 0.9em; }
      .invalid { color: var(--bad); font-weight: 600; }
      @media (max-width: 700px) { .wide { display: none; } }
    `,
  ];

  /** The route's arguments: [KIND] lists, [KIND, NAME] edits, [KIND, '+new'] creates. */
  args: string[] = [];
  private readonly api = new ContextConsumer(this, { context: apiContext });
  private readonly feed = new ContextConsumer(this, { context: feedContext });
  private readonly live = new StatusController(this, () => this.feed.value);
  private editorLoaded: Promise<unknown> | undefined;

  private get kind() {
    return KINDS.find((k) => k.path === (this.args[0] ?? 'instances'));
  }

  private readonly list = new Task(this, {
    args: () => [this.args[0] ?? 'instances', this.args[1]] as const,
    task: async ([path, name]): Promise<DocumentItem[]> => {
      if (name !== undefined || !KINDS.some((k) => k.path === path)) return [];
      return (await this.api.value!.get<{ items: DocumentItem[] }>(`/api/v1/${path}`)).items;
    },
  });

  override render() {
    const kind = this.kind;
    if (!kind) return html`<p role="alert">There is no kind "${this.args[0]}": choose one of ${KINDS.map((k) => k.path).join(', ')}.</p>`;
    if (this.args[1] !== undefined) {
      // The editor and all it brings arrive on first use (a chunk of their own).
      this.editorLoaded ??= import('./l4m-document-editor.js');
      const create = this.args[1] === CREATE_SEGMENT;
      return html`<l4m-document-editor .kind=${kind.path} .name=${create ? '' : this.args[1]} .create=${create}></l4m-document-editor>`;
    }
    const admin = this.api.value?.user?.role === 'admin';
    return html`
      <nav aria-label="Kinds">
        ${KINDS.map((k) => html`<a href="#/documents/${k.path}" aria-current=${k === kind ? 'page' : 'false'}>${k.label}</a>`)}
      </nav>
      <div class="bar">
        <h1>${kind.label}</h1>
        ${admin || kind.kind !== 'Installation' ? html`<a class="new" href="#/documents/${kind.path}/${CREATE_SEGMENT}">New ${kind.one}</a>` : nothing}
      </div>
      ${this.list.render({
        pending: () => html`<p>Loading ${kind.path}…</p>`,
        error: (e) => html`<p role="alert">Could not load the ${kind.path}: ${e instanceof Error ? e.message : String(e)}</p>`,
        complete: (items) => this.table(kind, items),
      })}
    `;
  }

  private table(kind: (typeof KINDS)[number], items: DocumentItem[]) {
    void this.live;
    const instances = kind.kind === 'Instance';
    if (items.length === 0) return html`<p>No ${kind.path} yet.</p>`;
    return html`<table aria-label="Documents">
      <thead><tr><th>Name</th><th>Ready</th>${instances ? html`<th>Blueprint</th><th class="wide">State</th>` : nothing}<th class="wide">Owner</th><th class="wide">Source</th></tr></thead>
      <tbody>
        ${items.map((item) => {
          // An invalid document has no status of its own: the list's word stands; a valid one follows the feed.
          const invalid = item.reason === 'Invalid';
          const s = invalid ? undefined : this.feed.value?.get(kind.kind, item.name);
          const r = s ? { ...item, ready: s.ready, reason: s.reason, message: s.message } : item;
          return html`<tr class=${r.ready === 'False' ? 'bad' : ''} data-name=${r.name}>
            <td><a href="#/documents/${kind.path}/${encodeURIComponent(r.name)}">${r.name}</a>${invalid ? html` <span class="invalid">(invalid)</span>` : nothing}</td>
            <td><span class=${r.ready}>${readyText(r.ready)}</span> <span class="reason" title=${r.message ?? ''}>${r.reason ?? ''}</span></td>
            ${instances ? html`<td>${r.blueprint ?? ''}</td><td class="wide">${r.state ?? ''}</td>` : nothing}
            <td class="wide">${r.owner}</td>
            <td class="wide">${r.origin ? html`<span title=${`git source ${r.origin.source} at ${r.origin.commit}: ${r.origin.file}`}>${r.origin.source}@${r.origin.commit.slice(0, 7)}</span>` : 'local'}</td>
          </tr>`;
        })}
      </tbody>
    </table>`;
  }
}

customElements.define('l4m-documents', L4mDocuments);

registerRoute({ name: 'documents', label: 'Documents', render: (args) => html`<l4m-documents .args=${args}></l4m-documents>` });
