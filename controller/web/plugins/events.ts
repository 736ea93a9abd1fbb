import type { WebPlugin } from '../app.js';
import type { Kind } from '../../documents/kinds.js';
import { documentsOf } from '../../documents/loader.js';
import { eventsRoutes } from '../routes/events.js';
import { DEFAULT_SSE_LIMITS, SseHub } from '../sse.js';
import { StatusFeed } from '../status-feed.js';

/** Live: the status feed (a watcher on the controller's status directory) and the SSE route that streams it. */
export const eventsPlugin: WebPlugin = async (app, ctx) => {
  const live = ctx.opts.live ?? {};
  // The controller writes a status only after it read the document, so a
  // document missing from the kept state is one the web has not reloaded yet:
  // load once more before calling it unknown.
  const ownerOf = async (kind: Kind, name: string) => {
    let doc = documentsOf(await ctx.state.get(), kind).get(name);
    if (!doc) {
      ctx.state.invalidate();
      doc = documentsOf(await ctx.state.get(), kind).get(name);
    }
    return doc?.metadata.owner;
  };
  const feed = new StatusFeed(ctx.status, ownerOf, { ringSize: live.ringSize, rescanMs: live.rescanMs });
  await feed.start();
  const hub = new SseHub({ heartbeatMs: live.heartbeatMs ?? DEFAULT_SSE_LIMITS.heartbeatMs, maxBuffered: live.maxBuffered ?? DEFAULT_SSE_LIMITS.maxBuffered }, live.eventStreamsPerUser ?? 8, 'event', live.eventStreams ?? 1024);
  // Streams end before the server closes: an open stream would keep close() waiting for ever.
  app.addHook('preClose', async () => hub.closeAll());
  app.addHook('onClose', async () => feed.close());
  eventsRoutes(app, feed, hub);
};
