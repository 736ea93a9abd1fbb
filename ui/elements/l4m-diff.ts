/**
 * <l4m-diff>: what an edit changes, as a readable list. The two versions are
 * compared with fast-json-patch (`compare`, RFC 6902 operations) and each
 * operation is said in words: "changed /spec/state: running → stopped",
 * "added /spec/port: 27020", "removed /spec/cvars/sv_cheats (was 1)". Used by
 * the editor's preview and by the 409 conflict view (theirs → mine).
 */
import { compare, getValueByPointer, type Operation } from 'fast-json-patch';
import { css, html, LitElement } from 'lit';
import { theme } from '../theme.js';

/** A value in one line: strings as they are, the rest as compact JSON, long ones cut. */
export function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? 'nothing';
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

/** One change in words. */
export interface Change {
  op: 'added' | 'removed' | 'changed';
  path: string;
  text: string;
}

/** The changes from `before` to `after`, in the order fast-json-patch finds them. */
export function changesOf(before: unknown, after: unknown): Change[] {
  const a = (before ?? {}) as object;
  const b = (after ?? {}) as object;
  const ops: Operation[] = compare(a, b);
  return ops.flatMap((o): Change[] => {
    const path = o.path === '' ? '/' : o.path;
    const old = () => {
      try {
        return getValueByPointer(a, o.path) as unknown;
      } catch {
        return undefined;
      }
    };
    if (o.op === 'add') return [{ op: 'added', path, text: `added ${path}: ${show(o.value)}` }];
    if (o.op === 'remove') return [{ op: 'removed', path, text: `removed ${path} (was ${show(old())})` }];
    if (o.op === 'replace') return [{ op: 'changed', path, text: `changed ${path}: ${show(old())} → ${show(o.value)}` }];
    return [];
  });
}

export class L4mDiff extends LitElement {
  static override properties = { base: { attribute: false }, edited: { attribute: false }, label: {} };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      ul { list-style: none; padding: 0; margin: 0.25rem 0; font-family: ui-monospace, monospace; font-size: 0.9em; }
      li { padding: 0.15rem 0.4rem; border-left: 3px solid var(--line); margin-bottom: 2px; overflow-wrap: anywhere; }
      li.added { border-color: var(--ok); }
      li.removed { border-color: var(--bad); }
      li.changed { border-color: var(--warn); }
      h3 { font-size: 1rem; margin: 0.25rem 0; }
      p { color: var(--muted); margin: 0.25rem 0; }
    `,
  ];

  /** The version before the edit (what the server has). */
  base: unknown = {};
  /** The version after it. */
  edited: unknown = {};
  /** The region's accessible name. */
  label = 'Changes';

  override render() {
    const changes = changesOf(this.base, this.edited);
    return html`<section role="region" aria-label=${this.label}>
      <h3>${this.label}</h3>
      ${changes.length === 0
        ? html`<p>No changes.</p>`
        : html`<ul aria-label="${this.label} list">${changes.map((c) => html`<li class=${c.op}>${c.text}</li>`)}</ul>`}
    </section>`;
  }
}

customElements.define('l4m-diff', L4mDiff);
