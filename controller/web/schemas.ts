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
    unit: { type: 'string', description: "systemd's active state" },
  },
} as const;

export const ERROR = {
  $id: 'left4me-web/error',
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' } },
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

export const WEB_SCHEMAS: object[] = [INSTANCE_ITEM, ERROR, FILE_LISTING];
