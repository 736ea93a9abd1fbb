/**
 * `/api/v1/users`: accounts, for admins: list, create, remove, set a
 * password. Removing an account or setting its password ends its sessions
 * (its tokens go with a removed account; a new password leaves tokens be:
 * they are separate credentials, revoked one by one).
 */
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../access.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import { UserError, type Role } from '../users.js';

export const USER_NAME_PARAM = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' } } } as const;
const ERRORS = { 400: { $ref: 'left4me-web/error#' }, 403: { $ref: 'left4me-web/error#' }, 404: { $ref: 'left4me-web/error#' }, 409: { $ref: 'left4me-web/error#' } };

/** Runs a UserStore change, answering its refusals: no such account 404, a taken name 409, anything else 400. */
export async function userErrors<T>(change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const status = /^no (user|token) /.test(err.message) ? 404 : /exists already/.test(err.message) ? 409 : 400;
    throw new ApiError(status, err.message);
  }
}

export function usersRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get('/api/v1/users', { schema: { response: { 200: { type: 'object', additionalProperties: false, properties: { items: { type: 'array', items: { $ref: 'left4me-web/user#' } } } }, ...ERRORS } } }, async (req) => {
    requireAdmin(req);
    return { items: ctx.users.list() };
  });

  app.post<{ Body: { name: string; password: string; role?: Role } }>(
    '/api/v1/users',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'password'],
          properties: { name: { type: 'string', maxLength: 64 }, password: { $ref: 'left4me-web/password#' }, role: { type: 'string', enum: ['admin', 'user'] } },
        },
        response: { 201: { $ref: 'left4me-web/user#' }, ...ERRORS },
      },
    },
    async (req, reply) => {
      requireAdmin(req);
      const user = await userErrors(() => ctx.users.add(req.body.name, req.body.password, req.body.role ?? 'user'));
      return reply.code(201).send(user);
    },
  );

  app.delete<{ Params: { name: string } }>('/api/v1/users/:name', { schema: { params: USER_NAME_PARAM, response: { 204: { type: 'null' }, ...ERRORS } } }, async (req, reply) => {
    const me = requireAdmin(req);
    // An admin removing itself could leave no admin at all; another admin (or root at a shell) may.
    if (req.params.name === me.name) throw new ApiError(409, 'you cannot remove your own account; another admin can (or root: left4me user remove NAME)');
    await userErrors(() => ctx.users.remove(req.params.name));
    ctx.sessions.endAllOf(req.params.name);
    return reply.code(204).send();
  });

  app.put<{ Params: { name: string }; Body: { password: string } }>(
    '/api/v1/users/:name/password',
    {
      schema: {
        params: USER_NAME_PARAM,
        body: { type: 'object', additionalProperties: false, required: ['password'], properties: { password: { $ref: 'left4me-web/password#' } } },
        response: { 204: { type: 'null' }, ...ERRORS },
      },
    },
    async (req, reply) => {
      requireAdmin(req);
      await userErrors(() => ctx.users.setPassword(req.params.name, req.body.password));
      ctx.sessions.endAllOf(req.params.name);
      return reply.code(204).send();
    },
  );
}
