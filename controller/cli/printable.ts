import { Document as YamlDocument, visit } from 'yaml';
import type { Io } from './io.js';

// Terminal hygiene. Game servers (A2S names), builds (script and steamcmd
// output, quoted in logs and status messages) and document authors control
// text the CLI prints; a raw ESC, CSI, OSC 52 (clipboard write), BEL,
// backspace, lone CR, C1 control or bidi override in it would act on the
// operator's terminal. The rule: the controller stores such text as it came
// (the status store is JSON, the logs are the build's own words) and
// everything is escaped at display. Every CLI write passes `printableIo`, so
// no command can forget; tables, JSON and YAML escape in their own syntax
// first so that rows stay rows and machine output stays exact.

/** Controls a terminal may act on: C0, DEL and C1 (Cc), the bidi controls, and the line and paragraph separators. */
const UNSAFE = /\r\n|[\p{Cc}\p{Bidi_Control}\u2028\u2029]/gu;

/** A control that only a double-quoted YAML scalar can spell (block scalars keep line breaks and tabs). */
const NEEDS_QUOTES = /(?![\n\t])[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u;

const hex = (c: string, width: number) => c.codePointAt(0)!.toString(16).padStart(width, '0');

/** `\x1b` for the 8-bit controls, `\u202e` beyond: what a reader can see and type back. */
function visible(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  if (c === '\r') return '\\r';
  return c.codePointAt(0)! <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`;
}

/**
 * Text for a terminal, where lines are expected (logs, messages): line breaks
 * (`\n`, `\r\n`) and tabs stay, every other control is escaped visibly. Reads
 * and writes nothing.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => (c === '\n' || c === '\t' || c === '\r\n' ? c : visible(c)));
}

/** One line (a table cell, a field): line breaks and tabs are escaped too, so a value cannot forge rows or fields. */
export function printableLine(text: string): string {
  return text.replace(UNSAFE, (c) => (c === '\r\n' ? '\\r\\n' : visible(c)));
}

/**
 * JSON text whose strings carry no raw control: `JSON.stringify` escapes C0
 * but leaves DEL, C1, bidi controls and separators raw; they become `\uXXXX`,
 * which parses back to the same string. Structural line breaks stay.
 */
export function printableJsonText(json: string): string {
  return json.replace(UNSAFE, (c) => (c === '\n' ? c : c === '\r\n' ? '\\r\n' : `\\u${hex(c, 4)}`));
}

/** `value` as indented JSON with no raw control character (`printableJsonText`). */
export function printableJson(value: unknown): string {
  return printableJsonText(JSON.stringify(value, null, 2));
}

/**
 * `value` as YAML with no raw control character: a string holding any control
 * other than a line break or tab is written double-quoted, where `\x9b` and
 * `\u202e` are YAML's own escapes, so the output parses back to the same data.
 */
export function printableYaml(value: unknown): string {
  const doc = new YamlDocument(value);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && NEEDS_QUOTES.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  // Only double-quoted scalars can still hold a raw control here, and there an escape means the same character.
  return doc.toString().replace(UNSAFE, (c) => (c === '\n' || c === '\t' ? c : c === '\r\n' ? '\\r\\n' : visible(c)));
}

/** The same Io (and whatever else it carries, such as a test's stdin) with every write passed through `printable`: the last line of defence. */
export function printableIo<T extends Io>(io: T): T {
  return { ...io, out: (t: string) => io.out(printable(t)), err: (t: string) => io.err(printable(t)) };
}

/**
 * Wraps a JSON-lines log destination (pino's) so that no line carries a raw
 * control: a server name or build line quoted in a log record cannot act on
 * the terminal of whoever follows the log. Lossless (`printableJsonText`).
 */
export function printableJsonLines<S extends { write(text: string): unknown }>(dest: S): { write(text: string): unknown } {
  return { write: (text: string) => dest.write(printableJsonText(text)) };
}
