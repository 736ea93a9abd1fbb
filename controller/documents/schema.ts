import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { packageRoot } from '../package-root.js';
import { KINDS, type Kind } from './kinds.js';
import { closest } from './suggest.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => void;

/** One schema violation, already phrased for people. */
export interface SchemaIssue {
  /** JSON pointer to the offending value (for an unknown or missing field: to that field). */
  pointer: string;
  message: string;
  /** Point at the field's key rather than its value (unknown fields). */
  atKey: boolean;
}

/** The compiled schemas: one validator per kind, sharing one ajv instance. */
export interface SchemaSet {
  /** Validates `doc` against its kind's schema, filling defaults in place; returns the issues (none = valid). */
  validate(kind: Kind, doc: unknown): SchemaIssue[];
  /** The raw schema objects by file name, for tools (docs, API routes). */
  schemas: Map<string, Record<string, unknown>>;
}

let shared: SchemaSet | undefined;

/** Compiles schemas/*.schema.json once per process (reads the schemas directory). */
export function loadSchemas(dir = join(packageRoot(), 'schemas')): SchemaSet {
  if (shared && dir === join(packageRoot(), 'schemas')) return shared;
  const ajv = new Ajv2020({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strict: true,
    // `required` inside if/then names properties declared beside the if, which strictRequired cannot see.
    strictRequired: false,
    allowUnionTypes: true,
  });
  addFormats(ajv);
  const schemas = new Map<string, Record<string, unknown>>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort()) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    schemas.set(file, schema);
    ajv.addSchema(schema);
  }
  const validators = new Map<Kind, ValidateFunction>();
  for (const kind of KINDS) {
    const schema = schemas.get(`${kind.toLowerCase()}.schema.json`);
    if (!schema) throw new Error(`left4me: schemas/${kind.toLowerCase()}.schema.json is missing`);
    validators.set(kind, ajv.getSchema(schema.$id as string)!);
  }
  const set: SchemaSet = {
    schemas,
    validate(kind, doc) {
      const validate = validators.get(kind)!;
      return validate(doc) ? [] : translate(validate.errors ?? []);
    },
  };
  if (dir === join(packageRoot(), 'schemas')) shared = set;
  return set;
}

/** Human wording for the patterns the schemas use, so nobody has to read a regex. */
const PATTERN_HINTS: Array<[RegExp, string]> = [
  [/^\^\[a-z0-9\]\[a-z0-9-\]\{0,62\}\$$/, "must be lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters (names become directory and unit names)"],
  [/^\^\(\?!\/\)/, "must be a relative path with '/' separators: no leading or trailing '/', no '.' or '..' segments, no '//', backslashes or control characters"],
  [/^\^\/\(\?!/, "must be an absolute, normalized path of letters, digits and . _ @ + - (no '.' or '..' segments, no '//' or trailing '/')"],
  [/smhd/, 'must be a duration such as 30s, 15m, 6h, 1d or 1h30m'],
  [/a-f0-9\]\{64\}/, 'must be 64 lowercase hex digits (a SHA-256 digest)'],
  [/\^https\?:/, 'must be an http:// or https:// URL'],
  [/\\u2028\\u2029;/, "cannot contain quotes, ';', control characters, line separators or unpaired surrogates (they would inject console commands)"],
  [/\[0145\]\[0145\]/, 'must be an octal permission without set-id bits or group or other write, e.g. 0644 or 0755'],
  [/\^\[1-9\]\[0-9\]/, 'must be a Steam Workshop id (digits only, e.g. 698857882)'],
  [/\^\[\^\\s/, "cannot contain whitespace, control characters, quotes, backslashes, '%', '$', ';', '`' or glob characters (* ? [)"],
  [/\^\[a-z_\]\[a-z0-9_-\]\{0,31\}\$/, "must be a user name: lowercase letters, digits, '_' and '-', starting with a letter or '_'"],
  [/\^\[A-Za-z_\]\[A-Za-z0-9_\]/, "must be a console variable name: letters, digits and '_', not starting with a digit"],
];

function patternHint(pattern: string): string {
  for (const [re, hint] of PATTERN_HINTS) if (re.test(pattern)) return hint;
  return `must match the pattern ${pattern}`;
}

function quote(v: unknown): string {
  // JSON leaves DEL, the C1 controls and U+2028/2029 raw; a message must never carry them to a terminal.
  const s = (JSON.stringify(v) ?? String(v)).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  null: 'null',
};

function escapeSegment(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Turns ajv's errors into one message per real mistake: drops the echoes of
 * combinators (`if`, the branches of a failed `oneOf`), names unknown and
 * missing fields at their own pointer, and words patterns in plain language.
 */
export function translate(errors: ErrorObject[]): SchemaIssue[] {
  const oneOfPaths = errors.filter((e) => e.keyword === 'oneOf').map((e) => e.schemaPath);
  const issues: SchemaIssue[] = [];
  const seen = new Set<string>();
  const namedKeys = new Set<string>();
  const push = (issue: SchemaIssue) => {
    const key = `${issue.pointer}\u0000${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  };

  for (const e of errors) {
    const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
    // Branch errors of a failed oneOf are replaced by the oneOf's own message.
    if (e.keyword !== 'oneOf' && oneOfPaths.some((p) => e.schemaPath.startsWith(`${p}/`))) continue;
    switch (e.keyword) {
      case 'if':
        continue;
      case 'additionalProperties': {
        const field = (e.params as { additionalProperty: string }).additionalProperty;
        const allowed = Object.keys((parent.properties as object | undefined) ?? {});
        const guess = closest(field, allowed);
        const hint = guess
          ? ` — did you mean "${guess}"?`
          : allowed.length > 0
            ? ` (allowed here: ${allowed.join(', ')})`
            : '';
        const status = field === 'status' && e.instancePath === '' ? ' — status is kept by the controller, never in documents' : '';
        push({ pointer: `${e.instancePath}/${escapeSegment(field)}`, message: `unknown field "${field}"${status}${hint}`, atKey: true });
        break;
      }
      case 'required': {
        const field = (e.params as { missingProperty: string }).missingProperty;
        push({ pointer: e.instancePath, message: `missing required field "${field}"`, atKey: true });
        break;
      }
      case 'false schema': {
        const field = e.instancePath.split('/').pop() ?? '';
        push({ pointer: e.instancePath, message: `"${field}" is not allowed here with the other settings of this document (see the field's description)`, atKey: true });
        break;
      }
      case 'const':
        push({ pointer: e.instancePath, message: `must be ${quote((e.params as { allowedValue: unknown }).allowedValue)} (got ${quote(e.data)})`, atKey: false });
        break;
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
        const guess = typeof e.data === 'string' ? closest(e.data, allowed.map(String)) : undefined;
        push({
          pointer: e.instancePath,
          message: `must be one of ${allowed.map(quote).join(', ')} (got ${quote(e.data)})${guess ? ` — did you mean "${guess}"?` : ''}`,
          atKey: false,
        });
        break;
      }
      case 'type': {
        const want = ([] as string[]).concat((e.params as { type: string | string[] }).type);
        push({ pointer: e.instancePath, message: `must be ${want.map((t) => TYPE_WORDS[t] ?? t).join(' or ')} (got ${typeOf(e.data)})`, atKey: false });
        break;
      }
      case 'pattern': {
        if (typeof e.data !== 'string') continue; // union types: the pattern only speaks to strings
        const key = (e as { propertyName?: string }).propertyName;
        if (key !== undefined) {
          // A key that failed propertyNames: say so at the key, with the rule it broke.
          namedKeys.add(`${e.instancePath}/${escapeSegment(key)}`);
          push({ pointer: `${e.instancePath}/${escapeSegment(key)}`, message: `${quote(key)} is not a valid key here: it ${patternHint((e.params as { pattern: string }).pattern)}`, atKey: true });
          break;
        }
        push({ pointer: e.instancePath, message: `${quote(e.data)} ${patternHint((e.params as { pattern: string }).pattern)}`, atKey: false });
        break;
      }
      case 'propertyNames': {
        const name = (e.params as { propertyName: string }).propertyName;
        if (namedKeys.has(`${e.instancePath}/${escapeSegment(name)}`)) break;
        push({ pointer: `${e.instancePath}/${escapeSegment(name)}`, message: `"${name}" is not a valid key here`, atKey: true });
        break;
      }
      case 'format':
        push({ pointer: e.instancePath, message: `${quote(e.data)} is not a valid ${(e.params as { format: string }).format}${(e.params as { format: string }).format === 'date-time' ? ' (RFC 3339, e.g. 2026-11-21T18:00:00Z)' : ''}`, atKey: false });
        break;
      case 'minProperties':
      case 'maxProperties': {
        const keys = Object.keys((parent.properties as object | undefined) ?? {});
        const present = e.data && typeof e.data === 'object' ? Object.keys(e.data) : [];
        const exactlyOne = parent.minProperties === 1 && parent.maxProperties === 1;
        const message = exactlyOne
          ? `needs exactly one of ${keys.join(', ')} (found ${present.length === 0 ? 'none' : present.join(', ')})`
          : e.keyword === 'minProperties' && parent.minProperties === 1
            ? `needs at least one of ${keys.join(', ')}`
            : `has too many entries (at most ${String(parent.maxProperties)})`;
        push({ pointer: e.instancePath, message, atKey: false });
        break;
      }
      case 'oneOf': {
        const branches = (e.schema as Array<{ required?: string[] }>).map((b) => (b.required ?? []).join(' + '));
        push({ pointer: e.instancePath, message: `give exactly one of: ${branches.join(', or ')}`, atKey: false });
        break;
      }
      case 'uniqueItems': {
        const { i, j } = e.params as { i: number; j: number };
        push({ pointer: `${e.instancePath}/${i}`, message: `duplicate entry ${quote((e.data as unknown[])[i])} (also at index ${j})`, atKey: false });
        break;
      }
      case 'maxLength':
      case 'minLength':
      case 'maxItems':
      case 'minItems': {
        const limit = (e.params as { limit: number }).limit;
        const size = e.keyword.endsWith('Length') ? (e.data as string).length : (e.data as unknown[]).length;
        const unit = e.keyword.endsWith('Length') ? 'characters' : 'entries';
        const message =
          e.keyword.startsWith('max')
            ? `is too long: ${size} ${unit} (at most ${limit})`
            : limit === 1
              ? 'must not be empty'
              : `is too short: ${size} ${unit} (at least ${limit})`;
        push({ pointer: e.instancePath, message, atKey: false });
        break;
      }
      case 'minimum':
      case 'maximum':
        if (typeof e.data !== 'number') continue; // union types: bounds only speak to numbers
        push({ pointer: e.instancePath, message: `${e.message ?? e.keyword} (got ${quote(e.data)})`, atKey: false });
        break;
      case 'not':
        continue; // only used inside oneOf branches, reported by the oneOf
      default:
        push({ pointer: e.instancePath, message: e.message ?? e.keyword, atKey: false });
    }
  }
  return issues;
}
