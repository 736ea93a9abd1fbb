import type { Kind, SourcePosition } from './kinds.js';
import type { DocumentOrigin } from './origin.js';

/** One thing wrong with the state tree, located precisely enough for a person to fix it. */
export interface Problem {
  /** The file as people read it: a path, or `SOURCE@<short commit>:<repository path>` for a file from a git source. */
  file: string;
  line: number;
  col: number;
  /** Set once the document's kind and name are known. */
  kind?: Kind;
  name?: string;
  /** JSON pointer into the document, `''` for the whole file or document. */
  pointer: string;
  message: string;
  /** Set when the file is a git source's: which source, commit and repository path (`file` shows the same, shortened). */
  origin?: DocumentOrigin;
}

/** A git file as messages show it: `SOURCE@<7-hex commit>:<repository path>`. */
export function originLabel(o: DocumentOrigin): string {
  return `${o.source}@${o.commit.slice(0, 7)}:${o.file}`;
}

/** A file as messages show it: its path, or the git label when it comes from a source. */
export function shownFile(s: { file: string; origin?: DocumentOrigin }): string {
  return s.origin ? originLabel(s.origin) : s.file;
}

/** Where a document was written, as messages show it: `file:line`, the git label for a document from a source. */
export function shownSource(s: SourcePosition): string {
  return `${s.origin ? originLabel(s.origin) : s.file}:${s.line}`;
}

/** Formats a problem as `file:line:col  kind/name  /pointer  message` (one line; the CLI prints these). */
export function formatProblem(p: Problem): string {
  const who = p.kind ? `${p.kind.toLowerCase()}/${p.name ?? '?'}` : '-';
  return `${p.file}:${p.line}:${p.col}  ${who}  ${p.pointer || '/'}  ${p.message}`;
}

/** Orders problems by file, then position, so output is stable across runs. */
export function compareProblems(a: Problem, b: Problem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.col - b.col || (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : 0);
}
