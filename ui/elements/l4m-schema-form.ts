/**
 * <l4m-schema-form>: the form half of the documents editor. Its fields are
 * generated from the kind's JSON Schema (ui/schemas.ts): the name, then each
 * spec field the form can edit, labelled by its schema name with the
 * schema's description as help text (an installation's steam block as a
 * group of its own fields, shown for steam installations; an overlay's
 * sources in <l4m-overlay-sources>). Two fields know their options: an
 * instance's blueprint (a select of the blueprints the user can see) and a
 * blueprint's overlays (a multi-select). It never edits the document itself:
 * each change goes up as an `l4m-field` event `{ path, value }` (value
 * undefined: remove the field), and the editor rewrites the YAML.
 */
import { css, html, LitElement, nothing } from 'lit';
import { formFields, labelOf, type FormField, type Kind } from '../schemas.js';
import { theme } from '../theme.js';
import './l4m-overlay-sources.js';

export interface FieldChange {
  /** Keys, and indexes into lists (an overlay's sources). */
  path: Array<string | number>;
  value: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

let ids = 0;

/** `Cvars` → `cvar`: how one row of a map is named. */
const singular = (label: string) => label.toLowerCase().replace(/s$/, '');

export class L4mSchemaForm extends LitElement {
  static override properties = {
    kind: {},
    value: { attribute: false },
    blueprints: { attribute: false },
    overlays: { attribute: false },
    isNew: { type: Boolean, attribute: 'is-new' },
    readOnly: { type: Boolean, attribute: 'read-only' },
  };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      form { display: grid; gap: 0.8rem; }
      label { display: block; font-weight: 600; }
      .help { display: block; color: var(--muted); font-size: 0.85em; margin-top: 0.15rem; }
      input, select, textarea { font: inherit; color: var(--fg); background: var(--input-bg); border: 1px solid var(--line); border-radius: 4px; padding: 0.3rem 0.4rem; max-width: 100%; box-sizing: border-box; }
      input[type='text'], input:not([type]), select, textarea { width: 100%; }
      input[type='checkbox'] { width: auto; }
      textarea { min-height: 5rem; }
      fieldset { border: 1px solid var(--line); border-radius: 4px; padding: 0.5rem; margin: 0; }
      legend { font-weight: 600; }
      /* Only there so that one attribute disables every control (a read-only document). */
      fieldset.all { border: 0; padding: 0; min-width: 0; display: grid; gap: 0.8rem; }
      .row { display: flex; gap: 0.4rem; margin-bottom: 0.3rem; }
      .row input { flex: 1; min-width: 0; }
      button { font: inherit; }
    `,
  ];

  kind: Kind = 'Instance';
  /** The document as edited (parsed from the YAML); the form shows what it says. */
  value: Obj = {};
  /** The blueprints the user can see (an instance's `blueprint` select). */
  blueprints: string[] = [];
  /** The overlays the user can see (a blueprint's `overlays` multi-select). */
  overlays: string[] = [];
  /** A new document: its name can be set (an existing one's cannot: renaming is a new document). */
  isNew = false;
  /** Every control disabled: the document is shown, not edited (a git source serves it). */
  readOnly = false;
  private readonly uid = `f${++ids}`;

  private emit(path: Array<string | number>, value: unknown): void {
    this.dispatchEvent(new CustomEvent<FieldChange>('l4m-field', { detail: { path, value }, bubbles: true, composed: true }));
  }

  private get spec(): Obj {
    return isObj(this.value.spec) ? this.value.spec : {};
  }

  override render() {
    const meta = isObj(this.value.metadata) ? this.value.metadata : {};
    const nameId = `${this.uid}-name`;
    return html`<form aria-label="Fields" @submit=${(e: Event) => e.preventDefault()}><fieldset class="all" ?disabled=${this.readOnly}>
      <div>
        <label for=${nameId}>Name</label>
        <input id=${nameId} name="name" required ?readonly=${!this.isNew} aria-describedby="${nameId}-help" .value=${typeof meta.name === 'string' ? meta.name : ''}
          @change=${(e: Event) => this.emit(['metadata', 'name'], (e.target as HTMLInputElement).value.trim() || undefined)} />
        <small class="help" id="${nameId}-help">Lowercase letters, digits and '-'.${this.isNew ? '' : ' A new name makes a new document: use the YAML editor.'}</small>
      </div>
      ${formFields(this.kind).map((f) => this.field(f))}
    </fieldset></form>`;
  }

  private field(f: FormField, within: string[] = []): unknown {
    const id = `${this.uid}-${[...within, f.key].join('-')}`;
    const help = f.description ? html`<small class="help" id="${id}-help">${f.description}</small>` : nothing;
    // "Required" is the control's own `required`; nothing is added to the label, whose text is the field's name and only that.
    const label = html`<label for=${id}>${labelOf(f.key)}</label>`;
    const parent = within.reduce<Obj>((o, k) => (isObj(o[k]) ? (o[k] as Obj) : {}), this.spec);
    const v = parent[f.key];
    const path = ['spec', ...within, f.key];
    const described = f.description ? `${id}-help` : '';
    if (this.kind === 'Instance' && f.key === 'blueprint') return this.select(id, label, help, described, path, this.blueprints, v, f.required);
    switch (f.control) {
      case 'enum':
        return this.select(id, label, help, described, path, f.enum ?? [], v, f.required, f.default);
      case 'integer':
        return html`<div>${label}<input id=${id} type="number" inputmode="numeric" step="1" min=${f.minimum ?? nothing} max=${f.maximum ?? nothing}
          placeholder=${f.default !== undefined ? String(f.default) : ''} aria-describedby=${described} .value=${typeof v === 'number' ? String(v) : ''}
          @change=${(e: Event) => {
            const t = (e.target as HTMLInputElement).value.trim();
            this.emit(path, t === '' ? undefined : Number.isInteger(Number(t)) ? Number(t) : t);
          }} />${help}</div>`;
      case 'boolean':
        return html`<div><input id=${id} type="checkbox" aria-describedby=${described} .checked=${v === undefined ? f.default === true : v === true}
          @change=${(e: Event) => this.emit(path, (e.target as HTMLInputElement).checked)} /> ${label}${help}</div>`;
      case 'textarea':
        return html`<div>${label}<textarea id=${id} aria-describedby=${described} .value=${typeof v === 'string' ? v : ''}
          @change=${(e: Event) => this.emit(path, (e.target as HTMLTextAreaElement).value || undefined)}></textarea>${help}</div>`;
      case 'names':
        return this.names(id, label, help, described, path, f.key, v);
      case 'map':
        return this.map(f, path, v);
      case 'object':
        // An installation's steam block means something only for steam installations.
        if (this.kind === 'Installation' && f.key === 'steam' && this.spec.source !== 'steam') return nothing;
        return html`<fieldset aria-describedby=${described}>
          <legend>${labelOf(f.key)}</legend>
          ${(f.fields ?? []).map((inner): unknown => this.field(inner, [...within, f.key]))} ${help}
        </fieldset>`;
      case 'sources':
        return html`<div><l4m-overlay-sources .sources=${Array.isArray(v) ? v : []}></l4m-overlay-sources>${help}</div>`;
      default:
        return html`<div>${label}<input id=${id} type="text" ?required=${f.required} aria-describedby=${described} placeholder=${f.default !== undefined ? String(f.default) : ''} .value=${typeof v === 'string' || typeof v === 'number' ? String(v) : ''}
          @change=${(e: Event) => this.emit(path, (e.target as HTMLInputElement).value.trim() || undefined)} />${help}</div>`;
    }
  }

  private select(id: string, label: unknown, help: unknown, described: string, path: Array<string | number>, options: string[], v: unknown, required: boolean, dflt?: unknown) {
    const current = typeof v === 'string' ? v : '';
    // A value the options do not know (a blueprint not visible, a typo in the YAML) stays shown, so the select never hides it.
    const all = current && !options.includes(current) ? [current, ...options] : options;
    return html`<div>${label}<select id=${id} ?required=${required} aria-describedby=${described}
      @change=${(e: Event) => this.emit(path, (e.target as HTMLSelectElement).value || undefined)}>
      <option value="" ?selected=${current === ''}>${required ? '(choose)' : dflt !== undefined ? `(default: ${String(dflt)})` : '(not set)'}</option>
      ${all.map((o) => html`<option value=${o} ?selected=${o === current}>${o}</option>`)}
    </select>${help}</div>`;
  }

  private names(id: string, label: unknown, help: unknown, described: string, path: Array<string | number>, key: string, v: unknown) {
    const list = Array.isArray(v) ? v.map(String) : [];
    if (this.kind === 'Blueprint' && key === 'overlays') {
      const all = [...list, ...this.overlays.filter((o) => !list.includes(o))];
      return html`<div>${label}<select id=${id} multiple size=${Math.min(Math.max(all.length, 2), 8)} aria-describedby=${described}
        @change=${(e: Event) => {
          const chosen = [...(e.target as HTMLSelectElement).selectedOptions].map((o) => o.value);
          // Keep the stack's order for overlays already in it (order matters: later wins); new ones go on top.
          this.emit(path, [...list.filter((o) => chosen.includes(o)), ...chosen.filter((o) => !list.includes(o))]);
        }}>
        ${all.map((o) => html`<option value=${o} ?selected=${list.includes(o)}>${o}</option>`)}
      </select>${help}</div>`;
    }
    return html`<div>${label}<textarea id=${id} aria-describedby=${described} .value=${list.join('\n')}
      @change=${(e: Event) => {
        const items = (e.target as HTMLTextAreaElement).value.split('\n').map((s) => s.trim()).filter(Boolean);
        this.emit(path, items.length > 0 ? items : undefined);
      }}></textarea><small class="help">One per line.</small>${help}</div>`;
  }

  /** A string map (cvars) as key/value rows, plus an empty row to add one. */
  private map(f: FormField, path: Array<string | number>, v: unknown) {
    const entries = isObj(v) ? Object.entries(v) : [];
    const label = labelOf(f.key);
    const set = (key: string, value: unknown) => this.emit([...path, key], value);
    return html`<fieldset aria-describedby=${f.description ? `${this.uid}-${f.key}-help` : ''}>
      <legend>${label}</legend>
      ${entries.map(
        ([k, val]) => html`<div class="row">
          <input aria-label="${singular(label)} ${k}" .value=${k} readonly />
          <input aria-label="${singular(label)} ${k} value" .value=${String(val)} @change=${(e: Event) => set(k, (e.target as HTMLInputElement).value)} />
          <button type="button" aria-label="Remove ${k}" @click=${() => set(k, undefined)}>Remove</button>
        </div>`,
      )}
      <div class="row">
        <input aria-label="New ${singular(label)}" placeholder="name" />
        <input aria-label="New ${singular(label)} value" placeholder="value" />
        <button type="button" @click=${(e: Event) => {
          const row = (e.target as HTMLElement).parentElement!;
          const [k, val] = [...row.querySelectorAll('input')] as HTMLInputElement[];
          if (!k!.value.trim()) return k!.focus();
          set(k!.value.trim(), val!.value);
          k!.value = '';
          val!.value = '';
        }}>Add</button>
      </div>
      ${f.description ? html`<small class="help" id="${this.uid}-${f.key}-help">${f.description}</small>` : nothing}
    </fieldset>`;
  }
}

customElements.define('l4m-schema-form', L4mSchemaForm);
