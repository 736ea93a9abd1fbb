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

export const WEB_SCHEMAS: object[] = [INSTANCE_ITEM, ERROR];
