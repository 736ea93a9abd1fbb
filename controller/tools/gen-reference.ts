// One concern: the README's document reference, generated from the schemas.
//
// Renders the document reference in README.md from schemas/*.schema.json, so
// the prose people read can never drift from the contract ajv enforces.
import { realpathSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KINDS } from '../documents/kinds.js';
import { packageRoot } from '../package-root.js';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Obj = Record<string, unknown>;

/** Parsed JSON Schemas keyed by their `$id` (or file URL when they have none). */
export type SchemaSet = Map<string, Obj>;

/** The README line that opens the generated section. */
export const START_MARKER = '<!-- reference:start -->';
/** The README line that closes the generated section. */
export const END_MARKER = '<!-- reference:end -->';

const METADATA_ANCHOR = '#metadata';
const SHARED_ANCHOR = '#shared-types';

/** Reads every `*.schema.json` in `dir` (sorted by file name, so the result does not depend on readdir order). */
export async function readSchemaFiles(dir: string): Promise<SchemaSet> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.schema.json')).sort();
  const set: SchemaSet = new Map();
  for (const file of files) {
    const path = join(dir, file);
    const schema: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (!isObj(schema)) throw new Error(`${path}: a schema must be a JSON object`);
    set.set(typeof schema.$id === 'string' ? schema.$id : pathToFileURL(path).href, schema);
  }
  return set;
}

// ---------------------------------------------------------------------------
// $ref resolution

/** A schema node after following its `$ref` chain, with the base URI each keyword must resolve its own refs against. */
interface Resolved {
  node: Obj | boolean;
  baseOf: Record<string, string>;
  /** Every schema location the `$ref` chain passed through, outermost first. */
  uris: string[];
  /** Set when the chain itself loops (`a` → `b` → `a`); `node` is then the last good link. */
  cycle?: string;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolveRef(set: SchemaSet, ref: string, base: string): { target: unknown; uri: string; base: string } {
  const url = new URL(ref, base);
  const pointer = decodeURIComponent(url.hash.replace(/^#/, ''));
  url.hash = '';
  const doc = set.get(url.href);
  if (!doc) throw new Error(`gen-reference: $ref "${ref}" (from ${base}) names ${url.href}, which is not among the loaded schemas`);
  let target: unknown = doc;
  for (const seg of pointer.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    target = isObj(target) || Array.isArray(target) ? (target as Obj)[key] : undefined;
    if (target === undefined) throw new Error(`gen-reference: $ref "${ref}" (from ${base}) points at nothing`);
  }
  return { target, uri: `${url.href}#${pointer}`, base: url.href };
}

// Keywords beside a $ref refine the target (2020-12 semantics), so the
// outermost layer wins; each keyword remembers which document it came from.
function deref(set: SchemaSet, raw: unknown, base: string): Resolved {
  const layers: { node: Obj; base: string }[] = [];
  const uris: string[] = [];
  let cur = raw;
  let curBase = base;
  let cycle: string | undefined;
  while (isObj(cur) && typeof cur.$ref === 'string') {
    const next = resolveRef(set, cur.$ref, curBase);
    if (uris.includes(next.uri)) {
      cycle = next.uri;
      break;
    }
    layers.push({ node: cur, base: curBase });
    uris.push(next.uri);
    cur = next.target;
    curBase = next.base;
  }
  if (typeof cur === 'boolean' && layers.length === 0) return { node: cur, baseOf: {}, uris };
  const node: Obj = {};
  const baseOf: Record<string, string> = {};
  const stackOfLayers = [...(isObj(cur) && cycle === undefined ? [{ node: cur, base: curBase }] : []), ...layers.reverse()];
  for (const layer of stackOfLayers) {
    for (const [k, v] of Object.entries(layer.node)) {
      if (k === '$ref') continue;
      node[k] = v;
      baseOf[k] = layer.base;
    }
  }
  return cycle === undefined ? { node, baseOf, uris } : { node, baseOf, uris, cycle };
}

// ---------------------------------------------------------------------------
// Markdown helpers

function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function literal(v: unknown): string {
  return code(typeof v === 'string' ? v : JSON.stringify(v));
}

function list(keys: string[]): string {
  return keys.map(code).join(', ');
}

// GFM tables split on every unescaped '|', even inside code spans.
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
}

function fieldPath(parent: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

// ---------------------------------------------------------------------------
// Types, limits and rules

interface Ctx {
  set: SchemaSet;
  /** Shared `$defs` (outside any kind schema) that get one row in the shared-types table instead of being repeated. */
  shared: Map<string, string>;
  metadataUri: string | undefined;
}

function typeNames(n: Obj): string[] {
  if (Array.isArray(n.type)) return n.type.map(String);
  if (typeof n.type === 'string') return [n.type];
  if (isObj(n.properties) || n.additionalProperties !== undefined) return ['object'];
  if (n.items !== undefined) return ['array'];
  return [];
}

function range(min: unknown, max: unknown, unit: string): string | undefined {
  const u = unit ? ` ${unit}` : '';
  if (typeof min === 'number' && typeof max === 'number') return min === max ? `exactly ${min}${u}` : `${min}–${max}${u}`;
  if (typeof max === 'number') return `≤ ${max}${u}`;
  if (typeof min === 'number') return `≥ ${min}${u}`;
  return undefined;
}

function hasOneKeyRule(n: Obj): boolean {
  return isObj(n.properties) && n.minProperties === 1 && n.maxProperties === 1 && n.additionalProperties === false;
}

function hasAtLeastRule(n: Obj): boolean {
  return isObj(n.properties) && typeof n.minProperties === 'number' && n.minProperties >= 1 && !hasOneKeyRule(n) && !Array.isArray(n.required);
}

function limits(n: Obj): string[] {
  const out: string[] = [];
  const push = (s: string | undefined): void => {
    if (s) out.push(s);
  };
  push(range(n.minimum, n.maximum, ''));
  if (typeof n.exclusiveMinimum === 'number') out.push(`> ${n.exclusiveMinimum}`);
  if (typeof n.exclusiveMaximum === 'number') out.push(`< ${n.exclusiveMaximum}`);
  push(range(n.minLength, n.maxLength, 'chars'));
  if (typeof n.format === 'string') out.push(`format ${n.format}`);
  if (typeof n.pattern === 'string') out.push(`pattern ${code(n.pattern)}`);
  push(range(n.minItems, n.maxItems, 'items'));
  if (n.uniqueItems === true) out.push('no duplicates');
  if (!hasOneKeyRule(n) && !hasAtLeastRule(n)) push(range(n.minProperties, n.maxProperties, 'entries'));
  return out;
}

function withLimits(base: string, n: Obj): string {
  const l = limits(n);
  return l.length ? `${base}, ${l.join(', ')}` : base;
}

function sharedName(ctx: Ctx, r: Resolved): string | undefined {
  for (const uri of r.uris) {
    const name = ctx.shared.get(uri);
    if (name !== undefined) return name;
  }
  return undefined;
}

/** Human type of a (resolved) schema; shared types become links unless `expandShared`. */
function typeLabel(ctx: Ctx, r: Resolved, expandShared = false): string {
  const n = r.node;
  if (n === true) return 'anything';
  if (n === false) return 'not allowed';
  if (r.cycle !== undefined) return `circular ${code('$ref')}`;
  if (ctx.metadataUri !== undefined && r.uris.includes(ctx.metadataUri)) return `object ([metadata](${METADATA_ANCHOR}))`;
  const shared = expandShared ? undefined : sharedName(ctx, r);
  if (shared !== undefined) return `[${shared}](${SHARED_ANCHOR})`;
  if ('const' in n) return `${literal(n.const)} (constant)`;
  if (Array.isArray(n.enum)) return `one of ${n.enum.map(literal).join(', ')}`;
  const types = typeNames(n);
  if (types.length === 1 && types[0] === 'array') return arrayLabel(ctx, r);
  if (types.length === 1 && types[0] === 'object' && isObj(n.additionalProperties)) return mapLabel(ctx, r);
  return withLimits(types.length ? types.join('/') : 'any JSON value', n);
}

// An item's own limits go after the list's, so "≤ 32" is never ambiguous.
function arrayLabel(ctx: Ctx, r: Resolved): string {
  const n = r.node as Obj;
  const items = deref(ctx.set, n.items, r.baseOf.items ?? '');
  if (isObj(items.node) && isObj(items.node.properties)) return withLimits('array of objects', n);
  if (!isObj(items.node) || sharedName(ctx, items) !== undefined || 'const' in items.node || Array.isArray(items.node.enum)) {
    return withLimits(`array of ${typeLabel(ctx, items)}`, n);
  }
  const head = withLimits(`array of ${typeNames(items.node).join('/') || 'any JSON value'}`, n);
  const each = limits(items.node);
  return each.length ? `${head}; each ${each.join(', ')}` : head;
}

// A map's keys and values carry their own limits; keep them apart from the
// map's entry count so "≤ 64" is never ambiguous.
function mapLabel(ctx: Ctx, r: Resolved): string {
  const n = r.node as Obj;
  const parts: string[] = [];
  let keyLabel = 'string';
  if (n.propertyNames !== undefined) {
    const keys = deref(ctx.set, n.propertyNames, r.baseOf.propertyNames ?? '');
    const name = sharedName(ctx, keys);
    if (name !== undefined) keyLabel = `[${name}](${SHARED_ANCHOR})`;
    else if (isObj(keys.node) && limits(keys.node).length) parts.push(`keys ${limits(keys.node).join(', ')}`);
  }
  let valueLabel = 'anything';
  if (n.additionalProperties !== undefined && n.additionalProperties !== true) {
    const values = deref(ctx.set, n.additionalProperties, r.baseOf.additionalProperties ?? '');
    if (isObj(values.node) && sharedName(ctx, values) === undefined) {
      valueLabel = typeNames(values.node).join('/') || 'any JSON value';
      if (limits(values.node).length) parts.push(`values ${limits(values.node).join(', ')}`);
    } else {
      valueLabel = typeLabel(ctx, values);
    }
  }
  const head = withLimits(`map of ${keyLabel} → ${valueLabel}`, n);
  return parts.length ? `${head}; ${parts.join('; ')}` : head;
}

/** What an object's combinators demand of its fields: per-field notes plus one sentence for the object's own row. */
interface Rules {
  notes: Map<string, { text: string; binding: boolean }[]>;
  summary: string[];
}

function condition(ifNode: unknown): string {
  if (!isObj(ifNode) || !isObj(ifNode.properties)) return `the ${code('if')} condition holds`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(ifNode.properties)) {
    if (isObj(v) && 'const' in v) parts.push(`${code(k)} is ${literal(v.const)}`);
    else if (isObj(v) && Array.isArray(v.enum)) parts.push(`${code(k)} is one of ${v.enum.map(literal).join(', ')}`);
  }
  return parts.length ? parts.join(' and ') : `the ${code('if')} condition holds`;
}

function objectRules(n: Obj): Rules {
  const rules: Rules = { notes: new Map(), summary: [] };
  const note = (key: string, text: string, binding: boolean): void => {
    const list = rules.notes.get(key) ?? [];
    list.push({ text, binding });
    rules.notes.set(key, list);
  };
  const keys = isObj(n.properties) ? Object.keys(n.properties) : [];

  if (hasOneKeyRule(n)) {
    const text = `exactly one of ${list(keys)}`;
    for (const k of keys) note(k, text, true);
    rules.summary.push(`${text}.`);
  } else if (hasAtLeastRule(n)) {
    const min = n.minProperties as number;
    const text = `at least ${min === 1 ? 'one' : min} of ${list(keys)}`;
    for (const k of keys) note(k, text, true);
    rules.summary.push(`${text}.`);
  }

  if (Array.isArray(n.oneOf) && n.oneOf.every((b) => isObj(b) && Array.isArray(b.required))) {
    const sets = n.oneOf.map((b) => ((b as Obj).required as string[]).map(code).join(' + '));
    const text = sets.length === 2 ? `either ${sets[0]} or ${sets[1]}` : `exactly one of: ${sets.join('; ')}`;
    const inSets = new Set(n.oneOf.flatMap((b) => (b as Obj).required as string[]));
    for (const k of keys) if (inSets.has(k)) note(k, text, true);
    rules.summary.push(`${text}.`);
  }

  const conditionals = [n, ...(Array.isArray(n.allOf) ? n.allOf : [])].filter((c): c is Obj => isObj(c) && isObj(c.if));
  for (const c of conditionals) {
    for (const [branch, negate] of [['then', false], ['else', true]] as const) {
      const body = c[branch];
      if (!isObj(body)) continue;
      const when = negate ? `unless ${condition(c.if)}` : `when ${condition(c.if)}`;
      const required = Array.isArray(body.required) ? body.required.map(String) : [];
      const forbidden = isObj(body.properties)
        ? Object.entries(body.properties).filter(([, v]) => v === false).map(([k]) => k)
        : [];
      for (const k of required) note(k, `required ${when}`, true);
      for (const k of forbidden) note(k, `not allowed ${when}`, false);
      const parts = [
        ...(required.length ? [`${list(required)} required`] : []),
        ...(forbidden.length ? [`${list(forbidden)} not allowed`] : []),
      ];
      if (parts.length) rules.summary.push(`${when}: ${parts.join('; ')}.`);
    }
  }
  return rules;
}

// ---------------------------------------------------------------------------
// Rows

interface Row {
  path: string;
  type: string;
  need: string;
  description: string;
}

interface Frame {
  uri: string;
  path: string;
}

function description(n: Obj | boolean): string {
  if (!isObj(n)) return '';
  if (typeof n.description === 'string') return n.description;
  return typeof n.title === 'string' ? n.title : '';
}

function needCell(need: string[], n: Obj | boolean): string {
  const parts = [...need];
  if (isObj(n) && 'default' in n) parts.push(`default ${literal(n.default)}`);
  return parts.join('; ');
}

function walk(ctx: Ctx, raw: unknown, base: string, path: string, need: string[], stack: Frame[], rows: Row[]): void {
  const r = deref(ctx.set, raw, base);
  const row: Row = { path, type: typeLabel(ctx, r), need: needCell(need, r.node), description: description(r.node) };
  rows.push(row);
  if (r.cycle !== undefined) {
    row.description = `${row.description} The schema's ${code('$ref')} chain loops at ${code(r.cycle)}.`.trim();
    return;
  }
  if (!isObj(r.node)) return;
  if (ctx.metadataUri !== undefined && r.uris.includes(ctx.metadataUri)) {
    row.description = `${row.description} See [metadata](${METADATA_ANCHOR}).`.trim();
    return;
  }
  const again = stack.find((f) => r.uris.includes(f.uri));
  if (again) {
    row.description = `${row.description} Recursive: the same shape as ${code(again.path)}.`.trim();
    return;
  }
  const summary = objectRules(r.node).summary;
  if (summary.length) {
    const sentences = summary.map((x) => `${x[0]!.toUpperCase()}${x.slice(1)}`).join(' ');
    row.description = `${row.description} **${summary.length > 1 ? 'Rules' : 'Rule'}:** ${sentences}`.trim();
  }
  walkChildren(ctx, r, path, [...stack, ...r.uris.map((uri) => ({ uri, path }))], rows);
}

function walkChildren(ctx: Ctx, r: Resolved, path: string, stack: Frame[], rows: Row[]): void {
  const n = r.node;
  if (!isObj(n)) return;
  if (isObj(n.properties)) {
    const rules = objectRules(n);
    const required = new Set(Array.isArray(n.required) ? n.required.map(String) : []);
    for (const [key, child] of Object.entries(n.properties)) {
      const notes = rules.notes.get(key) ?? [];
      const need = required.has(key)
        ? ['required', ...notes.map((x) => x.text)]
        : notes.some((x) => x.binding)
          ? notes.map((x) => x.text)
          : ['optional', ...notes.map((x) => x.text)];
      walk(ctx, child, r.baseOf.properties ?? '', fieldPath(path, key), need, stack, rows);
    }
  }
  // Values of a map only earn their own rows when they are structured.
  if (n.additionalProperties !== undefined && typeof n.additionalProperties !== 'boolean') {
    const values = deref(ctx.set, n.additionalProperties, r.baseOf.additionalProperties ?? '');
    if (isObj(values.node) && isObj(values.node.properties)) {
      walk(ctx, n.additionalProperties, r.baseOf.additionalProperties ?? '', `${path}.<key>`, ['each value'], stack, rows);
    }
  }
  if (n.items !== undefined && typeof n.items !== 'boolean') {
    const items = deref(ctx.set, n.items, r.baseOf.items ?? '');
    if (isObj(items.node) && isObj(items.node.properties)) {
      walk(ctx, n.items, r.baseOf.items ?? '', `${path}[]`, ['each item'], stack, rows);
    }
  }
}

function table(rows: Row[]): string {
  const lines = ['| Field | Type | Required / default | Description |', '| --- | --- | --- | --- |'];
  for (const row of rows) {
    lines.push(`| ${[code(row.path), row.type, row.need, row.description].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// The document

/** The controller's own configuration file: not a document kind, rendered in its own section after the documents'. */
const CONTROLLER_SCHEMA = '/controller.schema.json';

function isControllerSchema(id: string): boolean {
  return id.endsWith(CONTROLLER_SCHEMA);
}

function kindOf(schema: Obj): string | undefined {
  const kind = isObj(schema.properties) ? schema.properties.kind : undefined;
  return isObj(kind) && typeof kind.const === 'string' ? kind.const : undefined;
}

/** Renders the whole reference section (without markers) from a set of schemas; pure and deterministic. */
export function renderSchemas(set: SchemaSet): string {
  const kinds = new Map<string, { id: string; schema: Obj }>();
  for (const [id, schema] of set) {
    const kind = kindOf(schema);
    if (kind !== undefined) kinds.set(kind, { id, schema });
  }
  for (const kind of KINDS) {
    if (!kinds.has(kind)) throw new Error(`gen-reference: no schema with "kind": { "const": "${kind}" } among ${[...set.keys()].join(', ')}`);
  }
  const ordered = [...KINDS, ...[...kinds.keys()].filter((k) => !(KINDS as readonly string[]).includes(k)).sort()];

  // The first kind decides where the shared metadata lives; every kind that
  // points at the same place links to its one table.
  const first = kinds.get(KINDS[0])!;
  const firstProps = first.schema.properties as Obj;
  const metadata = firstProps.metadata === undefined ? undefined : deref(set, firstProps.metadata, first.id);
  const metadataUri = metadata?.uris.at(-1);

  const shared = new Map<string, string>();
  for (const [id, schema] of set) {
    if (kindOf(schema) !== undefined || isControllerSchema(id) || !isObj(schema.$defs)) continue;
    for (const name of Object.keys(schema.$defs)) {
      const uri = `${id}#/$defs/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (uri !== metadataUri) shared.set(uri, name);
    }
  }
  const ctx: Ctx = { set, shared, metadataUri };

  const out: string[] = [
    '## Document reference',
    '',
    `Generated from ${code('schemas/*.schema.json')} by ${code('npm run docs')}; edit the schemas, not this section.`,
    `Every document has ${code('apiVersion')}, ${code('kind')}, [${code('metadata')}](${METADATA_ANCHOR}) and ${code('spec')}.`,
    `Kinds are listed from the base game tree up to a running server; paths ending in ${code('[]')} describe each item of a list.`,
  ];
  for (const kind of ordered) {
    const { id, schema } = kinds.get(kind)!;
    const rows: Row[] = [];
    walkChildren(ctx, deref(set, schema, id), '', [], rows);
    out.push('', `### ${kind}`, '', description(schema), '', table(rows));
  }
  if (metadata && isObj(metadata.node) && metadataUri !== undefined) {
    const rows: Row[] = [];
    const local: Ctx = { ...ctx, metadataUri: undefined };
    walkChildren(local, metadata, 'metadata', [{ uri: metadataUri, path: 'metadata' }], rows);
    out.push('', '### Metadata', '', `${description(metadata.node)} The same for every kind.`, '', table(rows));
  }
  if (shared.size) {
    const lines = ['| Type | Shape | Description |', '| --- | --- | --- |'];
    for (const [uri, name] of shared) {
      const r = deref(set, { $ref: uri }, uri);
      lines.push(`| ${[code(name), typeLabel(ctx, r, true), description(r.node)].map(cell).join(' | ')} |`);
    }
    out.push('', '### Shared types', '', 'Value types that several fields use.', '', lines.join('\n'));
  }
  const controller = [...set].find(([id]) => isControllerSchema(id));
  if (controller) {
    const [id, schema] = controller;
    const rows: Row[] = [];
    walkChildren(ctx, deref(set, schema, id), '', [], rows);
    out.push('', `### ${typeof schema.title === 'string' ? schema.title : 'Controller configuration'}`, '', description(schema), '', table(rows));
  }
  return out.join('\n');
}

/** Reads schemas/ from the repo root and renders the reference section (without markers). */
export async function renderReference(): Promise<string> {
  return renderSchemas(await readSchemaFiles(join(packageRoot(), 'schemas')));
}

/** Returns `text` with everything between the reference markers replaced by `body`; throws when the markers are missing. */
export function replaceSection(text: string, body: string): string {
  const start = text.indexOf(START_MARKER);
  const end = start < 0 ? -1 : text.indexOf(END_MARKER, start + START_MARKER.length);
  if (start < 0 || end < 0) {
    throw new Error(`README.md has no ${START_MARKER} … ${END_MARKER} pair; put both lines where the reference belongs`);
  }
  return `${text.slice(0, start + START_MARKER.length)}\n${body.trimEnd()}\n${text.slice(end)}`;
}

/** The text between the reference markers, trimmed; undefined when the markers are missing. */
export function extractSection(text: string): string | undefined {
  const start = text.indexOf(START_MARKER);
  const end = start < 0 ? -1 : text.indexOf(END_MARKER, start + START_MARKER.length);
  return start < 0 || end < 0 ? undefined : text.slice(start + START_MARKER.length, end).trim();
}

/** Compares README.md's reference section with the schemas; rewrites it unless `check`. Returns true when it was stale. */
export async function updateReadme(check: boolean, readmePath: string = join(packageRoot(), 'README.md')): Promise<boolean> {
  const current = await readFile(readmePath, 'utf8');
  const next = replaceSection(current, await renderReference());
  if (next === current) return false;
  if (!check) await writeFile(readmePath, next);
  return true;
}

/** CLI: `gen-reference [--check]`; returns the exit code (1 when `--check` finds the README stale). */
export async function main(argv: string[], readmePath?: string): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    console.error(`gen-reference: unknown argument ${unknown[0]}; usage: gen-reference [--check]`);
    return 2;
  }
  const check = argv.includes('--check');
  const stale = await updateReadme(check, readmePath);
  if (check && stale) {
    console.error('README.md: the document reference does not match schemas/. Run `npm run docs` and commit README.md.');
    return 1;
  }
  if (!check) console.log(stale ? 'README.md: document reference updated.' : 'README.md: document reference already up to date.');
  return 0;
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}
