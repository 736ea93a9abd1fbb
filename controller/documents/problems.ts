import type { Kind } from './kinds.js';

/** One thing wrong with the state tree, located precisely enough for a person to fix it. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  /** Set once the document's kind and name are known. */
  kind?: Kind;
  name?: string;
  /** JSON pointer into the document, `''` for the whole file or document. */
  pointer: string;
  message: string;
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
