import pino from 'pino';
import type { WebPlugin } from '../app.js';
import { FailureLimiter } from '../rate-limit.js';
import { hookRoutes } from '../routes/hooks.js';

/**
 * Webhooks: forges asking the controller to fetch a git source now. Owns the
 * per-source rate (60 calls a minute per source name, good or bad alike, so
 * that a 429 tells nothing about which names exist; a flood against one name
 * only slows that source's webhooks to its poll interval) and the log (the
 * audit log's, JSON lines in the service's journal).
 */
export const hooksPlugin: WebPlugin = (app, ctx) => {
  hookRoutes(app, {
    ctx,
    limiter: new FailureLimiter({ max: 60, windowMs: 60_000, maxKeys: 1000 }),
    log: ctx.opts.auditLog ?? pino({ base: { service: 'left4me-web' } }),
  });
};
