/**
 * The form of every document name (`#/$defs/name` in schemas/common.schema.json):
 * it also becomes a file, unit and port-lease key, so tables the controller
 * reads back from disk accept no other key.
 */
export const DOCUMENT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Whether a value is a document name. Reads nothing. */
export function isDocumentName(value: unknown): value is string {
  return typeof value === 'string' && DOCUMENT_NAME.test(value);
}

/**
 * The own enumerable entries of a parsed JSON object, or undefined when the
 * value is not a plain object. `JSON.parse` makes `"__proto__"` an own key,
 * never a prototype, so callers still filter keys through `isDocumentName`.
 */
export function jsonEntries(value: unknown): [string, unknown][] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return Object.entries(value);
}
