// One concern: changing the state tree safely (apply and delete).
//
// Changing documents in a state tree so that the controller never sees a
// half-written file or a change that breaks the tree: plan the new file texts
// (pure), check the planned tree on a private copy with the loader itself,
// and only then write each file atomically. The loader stays the only
// validator; this module only moves text around and reads its verdict.
// Documents a git source serves are read-only here: they change in their
// repository, never in the local tree (the loader says which, DesiredState.managed).

import { lstat, mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, sep } from 'node:path';
import { isMap, isScalar, parseAllDocuments } from 'yaml';
import { writeFileAtomic } from '../fs/atomic.js';
import { canonicalJson } from './hash.js';
import { KINDS, kindKey, type Document, type Kind } from './kinds.js';
import { documentsOf, loadState, type DesiredState, type LoadOptions } from './loader.js';
import { compareProblems, type Problem } from './problems.js';
import { DEFAULT_LIMITS, scanStateDir } from './scan.js';
import { loadSchemas } from './schema.js';
import { parseYamlFile } from './yaml-source.js';

/** Most documents one input file may hold; more is nearly always a mistake (or a generated attack), so it is refused. */
export const MAX_DOCUMENTS_PER_FILE = 100;

/** A YAML text to apply, with the name its problems are shown under (the path as typed, or `<stdin>`). */
export interface InputFile {
  name: string;
  text: string;
}

/** What a change did, or in a dry run would do, to one document. */
export interface DocumentOutcome {
  kind: Kind;
  name: string;
  outcome: 'created' | 'configured' | 'unchanged' | 'deleted';
}

/** The answer of applyDocuments / deleteDocument: the outcomes, or why nothing was written. */
export interface WriteResult {
  outcomes: DocumentOutcome[];
  /** Set when the change was refused: a headline, and the problems behind it (input positions for applied documents). */
  refused?: { message: string; problems: Problem[] };
  /** Problems the tree already had elsewhere; they stay, and do not block the change. */
  warnings: Problem[];
  /** Dry runs of applyDocuments: the tree as it is and as it would be (loaded from a private copy), for saying what the change would do. */
  states?: { before: DesiredState; after: DesiredState };
}

/** How to load the tree (limits, port ranges, schemas) and whether to stop before writing. */
export interface WriteOptions extends LoadOptions {
  dryRun?: boolean;
}

/** Mirrors the schemas' metadata.name pattern: only such names ever become a path. */
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The editor hint a file starts with; it belongs to the file, not to its first document. */
const SCHEMA_LINE = /^# yaml-language-server:[^\n]*(\n|$)/;
/** The same parse options as parseYamlFile, so the documents found here are the ones the loader reads. */
const YAML_OPTIONS = { schema: 'core', strict: true, uniqueKeys: true, merge: false, prettyErrors: false } as const;

/** One YAML document's stretch of a file: [start, end) in the text, its own text from bodyStart. */
interface Segment {
  start: number;
  /** After the `---` line (and, for the first document, after the file's schema line). */
  bodyStart: number;
  end: number;
  /** False for empty and comment-only documents. */
  hasData: boolean;
  /** Only when the document parsed cleanly and names a known kind. */
  kind?: Kind;
  name?: string;
}

interface TreeFile {
  rel: string;
  text: string;
  segments: Segment[];
}

interface Tree {
  files: TreeFile[];
  /** `kind/name` → every document that defines it (more than one is a duplicate). */
  locations: Map<string, Array<{ file: TreeFile; index: number }>>;
  /** What the scan of the real tree could not read; the copy leaves those files out. */
  scanProblems: Problem[];
}

interface InputDocument {
  input: string;
  /** Line of the input where `body` starts. */
  bodyLine: number;
  /** The document's own text, ending in a newline, without `---` or schema line. */
  body: string;
  kind?: Kind;
  name?: string;
  locate(pointer: string): { line: number; col: number };
}

/** Where an applied document's text sits in a planned file, so problems there are shown at the input's lines. */
interface Placement {
  rel: string;
  firstLine: number;
  lineCount: number;
  input: string;
  inputLine: number;
}

interface FileEdit {
  rel: string;
  /** The text read from the tree; undefined for a new file. Checked again just before writing. */
  before?: string;
  /** null removes the file. */
  after: string | null;
  /** Dependency order of its documents: an overlay is written before the blueprint that needs it. */
  rank: number;
  /** A stand-in for a document whose kind or name cannot be read: only ever written to the copy. */
  scratch?: boolean;
}

interface Plan {
  edits: FileEdit[];
  placements: Placement[];
  outcomes: DocumentOutcome[];
}

/**
 * Applies YAML documents to the state tree at `stateDir`: each goes where a
 * document of its kind and name is already written, else into
 * `<kinds>/<name>.yaml`. Refuses (writing nothing) when the input has problems
 * in the context of the whole tree or would break other documents. Reads the
 * tree, writes only the files that change, each atomically; owns nothing after it returns.
 */
export async function applyDocuments(stateDir: string, inputs: InputFile[], opts: WriteOptions = {}): Promise<WriteResult> {
  const docs: InputDocument[] = [];
  const inputProblems: Problem[] = [];
  for (const input of inputs) {
    const read = readInput(input);
    docs.push(...read.docs);
    inputProblems.push(...read.problems);
  }
  const seen = new Map<string, InputDocument>();
  for (const d of docs) {
    if (!d.kind || !d.name) continue;
    const key = `${kindKey(d.kind)}/${d.name}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, d);
      continue;
    }
    const at = d.locate('/metadata/name');
    inputProblems.push({
      file: d.input,
      ...at,
      kind: d.kind,
      name: d.name,
      pointer: '/metadata/name',
      message: `${key} is also defined at ${first.input}:${first.locate('/metadata/name').line} in this input; keep one of them`,
    });
  }
  if (inputProblems.length > 0) return refuse(`nothing applied: ${count(inputProblems.length, 'problem')} in the input`, inputProblems);
  if (docs.length === 0) return refuse(`nothing applied: ${inputs.map((i) => i.name).join(', ')} ${inputs.length === 1 ? 'holds' : 'hold'} no documents`, []);

  const managed = await managedRefusal(stateDir, docs.flatMap((d) => (d.kind && d.name ? [`${kindKey(d.kind)}/${d.name}`] : [])), opts);
  if (managed) return refuse(managed, []);

  const tree = await readTree(stateDir, opts);
  if (typeof tree === 'string') return refuse(tree, []);

  const schemas = opts.schemas ?? loadSchemas();
  const header = (kind: Kind) => {
    const id = schemas.schemas.get(`${kindKey(kind)}.schema.json`)?.$id;
    return typeof id === 'string' ? `# yaml-language-server: $schema=${id}\n` : '';
  };
  const plan = planApply(tree, docs, new Set(), header);
  const check = await checkOnCopy(stateDir, tree, plan, { ...opts, schemas });

  const blocking = [...check.applied];
  // A document whose kind or name cannot be read always draws a loader problem; never let one through silently.
  for (const p of plan.placements) {
    if (plan.edits.some((e) => e.scratch && e.rel === p.rel) && !check.applied.some((a) => a.file === p.input && a.line >= p.inputLine && a.line < p.inputLine + p.lineCount)) {
      blocking.push({ file: p.input, line: p.inputLine, col: 1, pointer: '', message: 'cannot tell this document\'s kind and name; give it "kind" and "metadata.name"' });
    }
  }
  if (blocking.length > 0 || check.fresh.length > 0) {
    const parts = [];
    if (blocking.length > 0) parts.push(`${count(blocking.length, 'problem')} in the applied documents`);
    if (check.fresh.length > 0) parts.push(`it would break ${brokenDocuments(check.fresh)} (fix the input, or change those first)`);
    return refuse(`nothing applied: ${parts.join('; ')}`, [...blocking.sort(compareProblems), ...check.fresh]);
  }

  // Unchanged means the same data once defaults are filled in: re-applying what `get -o yaml` printed rewrites nothing.
  const unchanged = new Set<string>();
  for (const d of docs) {
    if (!d.kind || !d.name) continue;
    if (sameDocument(documentsOf(check.before, d.kind).get(d.name), documentsOf(check.after, d.kind).get(d.name))) {
      unchanged.add(`${kindKey(d.kind)}/${d.name}`);
    }
  }
  const final = planApply(tree, docs, unchanged, header);
  const warnings = [...tree.scanProblems, ...check.stale];
  if (opts.dryRun) return { outcomes: final.outcomes, warnings, states: { before: check.before, after: check.after } };
  const failed = await commit(stateDir, final.edits);
  if (failed) return { outcomes: [], refused: { message: failed, problems: [] }, warnings };
  return { outcomes: final.outcomes, warnings };
}

/**
 * Deletes every document of `kind` named `name` from the state tree (valid or
 * invalid): the file goes when it held nothing else, otherwise only that
 * document's text is cut out. Refuses when other documents still need it.
 * Reads the tree, writes or removes only the files involved.
 */
export async function deleteDocument(stateDir: string, kind: Kind, name: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const key = `${kindKey(kind)}/${name}`;
  const tree = await readTree(stateDir, opts);
  if (typeof tree === 'string') return refuse(tree, []);
  const where = tree.locations.get(key);
  // A local copy that conflicts with a source's may be deleted: that is how the conflict is resolved here.
  const managed = where ? undefined : await managedRefusal(stateDir, [key], opts);
  if (managed) return refuse(managed, []);
  if (!where) {
    const unreadable = tree.scanProblems.length + tree.files.filter((f) => f.segments.some((s) => s.hasData && !s.kind)).length;
    return refuse(`${key} not found${unreadable > 0 ? ` (some files could not be read and may define it: run left4me validate)` : ''}`, []);
  }

  const byFile = new Map<TreeFile, Set<number>>();
  for (const { file, index } of where) byFile.set(file, (byFile.get(file) ?? new Set()).add(index));
  const edits: FileEdit[] = [];
  for (const [file, remove] of byFile) {
    edits.push({ rel: file.rel, before: file.text, after: rebuild(file, new Map(), remove).text, rank: KINDS.length - KINDS.indexOf(kind) });
  }
  const plan: Plan = { edits, placements: [], outcomes: [{ kind, name, outcome: 'deleted' }] };
  const check = await checkOnCopy(stateDir, tree, plan, opts);
  if (check.fresh.length > 0) {
    return refuse(`${key} is still used by ${brokenDocuments(check.fresh)}: change or delete those first; nothing was deleted`, check.fresh);
  }
  const warnings = [...tree.scanProblems, ...check.stale];
  if (!opts.dryRun) {
    const failed = await commit(stateDir, plan.edits);
    if (failed) return { outcomes: [], refused: { message: failed, problems: [] }, warnings };
  }
  return { outcomes: plan.outcomes, warnings };
}

/**
 * Why these `kind/name` keys may not be written here: a git source serves
 * them. Undefined when none is, or when no source is read at all.
 */
async function managedRefusal(stateDir: string, keys: string[], opts: LoadOptions): Promise<string | undefined> {
  if (!opts.sources?.length || keys.length === 0) return undefined;
  const state = await loadState(stateDir, opts);
  const lines = [...new Set(keys)].flatMap((key) => {
    const origin = state.managed.get(key);
    return origin ? [`${key} is managed by git source ${origin.source}: change the repository`] : [];
  });
  return lines.length > 0 ? lines.join('\n') : undefined;
}

function refuse(message: string, problems: Problem[]): WriteResult {
  return { outcomes: [], refused: { message, problems }, warnings: [] };
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `instance/a, instance/b` for the documents that problems are about. */
function brokenDocuments(problems: Problem[]): string {
  const names = [...new Set(problems.filter((p) => p.kind).map((p) => `${kindKey(p.kind!)}/${p.name ?? '?'}`))];
  return names.length > 0 ? names.join(', ') : 'other documents';
}

function sameDocument(a: Document | undefined, b: Document | undefined): boolean {
  return !!a && !!b && a.apiVersion === b.apiVersion && a.generation === b.generation && canonicalJson(a.metadata) === canonicalJson(b.metadata);
}

// ---------------------------------------------------------------------------
// Reading: the tree as the loader sees it, and the input.

async function readTree(stateDir: string, opts: LoadOptions): Promise<Tree | string> {
  try {
    if (!(await stat(stateDir)).isDirectory()) return `${stateDir} is not a directory; name the state directory with --state DIR`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? `the state directory ${stateDir} does not exist: create it first, or name another one with --state DIR`
      : `cannot read the state directory ${stateDir}: ${code ?? String(err)}`;
  }
  // The scanner's limits and symlink rules decide what the tree is; files it refuses are neither copied nor edited.
  const scan = await scanStateDir(stateDir, { ...DEFAULT_LIMITS, ...opts.limits });
  const files = scan.files.map((f) => ({ rel: f.rel, text: f.text, segments: splitDocuments(f.text) }));
  const locations: Tree['locations'] = new Map();
  for (const file of files) {
    file.segments.forEach((s, index) => {
      if (!s.kind || !s.name) return;
      const key = `${kindKey(s.kind)}/${s.name}`;
      locations.set(key, [...(locations.get(key) ?? []), { file, index }]);
    });
  }
  return { files, locations, scanProblems: scan.problems };
}

/**
 * Splits YAML text into one segment per document, covering the text end to
 * end: whatever sits between two documents (comments, `...`) goes with the
 * following one, and the tail of the file with the last. Text that cannot be
 * parsed at all has no segments, so nothing in it is ever edited.
 */
function splitDocuments(text: string): Segment[] {
  let docs;
  try {
    docs = parseAllDocuments(text, YAML_OPTIONS);
  } catch {
    return [];
  }
  const segments: Segment[] = [];
  let start = 0;
  docs.forEach((doc, i) => {
    const end = i === docs.length - 1 ? text.length : doc.range[2];
    let bodyStart = start;
    const marker = doc.range[0];
    if (doc.directives?.docStart && text.startsWith('---', marker)) {
      const eol = text.indexOf('\n', marker);
      const rest = text.slice(marker + 3, eol === -1 ? text.length : eol);
      // `--- {a: 1}` keeps its content on the marker line: the body then starts at that line.
      bodyStart = /^\s*(#.*)?$/.test(rest) ? (eol === -1 ? text.length : eol + 1) : text.lastIndexOf('\n', marker) + 1;
    } else if (i === 0) {
      bodyStart = (SCHEMA_LINE.exec(text)?.[0] ?? '').length;
    }
    const contents = doc.contents;
    const hasData = contents !== null && !(isScalar(contents) && contents.value === null);
    const segment: Segment = { start, bodyStart: Math.max(start, Math.min(bodyStart, end)), end, hasData };
    if (doc.errors.length === 0 && doc.warnings.length === 0 && isMap(contents)) {
      const kind = doc.get('kind');
      const name = doc.getIn(['metadata', 'name']);
      if (KINDS.includes(kind as Kind) && typeof name === 'string') {
        segment.kind = kind as Kind;
        segment.name = name;
      }
    }
    segments.push(segment);
    start = end;
  });
  return segments;
}

/** Parses one input with the loader's strict YAML rules; kind and name are only taken when they can be a path. */
function readInput(file: InputFile): { docs: InputDocument[]; problems: Problem[] } {
  // A byte order mark is only allowed at the start of a stream; the body lands after our header line.
  const input = { name: file.name, text: file.text.replace(/^\uFEFF/, '') };
  const parsed = parseYamlFile(input.name, input.text);
  if (parsed.problems.length > 0) return { docs: [], problems: parsed.problems };
  const segments = splitDocuments(input.text).filter((s) => s.hasData);
  if (segments.length > MAX_DOCUMENTS_PER_FILE) {
    const problem = { file: input.name, line: 1, col: 1, pointer: '', message: `${segments.length} documents in one file; at most ${MAX_DOCUMENTS_PER_FILE} are applied at once: split the file` };
    return { docs: [], problems: [problem] };
  }
  if (segments.length !== parsed.documents.length) {
    return { docs: [], problems: [{ file: input.name, line: 1, col: 1, pointer: '', message: 'cannot tell where each document of this file starts; put each document after its own --- line' }] };
  }
  const docs = parsed.documents.map((raw, j): InputDocument => {
    const seg = segments[j]!;
    let from = seg.bodyStart;
    from += (SCHEMA_LINE.exec(input.text.slice(from, seg.end))?.[0] ?? '').length;
    let body = input.text.slice(from, seg.end);
    if (!body.endsWith('\n')) body += '\n';
    const data = raw.data as { kind?: unknown; metadata?: { name?: unknown } } | null;
    const kind = typeof data === 'object' && data && KINDS.includes(data.kind as Kind) ? (data.kind as Kind) : undefined;
    const name = typeof data === 'object' && data && typeof data.metadata?.name === 'string' && NAME.test(data.metadata.name) ? data.metadata.name : undefined;
    return { input: input.name, bodyLine: lineOf(input.text, from), body, kind, name, locate: (pointer) => raw.locate(pointer) };
  });
  return { docs, problems: [] };
}

/** 1-based line of an offset. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function lineCount(text: string): number {
  if (text === '') return 0;
  return lineOf(text, text.length) - (text.endsWith('\n') ? 1 : 0);
}

// ---------------------------------------------------------------------------
// Planning (pure): new file texts and where applied documents land in them.

function planApply(tree: Tree, docs: InputDocument[], unchanged: Set<string>, header: (kind: Kind) => string): Plan {
  const edits: FileEdit[] = [];
  const placements: Placement[] = [];
  const outcomes: DocumentOutcome[] = [];
  const taken = new Set(tree.files.map((f) => f.rel));
  const replaced = new Map<TreeFile, Map<number, InputDocument>>();
  const unique = (base: string) => {
    for (let n = 1; ; n++) {
      const rel = `${base}${n === 1 ? '' : `-${n}`}.yaml`;
      if (!taken.has(rel)) {
        taken.add(rel);
        return rel;
      }
    }
  };

  docs.forEach((d, i) => {
    if (!d.kind || !d.name) {
      // Written to the copy only, so the loader says what is wrong with it in its own words.
      const rel = unique(`left4me-apply-input-${i + 1}`);
      edits.push({ rel, after: d.body, rank: -1, scratch: true });
      placements.push({ rel, firstLine: 1, lineCount: lineCount(d.body), input: d.input, inputLine: d.bodyLine });
      return;
    }
    const key = `${kindKey(d.kind)}/${d.name}`;
    const existing = tree.locations.get(key)?.[0];
    if (unchanged.has(key)) {
      outcomes.push({ kind: d.kind, name: d.name, outcome: 'unchanged' });
    } else if (existing) {
      replaced.set(existing.file, (replaced.get(existing.file) ?? new Map()).set(existing.index, d));
      outcomes.push({ kind: d.kind, name: d.name, outcome: 'configured' });
    } else {
      const rel = unique(`${kindKey(d.kind)}s/${d.name}`);
      const head = header(d.kind);
      edits.push({ rel, after: head + d.body, rank: KINDS.indexOf(d.kind) });
      placements.push({ rel, firstLine: lineCount(head) + 1, lineCount: lineCount(d.body), input: d.input, inputLine: d.bodyLine });
      outcomes.push({ kind: d.kind, name: d.name, outcome: 'created' });
    }
  });

  for (const [file, byIndex] of replaced) {
    const { text, bodies } = rebuild(file, new Map([...byIndex].map(([i, d]) => [i, d.body])), new Set());
    edits.push({ rel: file.rel, before: file.text, after: text, rank: Math.max(...[...byIndex.values()].map((d) => KINDS.indexOf(d.kind!))) });
    for (const [i, firstLine] of bodies) {
      const d = byIndex.get(i)!;
      placements.push({ rel: file.rel, firstLine, lineCount: lineCount(d.body), input: d.input, inputLine: d.bodyLine });
    }
  }
  return { edits, placements, outcomes };
}

/**
 * A file's new text with some documents' bodies replaced and others cut out;
 * every other byte stays as it was. A file left with no document is removed
 * (null). Returns the line where each new body starts.
 */
function rebuild(file: TreeFile, replace: Map<number, string>, remove: Set<number>): { text: string | null; bodies: Map<number, number> } {
  const bodies = new Map<number, number>();
  const data = file.segments.map((s, i) => i).filter((i) => file.segments[i]!.hasData);
  if (data.every((i) => remove.has(i))) return { text: null, bodies };
  const schemaLine = SCHEMA_LINE.exec(file.text)?.[0] ?? '';
  if (data.length === 1 && replace.has(data[0]!)) {
    // A file of one document is that document: replace it whole, keeping only the editor hint.
    const head = schemaLine && !schemaLine.endsWith('\n') ? `${schemaLine}\n` : schemaLine;
    bodies.set(data[0]!, lineCount(head) + 1);
    return { text: head + replace.get(data[0]!)!, bodies };
  }
  let out = '';
  file.segments.forEach((s, i) => {
    if (remove.has(i)) {
      if (i === 0) out += schemaLine;
      return;
    }
    const body = replace.get(i);
    if (body === undefined) {
      out += file.text.slice(s.start, s.end);
      return;
    }
    out += file.text.slice(s.start, s.bodyStart);
    if (out !== '' && !out.endsWith('\n')) out += '\n';
    bodies.set(i, lineCount(out) + 1);
    out += body;
  });
  return { text: out, bodies };
}

// ---------------------------------------------------------------------------
// Checking on a private copy.

interface CheckResult {
  before: DesiredState;
  after: DesiredState;
  /** Problems inside applied documents, at the input's file and lines. */
  applied: Problem[];
  /** Problems the change would add elsewhere. */
  fresh: Problem[];
  /** Problems that were there before and stay. */
  stale: Problem[];
}

/**
 * Loads the tree as read, and the tree as planned, from a temp copy. The copy
 * holds exactly the files the scan read (not an fs.cp of the directory), so
 * size limits and the rule against symlinks out of the tree hold by
 * construction, and nothing the loader would not read is duplicated.
 */
async function checkOnCopy(stateDir: string, tree: Tree, plan: Plan, opts: LoadOptions): Promise<CheckResult> {
  const tmp = await mkdtemp(join(tmpdir(), 'left4me-check-'));
  const copy = join(tmp, 'state');
  try {
    await mkdir(copy, { mode: 0o700 });
    for (const f of tree.files) await put(copy, f.rel, f.text);
    const before = await loadState(copy, opts);
    for (const e of plan.edits) {
      if (e.after === null) await rm(join(copy, e.rel), { force: true });
      else await put(copy, e.rel, e.after);
    }
    const after = await loadState(copy, opts);

    const beforeMapped = before.problems.map((p) => mapProblem(p, copy, stateDir, []).problem);
    const remaining = new Map<string, number>();
    for (const p of beforeMapped) remaining.set(signature(p), (remaining.get(signature(p)) ?? 0) + 1);
    const applied: Problem[] = [];
    const fresh: Problem[] = [];
    const stale: Problem[] = [];
    for (const raw of after.problems) {
      const { problem, inApplied } = mapProblem(raw, copy, stateDir, plan.placements);
      if (inApplied) {
        applied.push(problem);
        continue;
      }
      const sig = signature(problem);
      const left = remaining.get(sig) ?? 0;
      if (left > 0) {
        remaining.set(sig, left - 1);
        stale.push(problem);
      } else fresh.push(problem);
    }
    return { before, after, applied, fresh, stale };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function put(root: string, rel: string, text: string): Promise<void> {
  const path = join(root, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

/**
 * A problem found in the copy, shown where people can act on it: inside an
 * applied document at the input's file and line, elsewhere at the state
 * directory's file. `file:line` references in the message are mapped the same way.
 */
function mapProblem(p: Problem, copy: string, stateDir: string, placements: Placement[]): { problem: Problem; inApplied: boolean } {
  const at = (rel: string, line: number) => {
    const pl = placements.find((x) => x.rel === rel && line >= x.firstLine && line < x.firstLine + x.lineCount);
    return pl ? { file: pl.input, line: line - pl.firstLine + pl.inputLine, inApplied: true } : { file: join(stateDir, rel), line, inApplied: false };
  };
  const prefix = copy + sep;
  const message = p.message
    .split(prefix)
    .map((part, i) => {
      if (i === 0) return part;
      const ref = /^(.+?\.ya?ml):(\d+)/.exec(part);
      if (!ref) return `${join(stateDir, '.')}${sep}${part}`;
      const where = at(ref[1]!, Number(ref[2]));
      return `${where.file}:${where.line}${part.slice(ref[0].length)}`;
    })
    .join('');
  if (p.file !== copy && !p.file.startsWith(prefix)) return { problem: { ...p, message }, inApplied: false };
  const rel = p.file === copy ? '' : p.file.slice(prefix.length);
  if (rel === '') return { problem: { ...p, file: stateDir, message }, inApplied: false };
  const where = at(rel, p.line);
  return { problem: { ...p, file: where.file, line: where.line, message }, inApplied: where.inApplied };
}

/**
 * A problem's identity across a change: where it is, not its line (lines move
 * when a neighbouring document grows) nor its wording (messages carry hints
 * drawn from the rest of the tree, `did you mean`, `defined: …`, which any
 * change may alter). Counting these per signature still catches a second problem at the same place.
 */
function signature(p: Problem): string {
  return [p.file, p.kind ?? '', p.name ?? '', p.pointer].join('\0');
}

// ---------------------------------------------------------------------------
// Writing.

/**
 * Writes the planned files, dependencies first, each atomically. Every target
 * is resolved and must stay inside realpath(stateDir); a file that changed
 * since it was read is not overwritten. Returns what went wrong, or undefined.
 */
async function commit(stateDir: string, edits: FileEdit[]): Promise<string | undefined> {
  const written: string[] = [];
  const partial = () => (written.length > 0 ? ` (already written: ${written.join(', ')}; run left4me validate)` : '; nothing was written');
  let root: string;
  try {
    root = await realpath(stateDir);
  } catch (err) {
    return `cannot resolve the state directory ${stateDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  for (const e of [...edits].sort((a, b) => a.rank - b.rank)) {
    const shown = join(stateDir, e.rel);
    try {
      if (e.scratch) throw new Error('a document without a readable kind and name cannot be written');
      const target = await resolveTarget(root, e.rel, e.before === undefined);
      if (e.before !== undefined) {
        const st = await stat(target);
        if ((await readFile(target, 'utf8')) !== e.before) throw new Error('it changed while this command ran; run the command again');
        if (e.after === null) await rm(target);
        else {
          // Root applying into a tree the web user owns must not take its files away from it; the owner
          // is set on the descriptor before the rename, never by path after (a link could be there by then).
          const keepOwner = process.getuid?.() === 0 && (st.uid !== 0 || st.gid !== 0);
          await writeFileAtomic(target, e.after, st.mode & 0o7777, keepOwner ? { uid: st.uid, gid: st.gid } : undefined);
        }
      } else if (e.after !== null) {
        await writeFileAtomic(target, e.after);
      }
      written.push(shown);
    } catch (err) {
      return `cannot write ${shown}: ${(err as Error).message}${partial()}`;
    }
  }
  return undefined;
}

/** The real path to write `rel` at; refuses anything that would land outside `root` or clobber a file the tree did not read. */
async function resolveTarget(root: string, rel: string, isNew: boolean): Promise<string> {
  if (rel.startsWith('/') || rel.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error('not a plain path inside the state directory; refused');
  }
  const inside = (p: string) => p.startsWith(root + sep);
  const path = join(root, rel);
  if (!isNew) {
    const real = await realpath(path);
    if (!inside(real)) throw new Error(`it leads outside the state directory (to ${real}); refused`);
    return real;
  }
  // Only the <kinds>/ directory of a new document may be created, and only inside the existing state directory.
  const parent = dirname(path);
  if (parent !== root) {
    await mkdir(parent, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  const realParent = await realpath(parent);
  if (realParent !== root && !inside(realParent)) throw new Error(`its directory leads outside the state directory (to ${realParent}); refused`);
  const real = join(realParent, basename(path));
  const exists = await lstat(real).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  if (exists) throw new Error('a file the state tree could not read is already there (see left4me validate); move it away first');
  return real;
}
