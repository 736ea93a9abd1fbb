import type { WebPlugin } from '../app.js';

/** `GET /healthz`: the service answers. No account needed; says nothing else. */
export const healthPlugin: WebPlugin = (app) => {
  app.get('/healthz', { schema: { response: { 200: { type: 'object', additionalProperties: false, properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true }));
};
