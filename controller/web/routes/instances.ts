import type { FastifyInstance } from 'fastify';
import type { Document } from '../../documents/kinds.js';
import type { DocumentStatus } from '../../status/store.js';
import { visibleTo, userOf } from '../access.js';
import type { WebContext } from '../context.js';

/** `GET /api/v1/instances`: the instances the caller may see, with their status. */
export function instancesRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get(
    '/api/v1/instances',
    { schema: { response: { 200: { type: 'object', additionalProperties: false, properties: { items: { type: 'array', items: { $ref: 'left4me-web/instance-item#' } } } } } } },
    async (req) => {
      const user = userOf(req);
      const state = await ctx.state.get();
      const items = [...state.instances.values()].filter((d) => visibleTo(user, d)).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
      return { items: await Promise.all(items.map(async (d) => instanceItem(d, await ctx.status.read('Instance', d.metadata.name)))) };
    },
  );
}

function instanceItem(doc: Document<'Instance'>, st: DocumentStatus | undefined) {
  const ready = st?.conditions.find((c) => c.type === 'Ready');
  return {
    name: doc.metadata.name,
    owner: doc.metadata.owner,
    blueprint: doc.spec.blueprint,
    state: doc.spec.state,
    ready: ready?.status ?? 'Unknown',
    ...(ready ? { reason: ready.reason, message: ready.message } : {}),
    ...(st?.port !== undefined ? { port: st.port } : {}),
    ...(st?.players !== undefined ? { players: st.players, maxPlayers: st.maxPlayers } : {}),
    ...(st?.unit ? { unit: st.unit.activeState } : {}),
  };
}
