import type { FastifyInstance } from 'fastify';
import { userOf, visibleTo } from '../access.js';
import type { WebUser } from '../users.js';
import type { SseHub } from '../sse.js';
import type { FeedEvent, StatusFeed } from '../status-feed.js';

/** Whether `user` may see events of a document owned by `owner` (unknown owner: admins only). */
function sees(user: WebUser, owner: string | undefined): boolean {
  if (owner === undefined) return user.role === 'admin';
  return visibleTo(user, { metadata: { owner } });
}

/**
 * `GET /api/v1/events`: an SSE stream of status changes the caller may see.
 * A fresh stream, or one resuming from an id this run's ring no longer holds,
 * starts with a `snapshot` event (every visible summary); a stream resuming
 * from a held id gets exactly the events after it. Then `status` and
 * `deleted` events as they happen, each with its id.
 */
export function eventsRoutes(app: FastifyInstance, feed: StatusFeed, hub: SseHub): void {
  app.get(
    '/api/v1/events',
    { schema: { headers: { type: 'object', properties: { 'last-event-id': { type: 'string', maxLength: 64 } } } } },
    async (req, reply) => {
      const user = userOf(req);
      hub.reserve(user.name);
      const lastId = req.headers['last-event-id'];
      const resumed = typeof lastId === 'string' && lastId !== '' ? feed.since(lastId) : undefined;
      const stream = hub.start(req, reply, user.name);
      const send = (e: FeedEvent) => {
        if (!sees(user, e.owner)) return;
        stream.send(e.type, e.type === 'status' ? e.summary : { kind: e.kind, name: e.name }, e.id);
      };
      // Subscribed before the backlog is sent, and both in one synchronous run: nothing falls in between.
      const unsubscribe = feed.subscribe(send);
      stream.onClose(unsubscribe);
      if (resumed) for (const e of resumed) send(e);
      else stream.send('snapshot', { items: feed.snapshot().filter((s) => sees(user, s.owner)).map((s) => s.summary) }, feed.lastId());
    },
  );
}
