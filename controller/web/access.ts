/**
 * Who may see and touch what. Admins everything; a user sees `system`
 * documents and its own, and never learns that another user's exists (404,
 * not 403). Every route that takes a document name goes through here.
 */
import type { FastifyRequest } from 'fastify';
import type { Document, Kind } from '../documents/kinds.js';
import { documentsOf } from '../documents/loader.js';
import type { WebUser } from './users.js';
import { ApiError, forbidden, notFound } from './errors.js';
import type { WebContext } from './context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated account; set by the auth plugin on every /api route. */
    user?: WebUser;
  }
}

/** What a user may see: admins everything, users `system` documents and their own. */
export function visibleTo(user: WebUser, doc: { metadata: { owner: string } }): boolean {
  return user.role === 'admin' || doc.metadata.owner === 'system' || doc.metadata.owner === user.name;
}

/** Who may act on a document (edit it, and for instances: RCON, logs, players, actions): admins, and its owner. */
export function ownedBy(user: WebUser, doc: { metadata: { owner: string } }): boolean {
  return user.role === 'admin' || doc.metadata.owner === user.name;
}

/** The authenticated account of a request; a route under /api never runs without one. */
export function userOf(req: FastifyRequest): WebUser {
  if (!req.user) throw new ApiError(401, 'log in first');
  return req.user;
}

export function requireAdmin(req: FastifyRequest): WebUser {
  const user = userOf(req);
  if (user.role !== 'admin') throw forbidden('only an admin may do this');
  return user;
}

/** A valid document the caller may see, else 404 (the same answer whether it is missing or someone else's). */
export async function visibleDocument<K extends Kind>(ctx: WebContext, req: FastifyRequest, kind: K, name: string): Promise<Document<K>> {
  const doc = documentsOf(await ctx.state.get(), kind).get(name);
  if (!doc || !visibleTo(userOf(req), doc)) throw notFound(`${kind.toLowerCase()} "${name}"`);
  return doc;
}

/**
 * An instance the caller owns (or any, for an admin), for RCON, logs,
 * players, files and actions: 404 when the caller may not see it, 403 when it
 * may see it (a `system` instance) but not act on it.
 */
export async function ownedInstance(ctx: WebContext, req: FastifyRequest, name: string): Promise<Document<'Instance'>> {
  const doc = await visibleDocument(ctx, req, 'Instance', name);
  if (!ownedBy(userOf(req), doc)) throw forbidden(`instance "${name}" belongs to ${doc.metadata.owner}; only its owner or an admin may do this`);
  return doc;
}
