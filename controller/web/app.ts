/**
 * The web room: `left4me web`, the HTTP API the dashboard, scripts and other
 * tools use. Fastify, one plugin per capability (plugins/), one route file
 * per resource (routes/), JSON Schemas for params, bodies and responses —
 * responses are what keep secrets from leaking: a field no schema lists never
 * leaves. The service reaches the host only through the state directory (it
 * writes documents), the controller's status and logs (it reads them) and the
 * game ports on loopback.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { webContext, type WebContext, type WebOptions } from './context.js';
import { ApiError } from './errors.js';
import { authPlugin } from './plugins/auth.js';
import { documentsPlugin } from './plugins/documents.js';
import { eventsPlugin } from './plugins/events.js';
import { logsPlugin } from './plugins/logs.js';
import { healthPlugin } from './plugins/health.js';
import { WEB_SCHEMAS } from './schemas.js';

export type { WebOptions } from './context.js';
export { visibleTo } from './access.js';

/** A capability: routes (and their hooks) registered on an encapsulated child of the app. */
export type WebPlugin = (app: FastifyInstance, ctx: WebContext) => Promise<void> | void;

/** The capabilities, in order. Each lives in plugins/<name>.ts. */
const PLUGINS: WebPlugin[] = [
  healthPlugin,
  documentsPlugin,
  eventsPlugin,
  logsPlugin,
];

/** Builds the app (not listening): `app.listen()` or `app.inject()` is the caller's; `app.close()` stops what it follows. */
export async function buildWebApp(opts: WebOptions): Promise<FastifyInstance> {
  const app = Fastify({ bodyLimit: opts.bodyLimit ?? 1 << 20, logger: false, trustProxy: false });
  const ctx = webContext(opts);
  app.decorate('l4m', ctx);
  for (const schema of WEB_SCHEMAS) app.addSchema(schema);
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.statusCode).send({ error: err.message, ...err.extra });
    const code = err.statusCode ?? 500;
    if (code >= 500) {
      req.log.error({ err }, 'request failed');
      return reply.code(500).send({ error: 'internal error; the service log has the details' });
    }
    return reply.code(code).send({ error: err.message });
  });
  await ctx.state.follow();
  app.addHook('onClose', async () => ctx.state.close());
  // Authentication is installed on the root so that it guards every plugin's routes.
  await authPlugin(app, ctx);
  for (const plugin of PLUGINS) await app.register(async (child) => plugin(child, ctx));
  return app;
}
