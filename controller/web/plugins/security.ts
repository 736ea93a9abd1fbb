/**
 * Security headers on every answer, API or page, success or error. Installed
 * on the app's root (not encapsulated) so that no plugin's answer goes out
 * without them. The policy fits the dashboard: its scripts and styles are
 * files served from this origin (no inline script, no eval), it is never
 * framed, and it talks only to this origin.
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export async function securityPlugin(app: FastifyInstance, ctx: WebContext): Promise<void> {
  app.addHook('onSend', async (req, reply, payload) => {
    for (const [name, value] of Object.entries(HEADERS)) reply.header(name, value);
    // API answers carry accounts' data: no cache (browser or proxy) keeps a copy.
    if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    // HSTS only when the service is reached over TLS: over plain HTTP it would be ignored, or lock a misconfigured site out.
    if (ctx.opts.secureCookies) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
}
