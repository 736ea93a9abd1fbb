/**
 * `/api/v1/tokens`: Bearer tokens for scripts. Everyone lists, creates and
 * revokes its own; an admin lists and revokes everyone's and may create one
 * for another account. A new token is in the creation answer only — the
 * store keeps its SHA-256 — and no list ever shows a secret.
 */
import type { FastifyInstance } from 'fastify';
import { userOf } from '../access.js';
import type { WebContext } from '../context.js';
import { ApiError, forbidden, notFound } from '../errors.js';
import { userErrors } from './users.js';

const ERRORS = { 400: { $ref: 'left4me-web/error#' }, 403: { $ref: 'left4me-web/error#' }, 404: { $ref: 'left4me-web/error#' } };
const NEW_TOKEN = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'user', 'created', 'token'],
  properties: { id: { type: 'string' }, user: { type: 'string' }, created: { type: 'string' }, token: { type: 'string', description: 'shown this once: Authorization: Bearer <token>' } },
} as const;

export function tokensRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get('/api/v1/tokens', { schema: { response: { 200: { type: 'object', additionalProperties: false, properties: { items: { type: 'array', items: { $ref: 'left4me-web/token-info#' } } } }, ...ERRORS } } }, async (req) => {
    const me = userOf(req);
    return { items: ctx.users.tokens(me.role === 'admin' ? undefined : me.name) };
  });

  app.post<{ Body: { user?: string } | undefined }>(
    '/api/v1/tokens',
    {
      schema: {
        body: { type: ['object', 'null'], additionalProperties: false, properties: { user: { type: 'string', maxLength: 64 } } },
        response: { 201: NEW_TOKEN, ...ERRORS },
      },
    },
    async (req, reply) => {
      const me = userOf(req);
      const owner = req.body?.user ?? me.name;
      if (owner !== me.name && me.role !== 'admin') throw forbidden('only an admin may create a token for another account');
      const token = await userErrors(() => ctx.users.createToken(owner));
      const id = token.split('_')[1]!;
      const info = ctx.users.tokens(owner).find((t) => t.id === id);
      if (!info) throw new ApiError(500, 'the new token was not stored');
      return reply.code(201).send({ ...info, token });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    { schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{12}$' } } }, response: { 204: { type: 'null' }, ...ERRORS } } },
    async (req, reply) => {
      const me = userOf(req);
      const token = ctx.users.tokens().find((t) => t.id === req.params.id);
      // Someone else's token is as absent as a missing one: its id says nothing to a user.
      if (!token || (token.user !== me.name && me.role !== 'admin')) throw notFound(`token ${req.params.id}`);
      await userErrors(() => ctx.users.revokeToken(req.params.id));
      return reply.code(204).send();
    },
  );
}
