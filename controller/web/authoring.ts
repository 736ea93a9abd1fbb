/**
 * Who may write which documents through the API, and in what shape the
 * writer gets them. Admins may write anything. A user writes Instances,
 * Blueprints and non-script Overlays of its own: `metadata.owner` is set from
 * the session (a body naming anyone else is refused, never trusted), console
 * text that reaches the server (serverCfg, aliases, `+command` launch
 * arguments) may hold only settings, and documents of others are never
 * overwritten; problems shown to a user never name documents it cannot see. The loader's reference rule
 * (documents/crosscheck.ts) keeps a user's documents to its own servers.
 * Pure over the state it is given, except for reading an invalid document's
 * file to learn its owner.
 */
import { readFile } from 'node:fs/promises';
import { isMap, isPair, isScalar, parseAllDocuments, type Document as YamlDocument, type YAMLMap } from 'yaml';
import { consoleCommandProblem, consoleTextCommands } from '../documents/console-commands.js';
import { specHash } from '../documents/hash.js';
import { KINDS, kindKey, type Document, type Kind } from '../documents/kinds.js';
import { documentsOf, type DesiredState } from '../documents/loader.js';
import { isDocumentName } from '../documents/names.js';
import type { DocumentOrigin } from '../documents/origin.js';
import type { Problem } from '../documents/problems.js';
import type { InputFile } from '../documents/writer.js';
import { parseYamlFile } from '../documents/yaml-source.js';
import { visibleTo } from './access.js';
import { ApiError, forbidden } from './errors.js';
import type { WebUser } from './users.js';

/** The name a request body's problems are shown under. */
export const BODY = 'body';

/** The URL word of a kind: `instances`. */
export const pathOf = (kind: Kind): string => `${kindKey(kind)}s`;

/** The same YAML options as the loader, so positions here are the loader's positions. */
const YAML_OPTIONS = { schema: 'core', strict: true, uniqueKeys: true, merge: false, prettyErrors: false } as const;

/** A document as the API shows it: what its author wrote, with defaults filled in. */
export function documentView(doc: Document): { apiVersion: string; kind: Kind; metadata: Document['metadata']; spec: unknown } {
  return { apiVersion: doc.apiVersion, kind: doc.kind, metadata: doc.metadata, spec: doc.spec };
}

/**
 * The ETag of a document: a hash of its metadata and spec, not of the spec
 * alone (the generation). Restart, reset, owner and labels live in metadata;
 * an ETag blind to them would let a stale edit silently undo a restart.
 */
export function etagOf(doc: Document): string {
  return `"${specHash(documentView(doc))}"`;
}

/** Whether an If-Match header names this ETag (`*`, a list, weak tags compared by value). */
export function ifMatches(header: string, etag: string): boolean {
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/**
 * Where a document comes from when the API may not change it: a git source
 * serves that kind and name (valid or not, alone or in conflict with a local
 * copy), so it changes in the repository. The one place to answer it.
 */
export function managedBy(state: DesiredState, kind: Kind, name: string): DocumentOrigin | undefined {
  return state.managed.get(`${kindKey(kind)}/${name}`);
}

/** Refuses (403) a write to a document a git source serves, with the words `left4me apply` uses. */
export function assertNotManaged(state: DesiredState, kind: Kind, name: string): void {
  const by = managedBy(state, kind, name);
  if (by) throw forbidden(`${kindKey(kind)}/${name} is managed by git source ${by.source}: change the repository`);
}

/** A request body ready for the writer, and a way back from its lines to the lines the client sent. */
export interface AuthoredBody {
  input: InputFile;
  /** The kind and name of each document in the body that has them readably. */
  docs: Array<{ kind: Kind; name: string }>;
  /** Line in `input.text` → line of the body as sent. */
  originalLine(line: number): number;
}

/** One text insertion: `owner` added to a document's metadata. */
interface Insertion {
  offset: number;
  text: string;
  /** Whether it adds a line (block maps) or only columns (flow maps). */
  newline: boolean;
}

/**
 * Checks a YAML or JSON body (JSON is YAML) against what `user` may write, and
 * sets `metadata.owner` for users. Throws ApiError 403 (not theirs to write:
 * an installation, a script overlay, a system document, another owner named),
 * 409 (the name is another user's) or 422 (console text that runs commands).
 * A body that does not parse is passed on untouched: the writer says where.
 */
export async function authorBody(text: string, user: WebUser, state: DesiredState): Promise<AuthoredBody> {
  const body = text.replace(/^\uFEFF/, '');
  const identity: AuthoredBody = { input: { name: BODY, text: body }, docs: [], originalLine: (l) => l };
  if (parseYamlFile(BODY, body).problems.length > 0) return identity;
  const yamlDocs = parseAllDocuments(body, YAML_OPTIONS);
  if (!Array.isArray(yamlDocs)) return identity;
  const insertions: Insertion[] = [];
  const consoleProblems: Problem[] = [];
  for (const ydoc of yamlDocs) {
    if (ydoc.contents === null) continue;
    const data = ydoc.toJS({ maxAliasCount: 200 }) as unknown;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) continue;
    const obj = data as { kind?: unknown; metadata?: { name?: unknown; owner?: unknown }; spec?: Record<string, unknown> };
    const kind = KINDS.includes(obj.kind as Kind) ? (obj.kind as Kind) : undefined;
    const name = isDocumentName(obj.metadata?.name) ? obj.metadata.name : undefined;
    if (kind && name) identity.docs.push({ kind, name });
    // Before any other judgement: a name a git source serves is the repository's, new here or not.
    if (kind && name) assertNotManaged(state, kind, name);
    const existing = kind && name ? await existingOwner(state, kind, name) : undefined;
    if (existing && kind && name) {
      if (user.role !== 'admin' && existing !== user.name) {
        if (existing === 'system') throw forbidden(`${kindKey(kind)} "${name}" is a system document: only an admin may change it`);
        throw new ApiError(409, `${kindKey(kind)} "${name}" already exists and is not yours: choose another name`);
      }
    }
    if (user.role === 'admin') continue;
    if (kind === 'Installation') throw forbidden('only an admin may write installations: they name game trees on the host and download from Steam');
    if (kind === 'Overlay' && Array.isArray(obj.spec?.sources) && obj.spec.sources.some((s) => s !== null && typeof s === 'object' && 'script' in s)) {
      throw forbidden('only an admin may write overlays with a script source: scripts run code on the host when the overlay is built');
    }
    const owner = obj.metadata?.owner;
    if (owner !== undefined && owner !== user.name) {
      throw forbidden(`metadata.owner ${JSON.stringify(owner)} is not you: leave it out (it is set to "${user.name}") or write "${user.name}"`);
    }
    if (owner === undefined) {
      const at = ownerInsertion(ydoc, body, user.name);
      if (!at) throw new ApiError(422, `cannot add metadata.owner to this document: write "owner: ${user.name}" in its metadata`);
      insertions.push(at);
    }
    if (kind === 'Blueprint' || kind === 'Overlay') consoleProblems.push(...consoleTextProblems(ydoc, body, obj.spec, kind, name));
  }
  if (consoleProblems.length > 0) {
    throw new ApiError(422, `${consoleProblems.length} console command${consoleProblems.length === 1 ? '' : 's'} only an admin may write`, { problems: consoleProblems });
  }
  if (insertions.length === 0) return identity;

  let out = body;
  for (const ins of [...insertions].sort((a, b) => b.offset - a.offset)) out = out.slice(0, ins.offset) + ins.text + out.slice(ins.offset);
  // Lines (in the new text) that were added; every later line moved down by one per added line above it.
  const added = insertions
    .filter((i) => i.newline)
    .map((i) => lineAt(body, i.offset))
    .sort((a, b) => a - b)
    .map((line, k) => line + k);
  return {
    input: { name: BODY, text: out },
    docs: identity.docs,
    originalLine: (line) => {
      const above = added.filter((a) => a < line).length;
      // A problem on an added line is shown at the line it was added before.
      return line - above;
    },
  };
}

/** The owner written in an existing document of that kind and name (valid or invalid), or undefined when none exists. */
async function existingOwner(state: DesiredState, kind: Kind, name: string): Promise<string | undefined> {
  const doc = documentsOf(state, kind).get(name);
  if (doc) return doc.metadata.owner;
  return (await writtenDocument(state, kind, name))?.owner;
}

/** An invalid document as written: its data and the owner it names (`?` when that cannot be read). */
export interface WrittenDocument {
  data: Record<string, unknown>;
  owner: string;
}

/**
 * An invalid document as its file holds it, read again (the loader keeps only
 * where it is): an invalid document keeps its owner, so a user's broken
 * document stays theirs to see and fix. Undefined when no invalid document of
 * that kind and name is written.
 */
export async function writtenDocument(state: DesiredState, kind: Kind, name: string): Promise<WrittenDocument | undefined> {
  const inv = state.invalid.get(`${kindKey(kind)}/${name}`);
  if (!inv) return undefined;
  try {
    const parsed = parseYamlFile(inv.file, await readFile(inv.file, 'utf8'));
    const raw = parsed.documents.find((d) => d.line === inv.line)?.data;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { data: {}, owner: '?' };
    const owner = (raw as { metadata?: { owner?: unknown } }).metadata?.owner;
    return { data: raw as Record<string, unknown>, owner: owner === undefined ? 'system' : typeof owner === 'string' ? owner : '?' };
  } catch {
    return { data: {}, owner: '?' };
  }
}

/** Where `owner: NAME` goes into a document's metadata: after `{` of a flow map, or as the first line of a block map. */
function ownerInsertion(ydoc: YamlDocument, text: string, owner: string): Insertion | undefined {
  if (!isMap(ydoc.contents)) return undefined;
  const meta = ydoc.contents.get('metadata', true) as YAMLMap | undefined;
  if (!isMap(meta) || !meta.range) return undefined;
  // Quoted: a user named "null" or "true" must stay a string.
  const pair = `"owner": ${JSON.stringify(owner)}`;
  if (meta.flow) {
    const open = text.indexOf('{', meta.range[0]);
    if (open === -1) return undefined;
    return { offset: open + 1, text: meta.items.length > 0 ? `${pair}, ` : pair, newline: false };
  }
  const first = meta.items[0];
  const keyStart = isPair(first) && isScalar(first.key) ? first.key.range?.[0] : undefined;
  if (keyStart === undefined) return undefined;
  const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
  const indent = text.slice(lineStart, keyStart);
  if (!/^[ ]*$/.test(indent)) return undefined;
  return { offset: lineStart, text: `${indent}${pair}\n`, newline: true };
}

/** Console text a user wrote (server.cfg fragments, alias bodies, `+command` launch arguments) that runs commands, as problems at the field. */
function consoleTextProblems(ydoc: YamlDocument, text: string, spec: Record<string, unknown> | undefined, kind: Kind, name: string | undefined): Problem[] {
  const texts: Array<[string, unknown]> = [['/spec/serverCfg', spec?.serverCfg]];
  const aliases = spec?.aliases;
  if (kind === 'Overlay' && aliases !== null && typeof aliases === 'object') {
    for (const [alias, body] of Object.entries(aliases)) texts.push([`/spec/aliases/${alias.replace(/~/g, '~0').replace(/\//g, '~1')}`, body]);
  }
  const out: Problem[] = [];
  // `+command` launch arguments run at start as console commands do.
  const args = kind === 'Blueprint' && Array.isArray(spec?.launchArgs) ? (spec.launchArgs as unknown[]) : [];
  args.forEach((arg, i) => {
    if (typeof arg !== 'string' || !arg.startsWith('+')) return;
    const why = consoleCommandProblem(arg.slice(1));
    if (!why) return;
    const pointer = `/spec/launchArgs/${i}`;
    out.push({ file: BODY, ...locate(ydoc, text, pointer), kind, ...(name ? { name } : {}), pointer, message: `"${arg}" runs "${arg.slice(1)}" at start: ${why.replace(/, not a console variable$/, '')}; only an admin may write that` });
  });
  for (const [pointer, console] of texts) {
    if (typeof console !== 'string') continue;
    for (const c of consoleTextCommands(console)) {
      const { line, col } = locate(ydoc, text, pointer);
      out.push({
        file: BODY,
        line,
        col,
        kind,
        ...(name ? { name } : {}),
        pointer,
        message: `line ${c.line} runs "${c.command}": ${c.why.replace(/, not a console variable$/, '')}; only an admin may write that (set variables only)`,
      });
    }
  }
  return out;
}

function locate(ydoc: YamlDocument, text: string, pointer: string): { line: number; col: number } {
  const path = pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const node = ydoc.getIn(path, true) as { range?: [number, number, number] } | undefined;
  const offset = node?.range?.[0] ?? 0;
  const line = lineAt(text, offset);
  return { line, col: offset - text.lastIndexOf('\n', offset - 1) };
}

/** 1-based line of an offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * Problems as a user may see them: no names of documents it cannot see.
 * Problems about other documents it cannot see become one line; hints that
 * list names (`did you mean`, `defined: …`) are dropped, and a reference to
 * another user's document reads as a reference to a missing one, as a GET of
 * it would answer 404. `alsoVisible` names (`kind/name`) invalid documents the user may see.
 */
export function problemsFor(user: WebUser, state: DesiredState, problems: Problem[], alsoVisible: ReadonlySet<string> = new Set()): Problem[] {
  if (user.role === 'admin') return problems;
  const out: Problem[] = [];
  let hidden = 0;
  for (const p of problems) {
    const valid = p.kind && p.name ? documentsOf(state, p.kind).get(p.name) : undefined;
    const seen = p.file === BODY || (valid && visibleTo(user, valid)) || (p.kind && p.name && alsoVisible.has(`${kindKey(p.kind)}/${p.name}`));
    if (!seen) {
      hidden++;
      continue;
    }
    const message = p.message
      .replace(/^\S+ \S+ \(owner \S+\) may not use (\S+) (\S+) of \S+: .*$/, (_m, kind: string, name: string) => `${kind[0]!.toUpperCase()}${kind.slice(1)} "${name}" does not exist`)
      .replace(/^port (\d+) is also claimed by .*$/, (_m, port: string) => `port ${port} is already claimed by another server`)
      .replace(/ — did you mean "[^"]*"\?$/, '')
      .replace(/ \(defined: [^)]*\)$/, '');
    out.push({ ...p, message });
  }
  if (hidden > 0) out.push({ file: '-', line: 1, col: 1, pointer: '', message: `the change conflicts with ${hidden === 1 ? 'a document' : `${hidden} documents`} you cannot see (for example a port another server uses)` });
  return out;
}
