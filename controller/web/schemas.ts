/**
 * The web service's own JSON Schemas (answers and bodies), added to the app
 * with addSchema and referenced by `$ref` from routes. Document schemas come
 * from schemas/ (added by the documents plugin).
 */
export const INSTANCE_ITEM = {
  $id: 'left4me-web/instance-item',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'owner', 'blueprint', 'state', 'ready'],
  properties: {
    name: { type: 'string' },
    owner: { type: 'string' },
    blueprint: { type: 'string' },
    state: { type: 'string' },
    ready: { type: 'string', description: 'True, False or Unknown' },
    reason: { type: 'string' },
    message: { type: 'string' },
    port: { type: 'integer' },
    players: { type: 'integer' },
    maxPlayers: { type: 'integer' },
    map: { type: 'string', description: 'the map the server said it runs (A2S)' },
    unit: { type: 'string', description: "systemd's active state" },
    origin: { $ref: 'left4me-web/documents/origin#' },
  },
} as const;

export const ERROR = {
  $id: 'left4me-web/error',
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' } },
} as const;

/** An account as the API shows it: never its hash. */
export const USER = {
  $id: 'left4me-web/user',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'role', 'created'],
  properties: { name: { type: 'string' }, role: { type: 'string', enum: ['admin', 'user'] }, created: { type: 'string' } },
} as const;

/** Who is logged in, and the token every change must carry in X-CSRF-Token. Never the session id. */
export const SESSION = {
  $id: 'left4me-web/session',
  type: 'object',
  additionalProperties: false,
  required: ['user'],
  properties: { user: { $ref: 'left4me-web/user#' }, csrfToken: { type: 'string' } },
} as const;

/** A Bearer token as the API lists it: never its secret or hash. */
export const TOKEN_INFO = {
  $id: 'left4me-web/token-info',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'user', 'created'],
  properties: { id: { type: 'string' }, user: { type: 'string' }, created: { type: 'string' } },
} as const;

/** A password as a body field: the store's own rules (12-1024 characters) give the message. */
export const PASSWORD = { $id: 'left4me-web/password', type: 'string', minLength: 1, maxLength: 1024 } as const;

const HISTORY_POINT = {
  type: 'object',
  additionalProperties: false,
  required: ['t', 'players', 'cpu', 'memory'],
  properties: {
    t: { type: 'integer', description: 'start of the bucket, ms since the epoch' },
    players: { type: ['integer', 'null'], description: 'most players seen in the bucket; null when the server never answered' },
    cpu: { type: ['number', 'null'], description: 'mean CPU use in cores (1 = one core busy)' },
    memory: { type: ['integer', 'null'], description: 'mean memory of the server, bytes' },
  },
} as const;

export const HISTORY_ANSWER = {
  $id: 'left4me-web/history',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'since', 'step', 'sampleStep', 'points'],
  properties: {
    name: { type: 'string' },
    since: { type: 'integer', description: 'ms since the epoch' },
    step: { type: 'integer', description: 'bucket width, ms (the asked step, rounded up to whole samples and coarsened to at most 1440 points)' },
    sampleStep: { type: 'integer', description: 'how often the controller samples, ms' },
    points: { type: 'array', items: HISTORY_POINT },
  },
} as const;

/** A directory of an overlay build or a writable layer (routes/files.ts). */
export const FILE_LISTING = {
  $id: 'left4me-web/file-listing',
  type: 'object',
  additionalProperties: false,
  required: ['path', 'entries', 'truncated'],
  properties: {
    path: { type: 'string', description: "relative to the tree's root; '' for the root" },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type', 'size', 'mtime'],
        properties: {
          name: { type: 'string' },
          type: { enum: ['file', 'dir', 'link', 'deleted', 'other'], description: 'deleted: an overlayfs whiteout; links are listed, never followed' },
          size: { type: 'integer', description: 'bytes, for files; 0 otherwise' },
          mtime: { type: 'string' },
        },
      },
    },
    truncated: { type: 'boolean', description: 'the directory has more entries than one listing returns' },
  },
} as const;

export const WEB_SCHEMAS: object[] = [INSTANCE_ITEM, ERROR, USER, SESSION, TOKEN_INFO, PASSWORD, HISTORY_ANSWER, FILE_LISTING];
