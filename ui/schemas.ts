/**
 * The documents' JSON Schemas in the browser: the same files in schemas/ that
 * the controller validates with, bundled (esbuild inlines JSON), so the form,
 * the editor's completion and the server agree on every field. Only the
 * documents editor imports this module, and it is loaded lazily, so the
 * schemas cost the initial bundle nothing. A small resolver follows the
 * schemas' `$ref`s (to common.schema.json and within it); nothing else of
 * JSON Schema is needed here: the server stays the judge of validity.
 */
import blueprint from '../schemas/blueprint.schema.json';
import common from '../schemas/common.schema.json';
import installation from '../schemas/installation.schema.json';
import instance from '../schemas/instance.schema.json';
import overlay from '../schemas/overlay.schema.json';

export type Kind = 'Installation' | 'Overlay' | 'Blueprint' | 'Instance';

/** The part of a JSON Schema node this module reads. */
export interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  required?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
}

/** The URL path segment of each kind (`/api/v1/<path>`, `#/documents/<path>`). */
export const KIND_PATHS: Record<string, Kind> = { installations: 'Installation', overlays: 'Overlay', blueprints: 'Blueprint', instances: 'Instance' };
export const pathOfKind = (kind: Kind): string => Object.keys(KIND_PATHS).find((p) => KIND_PATHS[p] === kind)!;

const SCHEMAS: Record<Kind, SchemaNode> = {
  Installation: installation as SchemaNode,
  Overlay: overlay as SchemaNode,
  Blueprint: blueprint as SchemaNode,
  Instance: instance as SchemaNode,
};

export function schemaOf(kind: Kind): SchemaNode {
  return SCHEMAS[kind];
}

/**
 * A node with its `$ref` followed: `common.schema.json#/$defs/x` and, inside
 * common, `#/$defs/x`. The referring node's own keywords (its description,
 * default) win over the target's, as in the schemas' intent.
 */
export function resolve(node: SchemaNode | undefined): SchemaNode | undefined {
  let n = node;
  for (let i = 0; n?.$ref && i < 8; i++) {
    const m = /^(?:common\.schema\.json)?#\/\$defs\/([A-Za-z0-9]+)$/.exec(n.$ref);
    const target = m ? ((common as { $defs: Record<string, SchemaNode> }).$defs[m[1]!] as SchemaNode | undefined) : undefined;
    const { $ref: _ref, ...own } = n;
    n = target ? { ...target, ...own } : own;
  }
  return n;
}

/** The schema node at a path of keys (`['spec', 'cvars']`), or undefined where the schema says nothing. */
export function nodeAt(kind: Kind, path: readonly string[]): SchemaNode | undefined {
  let n = resolve(schemaOf(kind));
  for (const key of path) {
    if (!n) return undefined;
    const next: SchemaNode | undefined = n.properties?.[key] ?? (typeof n.additionalProperties === 'object' ? n.additionalProperties : undefined) ?? n.items;
    n = resolve(next);
  }
  return n;
}

/** The keys an object at `path` may have, with their descriptions (the editor's completion). */
export function keysAt(kind: Kind, path: readonly string[]): Array<{ key: string; description: string; enum?: unknown[] }> {
  const n = nodeAt(kind, path);
  return Object.entries(n?.properties ?? {}).map(([key, v]) => {
    const r = resolve(v);
    return { key, description: r?.description ?? '', ...(r?.enum ? { enum: r.enum } : {}) };
  });
}

/** A definition of a kind's own schema (`#/$defs/<name>`, e.g. an overlay's `archive`), its common `$ref`s followed. */
export function defOf(kind: Kind, name: string): SchemaNode | undefined {
  const defs = (schemaOf(kind) as { $defs?: Record<string, SchemaNode> }).$defs;
  return resolve(defs?.[name]);
}

/** The description and choices of one property of a node (a source field's help text, an archive's formats). */
export function propertyOf(node: SchemaNode | undefined, key: string): { description: string; enum?: string[]; default?: unknown } {
  const n = resolve(node?.properties?.[key]);
  return { description: n?.description ?? '', ...(n?.enum ? { enum: n.enum.map(String) } : {}), ...(n?.default !== undefined ? { default: n.default } : {}) };
}

/** How the form edits one field of `spec`. */
export type FieldControl = 'text' | 'textarea' | 'enum' | 'integer' | 'boolean' | 'names' | 'map' | 'object' | 'sources';

export interface FormField {
  key: string;
  control: FieldControl;
  description: string;
  required: boolean;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
  /** An `object` field's own fields (an installation's steam block), one level deep. */
  fields?: FormField[];
}

/** One scalar field of a schema node as a form field, or undefined when the form has no control for it. */
function scalarField(key: string, n: SchemaNode, required: boolean): FormField | undefined {
  const base = { key, description: n.description ?? '', required, ...(n.default !== undefined ? { default: n.default } : {}) };
  const types = Array.isArray(n.type) ? n.type : n.type ? [n.type] : [];
  if (n.enum) return { ...base, control: 'enum', enum: n.enum.map(String) };
  if (types.length === 1 && types[0] === 'integer') return { ...base, control: 'integer', ...(n.minimum !== undefined ? { minimum: n.minimum } : {}), ...(n.maximum !== undefined ? { maximum: n.maximum } : {}) };
  if (types.length === 1 && types[0] === 'boolean') return { ...base, control: 'boolean' };
  if (types.length === 1 && types[0] === 'string') return { ...base, control: (n.maxLength ?? 0) > 1024 ? 'textarea' : 'text' };
  return undefined;
}

/**
 * The spec fields the form offers for a kind: strings, enums, integers and
 * booleans, lists of names (a blueprint's overlays), string maps (cvars),
 * objects of such fields (an installation's steam block) and an overlay's
 * sources (their own editor, <l4m-overlay-sources>). Anything else is
 * edited in YAML.
 */
export function formFields(kind: Kind): FormField[] {
  const spec = nodeAt(kind, ['spec']);
  const required = new Set(spec?.required ?? []);
  const out: FormField[] = [];
  for (const [key, raw] of Object.entries(spec?.properties ?? {})) {
    const n = resolve(raw)!;
    const base = { key, description: n.description ?? '', required: required.has(key), ...(n.default !== undefined ? { default: n.default } : {}) };
    const types = Array.isArray(n.type) ? n.type : n.type ? [n.type] : [];
    const scalar = scalarField(key, n, required.has(key));
    if (scalar) out.push(scalar);
    else if (kind === 'Overlay' && key === 'sources') out.push({ ...base, control: 'sources' });
    else if (types[0] === 'array' && resolve(n.items)?.type === 'string') out.push({ ...base, control: 'names' });
    else if (types[0] === 'object' && typeof n.additionalProperties === 'object' && !n.properties) out.push({ ...base, control: 'map' });
    else if (types[0] === 'object' && n.properties) {
      const inner = new Set(n.required ?? []);
      const fields = Object.entries(n.properties).map(([k, v]) => scalarField(k, resolve(v)!, inner.has(k)));
      if (fields.every((f) => f !== undefined)) out.push({ ...base, control: 'object', fields: fields as FormField[] });
    }
  }
  return out;
}

/** A field's label: its schema name in words (`maxPlayers` → `Max players`). */
export function labelOf(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * Two versions of a document without the spec fields that one of them leaves
 * out and the other sets to the schema's default: the API answers with
 * defaults filled in (`updatePolicy: whenEmpty`), an edit may leave them out,
 * and a diff should not call that a change.
 */
export function withoutDefaults(kind: Kind, a: Record<string, unknown>, b: Record<string, unknown>): [Record<string, unknown>, Record<string, unknown>] {
  const specOf = (d: Record<string, unknown>) => (typeof d.spec === 'object' && d.spec !== null && !Array.isArray(d.spec) ? (d.spec as Record<string, unknown>) : undefined);
  const [sa, sb] = [specOf(a), specOf(b)];
  if (!sa || !sb) return [a, b];
  const props = nodeAt(kind, ['spec'])?.properties ?? {};
  const isDefault = (k: string, v: unknown) => {
    const d = resolve(props[k])?.default;
    return d !== undefined && JSON.stringify(d) === JSON.stringify(v);
  };
  const trim = (s: Record<string, unknown>, other: Record<string, unknown>) => Object.fromEntries(Object.entries(s).filter(([k, v]) => k in other || !isDefault(k, v)));
  return [
    { ...a, spec: trim(sa, sb) },
    { ...b, spec: trim(sb, sa) },
  ];
}
