/**
 * <l4m-file-browser base="/api/v1/overlays/NAME/files" label="…">: a
 * read-only browser of one tree the API serves (an overlay's ready build, a
 * server's writable layer). Directories open in place, files are plain
 * download links to the same URL (the API answers them as attachments), and
 * links, whiteouts and other entries are listed but go nowhere.
 */
import { ContextConsumer } from '@lit/context';
import { Task } from '@lit/task';
import { css, html, LitElement } from 'lit';
import { apiContext } from '../services/context.js';
import { theme } from '../theme.js';

/** One entry of the API's directory listing (left4me-web/file-listing). */
export interface FileEntry {
  name: string;
  type: 'file' | 'dir' | 'link' | 'deleted' | 'other';
  size: number;
  mtime: string;
}

export interface FileListing {
  path: string;
  entries: FileEntry[];
  truncated: boolean;
}

/** The URL of `segments` below `base`, each segment encoded on its own (the API decodes them one by one). */
export function fileUrl(base: string, segments: string[]): string {
  return segments.length ? `${base}/${segments.map(encodeURIComponent).join('/')}` : base;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const TYPE_TEXT: Record<FileEntry['type'], string> = { file: 'file', dir: 'folder', link: 'link (not followed)', deleted: 'deleted', other: 'special file' };

export class L4mFileBrowser extends LitElement {
  static override properties = { base: { type: String }, label: { type: String }, path: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      nav ol { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem; padding: 0; margin: 0.25rem 0 0.5rem; }
      nav li + li::before { content: '/'; color: var(--muted); margin-right: 0.25rem; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); }
      td.num { text-align: right; font-variant-numeric: tabular-nums; }
      a, .linklike { color: var(--accent); }
      .linklike { background: none; border: none; padding: 0; font: inherit; cursor: pointer; text-decoration: underline; }
      .muted { color: var(--muted); }
      [role='alert'] { color: var(--bad); }
      @media (max-width: 700px) { .wide { display: none; } }
    `,
  ];

  /** The listing URL of the tree's root, e.g. `/api/v1/overlays/maps/files`. */
  base = '';
  /** What the tree is, for the table's accessible name ("Files of overlay maps"). */
  label = 'Files';
  /** The directory shown, as segments below the root. */
  path: string[] = [];
  private readonly api = new ContextConsumer(this, { context: apiContext });
  private readonly listing = new Task(this, {
    task: async ([base, path]: readonly [string, string[]]) => (base ? this.api.value!.get<FileListing>(fileUrl(base, path)) : undefined),
    args: () => [this.base, this.path] as const,
  });

  override willUpdate(changed: Map<string, unknown>): void {
    // Another tree starts at its root.
    if (changed.has('base') && changed.get('base') !== undefined) this.path = [];
  }

  private open(segments: string[]): void {
    this.path = segments;
  }

  private entryCell(e: FileEntry) {
    const here = [...this.path, e.name];
    if (e.type === 'dir') return html`<button class="linklike" @click=${() => this.open(here)} aria-label="Open folder ${e.name}">${e.name}/</button>`;
    if (e.type === 'file') return html`<a href=${fileUrl(this.base, here)} download=${e.name} aria-label="Download ${e.name}">${e.name}</a>`;
    return html`<span class="muted">${e.name}</span>`;
  }

  override render() {
    const crumbs = [{ name: 'root', segments: [] as string[] }, ...this.path.map((p, i) => ({ name: p, segments: this.path.slice(0, i + 1) }))];
    return html`
      <nav aria-label="Folder path">
        <ol>
          ${crumbs.map((c, i) =>
            i === crumbs.length - 1
              ? html`<li aria-current="location">${c.name}</li>`
              : html`<li><button class="linklike" @click=${() => this.open(c.segments)}>${c.name}</button></li>`,
          )}
        </ol>
      </nav>
      ${this.listing.render({
        pending: () => html`<p>Loading…</p>`,
        error: (e) => html`<p role="alert">${e instanceof Error ? e.message : String(e)}</p>`,
        complete: (l) =>
          l
            ? html`
                <table aria-label=${this.label}>
                  <thead><tr><th>Name</th><th>Type</th><th class="num">Size</th><th class="wide">Modified</th></tr></thead>
                  <tbody>
                    ${l.entries.length === 0 ? html`<tr><td colspan="4" class="muted">Empty folder</td></tr>` : ''}
                    ${l.entries.map(
                      (e) => html`<tr data-name=${e.name}>
                        <td>${this.entryCell(e)}</td>
                        <td>${TYPE_TEXT[e.type]}</td>
                        <td class="num">${e.type === 'file' ? formatBytes(e.size) : ''}</td>
                        <td class="wide">${new Date(e.mtime).toLocaleString()}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>
                ${l.truncated ? html`<p class="muted">Only the first ${l.entries.length} entries are listed.</p>` : ''}
              `
            : '',
      })}
    `;
  }
}

customElements.define('l4m-file-browser', L4mFileBrowser);
