/**
 * `GET /api/v1/sources`: the git sources of the host as the controller last
 * wrote their status (sources/active.ts reads it; the web runs no git). Any
 * logged-in user may read it: the URL holds no credentials (the sync strips
 * userinfo) and the rest says which commit serves and why a newer one does not.
 */
import type { FastifyInstance } from 'fastify';
import { readSourceStatuses } from '../../sources/active.js';
import type { WebContext } from '../context.js';

export function sourcesRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get('/api/v1/sources', { schema: { response: { 200: { $ref: 'left4me-web/sources#' } } } }, async () => ({ items: await readSourceStatuses(ctx.layout) }));
}
