import type { WebPlugin } from '../app.js';
import { logsRoutes } from '../routes/logs.js';
import { DEFAULT_SSE_LIMITS, SseHub } from '../sse.js';

/** Logs: game servers' logs from their journal namespace, build logs from the controller's logs directory. */
export const logsPlugin: WebPlugin = (app, ctx) => {
  const live = ctx.opts.live ?? {};
  const followers = live.logFollowers ?? 32;
  // Each follower is a journalctl process or an open file: bounded overall, and one account may hold a quarter.
  const hub = new SseHub({ heartbeatMs: live.heartbeatMs ?? DEFAULT_SSE_LIMITS.heartbeatMs, maxBuffered: live.maxBuffered ?? DEFAULT_SSE_LIMITS.maxBuffered }, Math.max(1, Math.ceil(followers / 4)), 'log', followers);
  app.addHook('preClose', async () => hub.closeAll());
  logsRoutes(app, { ctx, hub, journalctl: live.journalctl ?? ['journalctl'], namespace: live.journalNamespace ?? 'left4me', pollMs: live.buildLogPollMs ?? 500 });
};
