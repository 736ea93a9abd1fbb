import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Node as YamlNode } from 'yaml';
import type { Problem } from './problems.js';

/** Aliases a document may expand before it is treated as an alias bomb. */
const MAX_ALIAS_COUNT = 200;

/** Explicit tags a document may carry; everything else (`!!binary`, `!!set`, `!custom`) is refused. */
const ALLOWED_TAGS = new Set([
  'tag:yaml.org,2002:str',
  'tag:yaml.org,2002:int',
  'tag:yaml.org,2002:float',
  'tag:yaml.org,2002:bool',
  'tag:yaml.org,2002:null',
  'tag:yaml.org,2002:map',
  'tag:yaml.org,2002:seq',
]);

/** One YAML document of a file: its plain data and a way back from JSON pointers to positions. */
export interface RawDocument {
  /** The parsed value (not yet validated). */
  data: unknown;
  /** Position of the document's first content line. */
  line: number;
  col: number;
  /** The line and column for a JSON pointer; falls back to the nearest enclosing node that exists. */
  locate(pointer: string, opts?: { key?: boolean }): { line: number; col: number };
}

/** Result of parsing one file: the documents that parsed, and the problems of those that did not. */
export interface ParsedFile {
  documents: RawDocument[];
  problems: Problem[];
}

/** Splits a JSON pointer into its unescaped segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Parses YAML text (one or more `---` documents) strictly: YAML 1.2 core schema,
 * duplicate keys, unknown tags and over-aliased documents are problems, never crashes.
 */
export function parseYamlFile(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  const problems: Problem[] = [];
  const documents: RawDocument[] = [];
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };

  let docs;
  try {
    docs = parseAllDocuments(text, {
      lineCounter,
      schema: 'core',
      strict: true,
      uniqueKeys: true,
      merge: false,
      prettyErrors: false,
      keepSourceTokens: false,
    });
  } catch (err) {
    // The parser itself gave up (e.g. nesting deep enough to exhaust the stack).
    problems.push({ file, line: 1, col: 1, pointer: '', message: `cannot parse YAML: ${describe(err)}` });
    return { documents, problems };
  }
  if (!Array.isArray(docs)) docs = [docs];

  for (const doc of docs) {
    // Only the first issue per document: later ones are nearly always echoes of it.
    const issue = doc.errors[0] ?? doc.warnings[0];
    if (issue) {
      const { line, col } = at(issue.pos[0]);
      problems.push({ file, line, col, pointer: '', message: yamlMessage(issue.code, issue.message) });
      continue;
    }
    if (doc.contents === null) continue; // an empty document: comments only, or a bare `---`
    const tagged = findDisallowedTag(doc.contents as YamlNode);
    if (tagged) {
      const { line, col } = at(tagged.offset);
      problems.push({ file, line, col, pointer: '', message: `YAML tag ${tagged.tag} is not allowed (only plain strings, numbers, booleans, lists and maps)` });
      continue;
    }
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const { line, col } = at(doc.contents.range?.[0] ?? 0);
      const message =
        err instanceof ReferenceError && /alias/i.test(err.message)
          ? `too many YAML aliases (more than ${MAX_ALIAS_COUNT} expansions): refused as a possible alias bomb`
          : `cannot read YAML: ${describe(err)}`;
      problems.push({ file, line, col, pointer: '', message });
      continue;
    }
    if (data === null || data === undefined) continue; // a document of comments only
    const root = doc.contents as YamlNode;
    const start = at(root.range?.[0] ?? 0);
    documents.push({
      data,
      line: start.line,
      col: start.col,
      locate(pointer, opts) {
        const offset = locateOffset(root, pointerSegments(pointer), opts?.key ?? true);
        return offset === undefined ? start : at(offset);
      },
    });
  }
  return { documents, problems };
}

/** Walks the YAML node tree along a pointer and returns the offset of the deepest node found. */
function locateOffset(root: YamlNode, segments: string[], preferKey: boolean): number | undefined {
  let node: unknown = root;
  let offset = root.range?.[0];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) return offset;
      const keyNode = pair.key as YamlNode;
      if (last && preferKey) return keyNode.range?.[0] ?? offset;
      node = pair.value;
      offset = (pair.value as YamlNode | null)?.range?.[0] ?? keyNode.range?.[0] ?? offset;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as YamlNode | undefined;
      if (!item || !/^\d+$/.test(seg)) return offset;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function findDisallowedTag(root: YamlNode): { tag: string; offset: number } | undefined {
  let found: { tag: string; offset: number } | undefined;
  visit(root, (_key, node) => {
    const tag = (node as YamlNode).tag;
    if (tag && !ALLOWED_TAGS.has(tag)) {
      found = { tag: tag.replace(/^tag:yaml\.org,2002:/, '!!'), offset: (node as YamlNode).range?.[0] ?? 0 };
      return visit.BREAK;
    }
    return undefined;
  });
  return found;
}

function yamlMessage(code: string, message: string): string {
  if (/call stack/i.test(message)) return 'YAML nesting is too deep';
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  switch (code) {
    case 'DUPLICATE_KEY':
      return `duplicate key: ${first}`;
    case 'TAG_RESOLVE_FAILED':
      return `${first} (custom YAML tags are not allowed)`;
    default:
      return `invalid YAML: ${first}`;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
