/**
 * Who is asking: every /api route needs an account, from a Bearer token
 * (`left4me token create`, scripts) or from a session cookie (the
 * dashboard, after `POST /api/v1/session`). Installed on the app's root (not
 * encapsulated) so that it guards every plugin.
 *
 * A cookie is an ambient credential — the browser sends it whoever made the
 * page — so a cookie-authenticated request that changes anything must also
 * carry the session's CSRF token (`X-CSRF-Token`) and, when the browser says
 * where it comes from (`Origin`, `Sec-Fetch-Site`), come from this site. A
 * Bearer token is never sent by a browser on its own and needs neither.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import { sameSecret, type Session } from '../sessions.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The cookie session the request came with; unset for Bearer-token requests. */
    session?: Session;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** The login form: the one /api route open to anyone (it is rate-limited instead). */
export const LOGIN_ROUTE = '/api/v1/session';
/**
 * Forges' webhooks (routes/hooks.ts): no account, session or CSRF token (a
 * forge cannot log in, and a cross-site page cannot sign); the route checks a
 * signature over the body instead. Exempt by matched route and method only.
 */
export const GIT_HOOK_ROUTE = '/api/v1/hooks/git/:name';

/** The session cookie's name: `__Host-` over TLS, which browsers accept only from a secure origin, for Path=/ and without Domain. */
export function sessionCookieName(ctx: WebContext): string {
  return ctx.opts.secureCookies ? '__Host-l4m_session' : 'l4m_session';
}

/** The `Set-Cookie` value for a new session id. No Max-Age: the browser forgets it when closed; the server ends it anyway. */
export function setSessionCookie(ctx: WebContext, reply: FastifyReply, id: string): void {
  reply.header('set-cookie', `${sessionCookieName(ctx)}=${id}; Path=/; HttpOnly; SameSite=Strict${ctx.opts.secureCookies ? '; Secure' : ''}`);
}

export function clearSessionCookie(ctx: WebContext, reply: FastifyReply): void {
  reply.header('set-cookie', `${sessionCookieName(ctx)}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${ctx.opts.secureCookies ? '; Secure' : ''}`);
}

/** The session id the request's Cookie header carries, if any. */
export function sessionIdOf(ctx: WebContext, req: FastifyRequest): string | undefined {
  const name = sessionCookieName(ctx);
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Why a browser request comes from another site, or undefined when it does
 * not (or does not say). `Sec-Fetch-Site` is the browser's own verdict;
 * `Origin` is compared with the Host the request was sent to.
 */
export function crossSiteReason(req: FastifyRequest): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site is "${site}"`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined; // "null" (a sandboxed or file: page) and junk: not this site.
  }
  return host !== undefined && host === req.headers.host ? undefined : `Origin ${JSON.stringify(origin.slice(0, 200))} is not this site`;
}

function unauthorized(reply: FastifyReply): FastifyReply {
  return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'log in (POST /api/v1/session), or send a token: Authorization: Bearer <token> (left4me token create NAME)' });
}

export async function authPlugin(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    // The raw path and the matched route both count: a path the router decodes into /api/ is guarded too.
    const path = req.url.split('?')[0]!;
    if (!path.startsWith('/api/') && !req.routeOptions.url?.startsWith('/api/')) return;
    if (req.method === 'POST' && req.routeOptions.url === GIT_HOOK_ROUTE) return;
    const unsafe = !SAFE_METHODS.has(req.method);
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const user = auth.startsWith('Bearer ') ? ctx.users.verifyToken(auth.slice('Bearer '.length).trim()) : undefined;
      if (!user) return unauthorized(reply);
      req.user = user;
      return;
    }
    if (unsafe) {
      // Before the login too: a foreign page must not log a browser into the attacker's account either.
      const why = crossSiteReason(req);
      if (why) throw new ApiError(403, `cross-site request refused: ${why}`);
    }
    if (req.method === 'POST' && req.routeOptions.url === LOGIN_ROUTE) return;
    const id = sessionIdOf(ctx, req);
    const session = id === undefined ? undefined : ctx.sessions.resolve(id);
    if (!session) return unauthorized(reply);
    if (unsafe) {
      const sent = req.headers['x-csrf-token'];
      if (typeof sent !== 'string' || sent === '') throw new ApiError(403, 'missing X-CSRF-Token header: send the csrfToken of GET /api/v1/session with every change');
      if (!sameSecret(sent, session.csrfToken)) throw new ApiError(403, 'wrong X-CSRF-Token: send the csrfToken of GET /api/v1/session (it changes at every login)');
    }
    req.user = session.user;
    req.session = session;
  });
}
