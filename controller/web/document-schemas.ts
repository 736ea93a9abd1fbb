/**
 * JSON Schemas of the documents API's answers (added by the documents
 * plugin). Objects list their fields and allow no others, so status fields
 * such as uids, PIDs and error texts never leave. A document's `spec` is
 * passed whole, and so is an invalid document as written: it is what its
 * author wrote, and documents hold no secrets (the loader refuses
 * rcon_password; RCON passwords live in root-only files), so there is
 * nothing in it to hide from whoever may see the document.
 */
const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const strings = { type: 'object', additionalProperties: { type: 'string' } } as const;

/** Where a document from a git source comes from: such a document is read-only to the API (403), changed in its repository. */
export const ORIGIN = {
  $id: 'left4me-web/documents/origin',
  type: 'object',
  additionalProperties: false,
  required: ['source', 'commit', 'file'],
  properties: {
    source: { type: 'string', description: 'the git source (controller.yaml sources[].name)' },
    commit: { type: 'string', description: 'the full commit id in force' },
    file: { type: 'string', description: 'the file, relative to the repository root' },
  },
} as const;

export const PROBLEM = {
  $id: 'left4me-web/documents/problem',
  type: 'object',
  additionalProperties: false,
  required: ['file', 'line', 'col', 'pointer', 'message'],
  properties: {
    file: { type: 'string', description: '`body` for the request body; `SOURCE@<commit>:<path>` for a git source\'s file; else a file of the state tree, relative to it' },
    line: int,
    col: int,
    kind: str,
    name: str,
    pointer: { type: 'string', description: 'JSON pointer into the document' },
    message: str,
    origin: { $ref: 'left4me-web/documents/origin#' },
  },
} as const;

export const DOCUMENT = {
  $id: 'left4me-web/documents/document',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: str,
    kind: str,
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'owner'],
      properties: { name: str, owner: str, labels: strings, annotations: strings },
    },
    spec: { type: 'object', additionalProperties: true },
  },
} as const;

export const DOCUMENT_STATUS = {
  $id: 'left4me-web/documents/status',
  type: 'object',
  additionalProperties: false,
  required: ['ready', 'conditions', 'events'],
  properties: {
    ready: { type: 'string', description: 'True, False or Unknown' },
    reason: str,
    message: str,
    observedGeneration: str,
    /** Whether the controller has seen the current spec. */
    upToDate: { type: 'boolean' },
    conditions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { type: str, status: str, reason: str, message: str, observedGeneration: str, lastTransitionTime: str },
      },
    },
    events: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, properties: { time: str, type: str, reason: str, message: str } },
    },
    port: int,
    clientPort: int,
    players: int,
    maxPlayers: int,
    map: str,
    unit: { type: 'object', additionalProperties: false, properties: { activeState: str, subState: str, since: str } },
    build: { type: 'object', additionalProperties: false, properties: { ready: str, wanted: str, result: str, checkedAt: str } },
    /** A build running now (overlays) or an install (installations), for the dashboard's Builds page; never its log's path. */
    building: {
      type: 'object',
      additionalProperties: false,
      properties: {
        build: str,
        since: str,
        step: { type: 'object', additionalProperties: false, properties: { step: int, steps: int, kind: str, label: str, bytes: int, totalBytes: int } },
      },
    },
    progress: { type: 'object', additionalProperties: false, properties: { pass: int, passes: int, platform: str, state: str, percent: { type: 'number' } } },
  },
} as const;

export const DOCUMENT_ITEM = {
  $id: 'left4me-web/documents/item',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'owner', 'ready'],
  properties: { name: str, owner: str, ready: str, reason: str, message: str, origin: { $ref: 'left4me-web/documents/origin#' } },
} as const;

export const DOCUMENT_ANSWER = {
  $id: 'left4me-web/documents/answer',
  type: 'object',
  additionalProperties: false,
  required: ['valid', 'etag'],
  properties: {
    outcome: { type: 'string', description: 'created, configured or unchanged (writes only)' },
    valid: { type: 'boolean', description: 'false: the document is written but invalid; `written` and `problems` say what and why' },
    document: { $ref: 'left4me-web/documents/document#' },
    written: { type: 'object', additionalProperties: true, description: 'An invalid document as written' },
    problems: { type: 'array', items: { $ref: 'left4me-web/documents/problem#' } },
    etag: str,
    status: { $ref: 'left4me-web/documents/status#' },
    origin: { $ref: 'left4me-web/documents/origin#' },
  },
} as const;

/** Errors of document writes: the problems of a refused write, or the current version after a stale one. */
export const WRITE_ERROR = {
  $id: 'left4me-web/documents/write-error',
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: str,
    problems: { type: 'array', items: { $ref: 'left4me-web/documents/problem#' } },
    current: { $ref: 'left4me-web/documents/document#' },
    written: { type: 'object', additionalProperties: true, description: 'The current version, when it is an invalid document' },
    etag: str,
  },
} as const;

export const VALIDATE_ANSWER = {
  $id: 'left4me-web/documents/validate',
  type: 'object',
  additionalProperties: false,
  required: ['ok', 'outcomes', 'problems', 'effects'],
  properties: {
    ok: { type: 'boolean', description: 'Whether the body would be applied' },
    message: str,
    outcomes: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { kind: str, name: str, outcome: str } } },
    problems: { type: 'array', items: { $ref: 'left4me-web/documents/problem#' } },
    effects: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { instance: str, effect: str, message: str } } },
  },
} as const;

const COMMIT_INFO = {
  type: 'object',
  additionalProperties: false,
  required: ['commit', 'author', 'date', 'subject'],
  properties: { commit: str, author: str, date: str, subject: str, since: str },
} as const;
const orNull = (schema: object) => ({ anyOf: [{ type: 'null' }, schema] });

/** `GET /api/v1/sources`: each git source's status as the controller wrote it (its URL carries no credentials). */
export const SOURCES_ANSWER = {
  $id: 'left4me-web/sources',
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url', 'ref', 'path', 'intervalMs', 'serving', 'lastFetch', 'lastError'],
        properties: {
          name: str,
          url: str,
          ref: { type: 'object', additionalProperties: false, properties: { branch: str, tag: str } },
          path: str,
          intervalMs: int,
          serving: orNull(COMMIT_INFO),
          lastFetch: orNull({ type: 'object', additionalProperties: false, required: ['at'], properties: { at: str, tip: str } }),
          lastError: orNull({
            type: 'object',
            additionalProperties: false,
            required: ['at', 'reason', 'message'],
            properties: {
              at: str,
              reason: { type: 'string', description: 'fetch-failed, ref-missing, force-push, invalid or checkout-failed' },
              message: str,
              commit: COMMIT_INFO,
              // Inline, not a $ref: the serializer picks an anyOf branch with Ajv, which resolves refs against this $id.
              problems: { type: 'array', items: { ...PROBLEM, $id: undefined, properties: { ...PROBLEM.properties, origin: { ...ORIGIN, $id: undefined } } } },
            },
          }),
        },
      },
    },
  },
} as const;

export const DOCUMENT_SCHEMAS: object[] = [ORIGIN, SOURCES_ANSWER, PROBLEM, DOCUMENT, DOCUMENT_STATUS, DOCUMENT_ITEM, DOCUMENT_ANSWER, WRITE_ERROR, VALIDATE_ANSWER];
