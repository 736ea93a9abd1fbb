/**
 * Who is asking: every /api route needs an account. Installed on the app's
 * root (not encapsulated) so that it guards every plugin. This slice: Bearer
 * tokens (`left4me token create`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';

export async function authPlugin(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    if (!req.url.startsWith('/api/')) return;
    const auth = req.headers.authorization ?? '';
    const user = auth.startsWith('Bearer ') ? ctx.users.verifyToken(auth.slice('Bearer '.length).trim()) : undefined;
    if (!user) return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'log in, or send a token: Authorization: Bearer <token> (left4me token create NAME)' });
    req.user = user;
  });
}
