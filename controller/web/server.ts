/**
 * The web room: `left4me web`, the HTTP API the dashboard, scripts and other
 * tools use. Fastify, one plugin per capability. This first slice: health,
 * Bearer-token authentication against the account store, and the read-only
 * list of instances with their status — filtered by owner, and shaped by a
 * response schema so nothing but the listed fields can ever leave.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Document } from '../documents/kinds.js';
import { loadState, type LoadOptions } from '../documents/loader.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { UserStore, type WebUser } from './users.js';

/** Where the web service reads from. */
export interface WebOptions {
  stateDir: string;
  /** The controller's status directory (read only). */
  statusDir: string;
  /** The web service's own data directory (accounts). */
  webDataDir: string;
  load?: LoadOptions;
  /** Largest request body, in bytes. */
  bodyLimit?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated account; set by the auth hook on /api routes. */
    user?: WebUser;
  }
}

/** What a user may see: admins everything, users `system` documents and their own. */
export function visibleTo(user: WebUser, doc: Pick<Document, 'metadata'>): boolean {
  return user.role === 'admin' || doc.metadata.owner === 'system' || doc.metadata.owner === user.name;
}

const INSTANCE_ITEM = {
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

/** Builds the app (not listening): `app.listen()` or `app.inject()` is the caller's. */
export function buildWebApp(opts: WebOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: opts.bodyLimit ?? 1 << 20, logger: false });
  const users = new UserStore(opts.webDataDir);
  const status = new StatusStore(opts.statusDir);
  app.addSchema(INSTANCE_ITEM);

  app.get('/healthz', { schema: { response: { 200: { type: 'object', additionalProperties: false, properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true }));

  // Every /api route needs an account: a Bearer token for now (sessions come with the login route).
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    if (!req.url.startsWith('/api/')) return;
    const auth = req.headers.authorization ?? '';
    const user = auth.startsWith('Bearer ') ? users.verifyToken(auth.slice('Bearer '.length).trim()) : undefined;
    if (!user) return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'log in, or send a token: Authorization: Bearer <token> (left4me token create NAME)' });
    req.user = user;
  });

  app.get(
    '/api/v1/instances',
    { schema: { response: { 200: { type: 'object', additionalProperties: false, properties: { items: { type: 'array', items: { $ref: 'left4me-web/instance-item#' } } } } } } },
    async (req) => {
      const state = await loadState(opts.stateDir, opts.load ?? {});
      const items = [...state.instances.values()].filter((d) => visibleTo(req.user!, d)).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
      return { items: await Promise.all(items.map(async (d) => instanceItem(d, await status.read('Instance', d.metadata.name)))) };
    },
  );
  return app;
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
