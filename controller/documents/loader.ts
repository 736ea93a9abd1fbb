// The documents room: the API people write. Strict YAML, JSON Schemas from
// schemas/, cross-document checks and the spec hash turn a state directory
// into a DesiredState of valid documents plus every problem with
// file:line:col and JSON pointer; writer.ts changes the tree only through the
// same loader; dependencies.ts answers what uses what. Git sources' checkouts
// (origin.ts) are read beside the local tree as more roots of one state.
// Nothing here knows systemd, builds or the reconciler (test/architecture.test.ts).
import { openDirBeneath, UnsafePathError } from '../fs/beneath.js';
import { crossCheck, DEFAULT_PORT_RANGES, type Owners, type PortRanges } from './crosscheck.js';
import { parseDuration } from './duration.js';
import { specHash } from './hash.js';
import { DEFAULT_INSTALLATION_ROOTS, installationPathProblem } from './installation-path.js';
import { KINDS, type Document, type Kind, type OverlaySource } from './kinds.js';
import type { DocumentOrigin, SourceRoot } from './origin.js';
import { compareProblems, originLabel, type Problem } from './problems.js';
import { DEFAULT_LIMITS, scanStateDir, type ScanLimits, type ScanResult } from './scan.js';
import { loadSchemas, type SchemaSet } from './schema.js';
import { parseYamlFile, type ParsedFile, type RawDocument } from './yaml-source.js';

/** How to load a state tree. */
export interface LoadOptions {
  limits?: Partial<ScanLimits>;
  portRanges?: PortRanges;
  schemas?: SchemaSet;
  /** Host directories that directory installations must lie below (default DEFAULT_INSTALLATION_ROOTS). */
  installationRoots?: readonly string[];
  /** Where the host's file system is reached, for the installation path checks (default `/`). */
  fsRoot?: string;
  /** Git sources' checkouts read beside `dir` (sources/active.ts); their documents carry `source.origin`. */
  sources?: readonly SourceRoot[];
  /** Sources that could not be read (sources/active.ts): problems, and unreadable, so nothing they may define is deleted. */
  sourceProblems?: readonly Problem[];
}

/** A document that is written in the tree but cannot be used; its running server must be left alone. */
export interface InvalidDocument {
  kind: Kind;
  name: string;
  /** As this process reads it (see SourcePosition.file). */
  file: string;
  line: number;
  /** Set when this copy comes from a git source. */
  origin?: DocumentOrigin;
}

/** The desired state read from a state directory: the valid documents, and everything wrong with the rest. */
export interface DesiredState {
  /** The local state directory: the only tree the writer changes. */
  dir: string;
  /** The git sources read beside it. */
  sources: SourceRoot[];
  /** Every `kind/name` a git source defines (valid or not), and where: read-only to `apply`, `delete` and the web API. */
  managed: Map<string, DocumentOrigin>;
  installations: Map<string, Document<'Installation'>>;
  overlays: Map<string, Document<'Overlay'>>;
  blueprints: Map<string, Document<'Blueprint'>>;
  instances: Map<string, Document<'Instance'>>;
  /** Every problem, sorted by file and position. Empty means the whole tree is valid. */
  problems: Problem[];
  /** Documents that exist but are invalid, keyed `kind/name` (e.g. `instance/versus-1`). */
  invalid: Map<string, InvalidDocument>;
  /** Files with a document whose kind or name could not be read: what they define is unknown, so nothing may be deleted on their account. */
  unreadableFiles: string[];
  /** YAML files read. */
  fileCount: number;
}

/** The documents of one kind in a desired state. */
export function documentsOf<K extends Kind>(state: DesiredState, kind: K): Map<string, Document<K>> {
  const maps = {
    Installation: state.installations,
    Overlay: state.overlays,
    Blueprint: state.blueprints,
    Instance: state.instances,
  } as unknown as Record<Kind, Map<string, Document<K>>>;
  return maps[kind];
}

const MAX_PROBLEMS_PER_DOCUMENT = 20;
const MAX_SCRIPT_TIMEOUT_MS = 6 * 3_600_000;
/** Shortest `refresh`: re-checking Steam and downloads more often than this only hammers them (and re-runs scripts). */
const MIN_REFRESH_MS = 3_600_000;

/** The YAML parses of the last load, by file path: a load re-parses only files whose text changed. */
let lastParses = new Map<string, { text: string; parsed: ParsedFile }>();

/** Forgets the kept parses, so the next load parses every file (benchmarks of a cold load). */
export function forgetParses(): void {
  lastParses = new Map();
}

/**
 * Reads a state directory into validated, typed desired state. Never throws on
 * bad input: every problem is returned with file:line:col, the document's
 * kind/name when known, and a JSON pointer. Reads files only.
 */
export async function loadState(dir: string, opts: LoadOptions = {}): Promise<DesiredState> {
  const schemas = opts.schemas ?? loadSchemas();
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const sources = [...(opts.sources ?? [])];
  // Every root is scanned with the same limits and link rules; a source's files are shown by their repository path.
  const roots: Array<{ source?: SourceRoot; scan: ScanResult }> = [
    { scan: await scanStateDir(dir, limits) },
    ...(await Promise.all(sources.map(async (source) => ({ source, scan: sourceScan(source, await scanSource(source, limits)) })))),
  ];
  const problems: Problem[] = [...(opts.sourceProblems ?? []), ...roots.flatMap((r) => r.scan.problems)];
  const unreadable = new Set<string>(problems.map((p) => p.file));
  const invalid = new Map<string, InvalidDocument>();
  const valid: { [K in Kind]: Document<K>[] } = { Installation: [], Overlay: [], Blueprint: [], Instance: [] };
  const known: Record<Kind, Set<string>> = { Installation: new Set(), Overlay: new Set(), Blueprint: new Set(), Instance: new Set() };
  const owners: Owners = { Installation: new Map(), Overlay: new Map(), Blueprint: new Map(), Instance: new Map() };
  const raws = new Map<Document, RawDocument>();
  const managed = new Map<string, DocumentOrigin>();
  /** Every readable `kind/name`, with each copy and the root it is in: the same name in two roots is a conflict. */
  const copies = new Map<string, Array<{ root: number; shown: string; file: string; line: number; origin?: DocumentOrigin; locate: RawDocument['locate'] }>>();

  const parses = new Map<string, { text: string; parsed: ParsedFile }>();
  for (const [rootIndex, { source, scan }] of roots.entries()) for (const file of scan.files) {
    const origin: DocumentOrigin | undefined = source && { source: source.name, commit: source.commit, file: repoFile(source, file.rel) };
    // How the file is shown: its path, or `SOURCE@<short>:<repository path>`; it is read at file.path.
    const shown = origin ? originLabel(origin) : file.path;
    const withOrigin = (p: Problem): Problem => (origin ? { ...p, origin } : p);
    // A resync or an edit re-reads every file; only the ones whose text changed are parsed again (a checkout's path names its commit).
    const hit = lastParses.get(file.path);
    const parsed = hit?.text === file.text ? hit.parsed : parseYamlFile(shown, file.text);
    parses.set(file.path, { text: file.text, parsed });
    problems.push(...parsed.problems.map(withOrigin));
    if (parsed.problems.length > 0) unreadable.add(shown);

    for (const raw of parsed.documents) {
      // A copy: validation and normalize() change it, and the parse is kept for the next load.
      const data = structuredClone(raw.data);
      const located = (pointer: string, message: string, kind?: Kind, name?: string, atKey = true): Problem => withOrigin({
        file: shown,
        ...raw.locate(pointer, { key: atKey }),
        ...(kind ? { kind, name: name ?? '?' } : {}),
        pointer,
        message,
      });

      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        problems.push(located('', `a document must be a map with apiVersion, kind, metadata and spec (got ${Array.isArray(data) ? 'a list' : typeof data === 'string' ? 'a string' : String(data)})`));
        unreadable.add(shown);
        continue;
      }
      const obj = data as Record<string, unknown>;
      const kind = obj.kind;
      if (!KINDS.includes(kind as Kind)) {
        problems.push(
          located(
            kind === undefined ? '' : '/kind',
            kind === undefined
              ? `missing "kind" (one of ${KINDS.join(', ')})`
              : `unknown kind ${JSON.stringify(kind)} (expected one of ${KINDS.join(', ')})`,
            undefined,
            undefined,
            false,
          ),
        );
        unreadable.add(shown);
        continue;
      }
      const k = kind as Kind;
      const meta = obj.metadata as Record<string, unknown> | undefined;
      const rawName = meta && typeof meta === 'object' ? meta.name : undefined;
      const name = typeof rawName === 'string' && /^[a-z0-9][a-z0-9-]{0,62}$/.test(rawName) ? rawName : undefined;
      if (name) {
        known[k].add(name);
        const key = `${k.toLowerCase()}/${name}`;
        copies.set(key, [...(copies.get(key) ?? []), { root: rootIndex, shown, file: file.path, line: raw.line, ...(origin ? { origin } : {}), locate: raw.locate }]);
        if (origin && !managed.has(key)) managed.set(key, origin);
        // The owner as written (default system), read before validation so that a reference to an
        // invalid document is still judged by who owns it; two copies naming different owners are not judged.
        const owner = meta!.owner === undefined ? 'system' : typeof meta!.owner === 'string' ? meta!.owner : undefined;
        owners[k].set(name, owners[k].has(name) && owners[k].get(name) !== owner ? undefined : owner);
      }

      const issues = schemas.validate(k, obj);
      if (issues.length > 0) {
        for (const i of issues.slice(0, MAX_PROBLEMS_PER_DOCUMENT)) problems.push(located(i.pointer, i.message, k, name, i.atKey));
        if (issues.length > MAX_PROBLEMS_PER_DOCUMENT) {
          problems.push(located('', `${issues.length - MAX_PROBLEMS_PER_DOCUMENT} more problems in this document not shown`, k, name));
        }
        if (name) invalid.set(`${k.toLowerCase()}/${name}`, { kind: k, name, file: file.path, line: raw.line, ...(origin ? { origin } : {}) });
        else unreadable.add(shown);
        continue;
      }

      normalize(k, obj);
      const doc = {
        ...(obj as unknown as Omit<Document, 'generation' | 'source'>),
        generation: specHash(obj.spec),
        source: { file: file.path, line: raw.line, col: raw.col, ...(origin ? { origin } : {}) },
      } as Document;
      const own = checkDocument(doc);
      const spec = doc.kind === 'Installation' ? (doc as Document<'Installation'>).spec : undefined;
      const path = spec?.source === 'directory' ? spec.path : undefined;
      const pathProblem = path === undefined ? undefined : await installationPathProblem(path, opts.installationRoots ?? DEFAULT_INSTALLATION_ROOTS, opts.fsRoot);
      if (pathProblem) own.push({ pointer: '/spec/path', message: pathProblem });
      if (own.length > 0) {
        for (const o of own) problems.push(located(o.pointer, o.message, k, name));
        invalid.set(`${k.toLowerCase()}/${doc.metadata.name}`, { kind: k, name: doc.metadata.name, file: file.path, line: raw.line, ...(origin ? { origin } : {}) });
        continue;
      }
      raws.set(doc, raw);
      (valid[k] as Document[]).push(doc);
    }
  }

  lastParses = parses;

  // The same kind and name from two roots (local and git, or two sources): every copy says where the others are, and none
  // is used, so no root silently wins and a running server is left alone as for any invalid document.
  for (const [key, list] of copies) {
    if (new Set(list.map((c) => c.root)).size < 2) continue;
    const [kindWord, name] = key.split('/') as [string, string];
    const kind = KINDS.find((k) => k.toLowerCase() === kindWord)!;
    for (const c of list) {
      const others = list.filter((o) => o !== c).map((o) => `${o.origin ? `git source ${o.origin.source} at ` : ''}${o.shown}:${o.line}`);
      problems.push({
        file: c.shown,
        ...c.locate('/metadata/name'),
        kind,
        name,
        pointer: '/metadata/name',
        message: `${kind} "${name}" is also defined at ${others.join(', ')}: the same name from two sources is a conflict, and no copy is used until one is removed`,
        ...(c.origin ? { origin: c.origin } : {}),
      });
    }
    // The local copy, when there is one, is the one a person can read and fix here.
    const shownCopy = list.find((c) => !c.origin) ?? list[0]!;
    invalid.set(key, { kind, name, file: shownCopy.file, line: shownCopy.line, ...(shownCopy.origin ? { origin: shownCopy.origin } : {}) });
    valid[kind] = (valid[kind] as Document[]).filter((d) => d.metadata.name !== name) as never;
  }

  // Cross-document checks; a document with such a problem is invalid too.
  const portRanges = opts.portRanges ?? DEFAULT_PORT_RANGES;
  const rejected = new Set<Document>();
  for (const i of crossCheck(valid, known, portRanges, owners)) {
    const raw = raws.get(i.doc)!;
    const origin = i.doc.source.origin;
    problems.push({
      file: origin ? originLabel(origin) : i.doc.source.file,
      ...raw.locate(i.pointer),
      kind: i.doc.kind,
      name: i.doc.metadata.name,
      pointer: i.pointer,
      message: i.message,
      ...(origin ? { origin } : {}),
    });
    rejected.add(i.doc);
  }

  const state: DesiredState = {
    dir,
    sources,
    managed,
    installations: new Map(),
    overlays: new Map(),
    blueprints: new Map(),
    instances: new Map(),
    problems: problems.sort(compareProblems),
    invalid,
    unreadableFiles: [...unreadable].sort(),
    fileCount: roots.reduce((n, r) => n + r.scan.files.length, 0),
  };
  for (const kind of KINDS) {
    for (const doc of valid[kind] as Document[]) {
      const key = `${kind.toLowerCase()}/${doc.metadata.name}`;
      if (rejected.has(doc)) {
        invalid.set(key, { kind, name: doc.metadata.name, file: doc.source.file, line: doc.source.line, ...(doc.source.origin ? { origin: doc.source.origin } : {}) });
      } else {
        documentsOf(state, kind).set(doc.metadata.name, doc as never);
      }
    }
  }
  return state;
}

/** A file of a source by its path in the repository. */
function repoFile(source: SourceRoot, rel: string): string {
  return source.path === '.' ? rel : `${source.path}/${rel}`;
}

/**
 * Scans a source's documents directory, which must lie inside its checkout:
 * a state directory may be reached through links (the operator's choice), but
 * a source's `path` is the repository's, and a link committed there must not
 * make the controller read files outside it. Each component below the
 * checkout is opened without following links (fs/beneath); realpath(3) is not
 * used, since the checkout may be reached through /proc/PID/root.
 */
async function scanSource(source: SourceRoot, limits: ScanLimits): Promise<ScanResult> {
  const refused = (message: string): ScanResult => ({ files: [], problems: [{ file: source.dir, line: 1, col: 1, pointer: '', message }] });
  if (source.path !== '.') {
    const checkout = source.dir.slice(0, source.dir.length - source.path.length - 1);
    try {
      await (await openDirBeneath(checkout, source.path.split('/'))).close();
    } catch (err) {
      if (err instanceof UnsafePathError) return refused(`${source.path} is not a directory of the repository (a symbolic link, or a file); refused`);
      return refused(`cannot read ${source.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return scanStateDir(source.dir, limits, { resolveRoot: false });
}

/** A source's scan with its problems shown by repository path at the commit (`SOURCE@<short>:<path>`), as its files are. */
function sourceScan(source: SourceRoot, scan: ScanResult): ScanResult {
  const problems = scan.problems.map((p) => {
    const rel = p.file === source.dir ? '' : p.file.startsWith(`${source.dir}/`) ? p.file.slice(source.dir.length + 1) : undefined;
    if (rel === undefined) return p;
    const origin = { source: source.name, commit: source.commit, file: rel === '' ? source.path : repoFile(source, rel) };
    return { ...p, file: originLabel(origin), origin };
  });
  return { files: scan.files, problems };
}

/** Brings schema-valid data to the typed model's shape: workshop ids as strings. */
function normalize(kind: Kind, obj: Record<string, unknown>): void {
  if (kind !== 'Overlay') return;
  for (const source of (obj.spec as { sources: OverlaySource[] }).sources) {
    if ('workshop' in source) {
      const w = source.workshop as { items?: Array<string | number>; collections?: Array<string | number> };
      if (w.items) w.items = w.items.map(String);
      if (w.collections) w.collections = w.collections.map(String);
    }
  }
}

/** Single-document rules a schema cannot state. */
function checkDocument(doc: Document): Array<{ pointer: string; message: string }> {
  const out: Array<{ pointer: string; message: string }> = [];
  const refresh = (doc.spec as { refresh?: string }).refresh;
  if (refresh !== undefined && parseDuration(refresh) < MIN_REFRESH_MS) {
    out.push({ pointer: '/spec/refresh', message: `refresh ${refresh} is shorter than the 1h minimum: checking more often only hammers Steam` });
  }
  if (doc.kind === 'Overlay') {
    const spec = (doc as Document<'Overlay'>).spec;
    spec.sources.forEach((source, i) => {
      if ('files' in source) {
        const seen = new Map<string, number>();
        source.files.forEach((f, j) => {
          const first = seen.get(f.path);
          if (first !== undefined) out.push({ pointer: `/spec/sources/${i}/files/${j}/path`, message: `file "${f.path}" is already written by entry ${first} of this list` });
          else seen.set(f.path, j);
        });
      }
      if ('script' in source && parseDuration(source.script.timeout) > MAX_SCRIPT_TIMEOUT_MS) {
        out.push({ pointer: `/spec/sources/${i}/script/timeout`, message: `script timeout ${source.script.timeout} is longer than the 6h maximum` });
      }
      if ('workshop' in source && (source.workshop.items?.length ?? 0) + (source.workshop.collections?.length ?? 0) === 0) {
        out.push({ pointer: `/spec/sources/${i}/workshop`, message: 'a workshop source needs at least one item or collection id' });
      }
    });
  }
  return out;
}
