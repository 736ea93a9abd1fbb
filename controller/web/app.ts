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
import { gamePlugin } from './plugins/game.js';
import { filesPlugin } from './plugins/files.js';
import { eventsPlugin } from './plugins/events.js';
import { logsPlugin } from './plugins/logs.js';
import { uiPlugin } from './plugins/ui.js';
import { healthPlugin } from './plugins/health.js';
import { securityPlugin } from './plugins/security.js';
import { usersPlugin } from './plugins/users.js';
import { historyPlugin } from './plugins/history.js';
import { hooksPlugin } from './plugins/hooks.js';
import { installRequestMetrics, metricsPlugin } from './plugins/metrics.js';
import { WEB_SCHEMAS } from './schemas.js';

export type { WebOptions } from './context.js';
export { visibleTo } from './access.js';

/** A capability: routes (and their hooks) registered on an encapsulated child of the app. */
export type WebPlugin = (app: FastifyInstance, ctx: WebContext) => Promise<void> | void;

/** The capabilities, in order. Each lives in plugins/<name>.ts. */
const PLUGINS: WebPlugin[] = [
  healthPlugin,
  documentsPlugin,
  usersPlugin,
  historyPlugin,
  metricsPlugin,
  gamePlugin,
  filesPlugin,
  eventsPlugin,
  logsPlugin,
  hooksPlugin,
  uiPlugin,
];

/** Builds the app (not listening): `app.listen()` or `app.inject()` is the caller's; `app.close()` stops what it follows. */
export async function buildWebApp(opts: WebOptions): Promise<FastifyInstance> {
  const bodyLimit = opts.bodyLimit ?? 1 << 20;
  // The serializer's own Ajv is strict about types; schemas/ leaves `type` out beside `required` under not/anyOf (valid JSON Schema).
  const app = Fastify({ bodyLimit, logger: false, trustProxy: false, serializerOpts: { ajv: { strictTypes: false } } });
  const ctx = webContext(opts);
  app.decorate('l4m', ctx);
  for (const schema of WEB_SCHEMAS) app.addSchema(schema);
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.statusCode).send({ error: err.message, ...err.extra });
    const code = err.statusCode ?? 500;
    if (code === 413) return reply.code(413).send({ error: `the request body is larger than this service accepts (${bodyLimit} bytes)` });
    if (code >= 500) {
      req.log.error({ err }, 'request failed');
      return reply.code(500).send({ error: 'internal error; the service log has the details' });
    }
    return reply.code(code).send({ error: err.message });
  });
  await ctx.state.follow();
  app.addHook('onClose', async () => ctx.state.close());
  app.addHook('onClose', async () => ctx.sessions.flush());
  // Headers and authentication are installed on the root so that they cover every plugin's routes.
  await securityPlugin(app, ctx);
  // Request metrics are counted on the root too, so that every route's answers are seen.
  installRequestMetrics(app, ctx);
  // Authentication is installed on the root so that it guards every plugin's routes.
  await authPlugin(app, ctx);
  for (const plugin of PLUGINS) await app.register(async (child) => plugin(child, ctx));
  return app;
}
