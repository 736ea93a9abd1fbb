/**
 * `/api/v1/session`: log in (POST), who am I (GET), log out (DELETE), and
 * change one's own password (PUT /api/v1/session/password). A login answers
 * the account and the CSRF token; the session id travels only in the
 * HttpOnly cookie and never in a body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { userOf } from '../access.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import { clearSessionCookie, LOGIN_ROUTE, sessionIdOf, setSessionCookie } from '../plugins/auth.js';
import { addressKey } from '../rate-limit.js';
import type { WebUser } from '../users.js';
import { userErrors } from './users.js';

const ERRORS = { 400: { $ref: 'left4me-web/error#' }, 401: { $ref: 'left4me-web/error#' }, 403: { $ref: 'left4me-web/error#' }, 429: { $ref: 'left4me-web/error#' } };
const SESSION_ANSWER = { 200: { $ref: 'left4me-web/session#' }, ...ERRORS };

/**
 * 429 when the address or the name has used up its failures; the wait is the
 * longer of the two. Checked before the password, so a limited guess costs
 * the service nothing and tells the guesser nothing.
 */
function refuseWhenLimited(ctx: WebContext, req: FastifyRequest, reply: FastifyReply, name: string): boolean {
  const wait = Math.max(ctx.loginLimits.byAddress.retryAfter(addressKey(req.ip)), ctx.loginLimits.byName.retryAfter(name));
  if (wait === 0) return false;
  void reply.code(429).header('retry-after', String(wait)).send({ error: `too many failed logins; try again in ${wait} seconds` });
  return true;
}

/**
 * Checks a password as a login: counted as a failure before scrypt runs, so
 * that guesses sent all at once are limited too, and taken back when right.
 */
async function checkPassword(ctx: WebContext, req: FastifyRequest, name: string, password: string): Promise<WebUser | undefined> {
  const address = addressKey(req.ip);
  ctx.loginLimits.byAddress.fail(address);
  ctx.loginLimits.byName.fail(name);
  // verify() costs one scrypt whether or not the name exists; the answer never says which part was wrong.
  const user = await ctx.users.verify(name, password);
  if (user) {
    ctx.loginLimits.byAddress.forgive(address);
    ctx.loginLimits.byName.forgive(name);
  }
  return user;
}

/** Starts a session (ending the one the browser came with) and sets its cookie. */
function startSession(ctx: WebContext, req: FastifyRequest, reply: FastifyReply, user: WebUser) {
  const { id, session } = ctx.sessions.create(user, sessionIdOf(ctx, req));
  setSessionCookie(ctx, reply, id);
  return { user, csrfToken: session.csrfToken };
}

export function sessionRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.post<{ Body: { name: string; password: string } }>(
    LOGIN_ROUTE,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'password'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, password: { $ref: 'left4me-web/password#' } },
        },
        response: SESSION_ANSWER,
      },
    },
    async (req, reply) => {
      const { name, password } = req.body;
      if (refuseWhenLimited(ctx, req, reply, name)) return reply;
      const user = await checkPassword(ctx, req, name, password);
      if (!user) throw new ApiError(401, 'wrong name or password');
      return startSession(ctx, req, reply, user);
    },
  );

  app.get('/api/v1/session', { schema: { response: SESSION_ANSWER } }, async (req) => {
    // A Bearer-token caller has no session and needs no CSRF token.
    return { user: userOf(req), ...(req.session ? { csrfToken: req.session.csrfToken } : {}) };
  });

  app.delete('/api/v1/session', { schema: { response: { 204: { type: 'null' }, ...ERRORS } } }, async (req, reply) => {
    if (!req.session) throw new ApiError(400, 'this request has no session to end (a Bearer token stays valid until revoked: DELETE /api/v1/tokens/ID)');
    ctx.sessions.end(req.session.key);
    clearSessionCookie(ctx, reply);
    return reply.code(204).send();
  });

  app.put<{ Body: { currentPassword: string; newPassword: string } }>(
    '/api/v1/session/password',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['currentPassword', 'newPassword'],
          properties: { currentPassword: { $ref: 'left4me-web/password#' }, newPassword: { $ref: 'left4me-web/password#' } },
        },
        response: SESSION_ANSWER,
      },
    },
    async (req, reply) => {
      const me = userOf(req);
      // The current password is a login of its own: a stolen session must not become a password oracle.
      if (refuseWhenLimited(ctx, req, reply, me.name)) return reply;
      if (!(await checkPassword(ctx, req, me.name, req.body.currentPassword))) throw new ApiError(403, 'the current password is wrong');
      await userErrors(() => ctx.users.setPassword(me.name, req.body.newPassword));
      // Every session of the account ends (another browser may be the reason for the change); this one gets a new id.
      ctx.sessions.endAllOf(me.name);
      return req.session ? startSession(ctx, req, reply, me) : { user: me };
    },
  );
}
