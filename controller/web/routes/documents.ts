/**
 * `/api/v1/{installations,overlays,blueprints,instances}`: list (with a
 * status summary), get (document, status, ETag), create, replace and delete.
 * Writes are the same as `left4me apply` and `left4me delete`; replace and
 * delete need `If-Match` with the ETag of the version the client read, so an
 * edit made on a stale copy is refused (409, with the current version).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KINDS, type Document, type Kind } from '../../documents/kinds.js';
import { documentsOf, type DesiredState } from '../../documents/loader.js';
import type { DocumentOrigin } from '../../documents/origin.js';
import type { DocumentStatus } from '../../status/store.js';
import { ownedBy, userOf, visibleTo } from '../access.js';
import { assertNotManaged, managedBy, authorBody, type AuthoredBody, documentView, etagOf, ifMatches, pathOf, writtenDocument } from '../authoring.js';
import { specHash } from '../../documents/hash.js';
import { kindKey } from '../../documents/kinds.js';
import type { WebContext } from '../context.js';
import type { DocumentWrites } from '../document-writes.js';
import type { WebUser } from '../users.js';
import { ApiError, forbidden, notFound } from '../errors.js';
import { DOCUMENT_ANSWER } from '../document-schemas.js';
import { loadSchemas } from '../../documents/schema.js';

export const NAME_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
} as const;

const ERRORS = {
  400: { $ref: 'left4me-web/documents/write-error#' },
  403: { $ref: 'left4me-web/documents/write-error#' },
  404: { $ref: 'left4me-web/documents/write-error#' },
  409: { $ref: 'left4me-web/documents/write-error#' },
  415: { $ref: 'left4me-web/documents/write-error#' },
  422: { $ref: 'left4me-web/documents/write-error#' },
  428: { $ref: 'left4me-web/documents/write-error#' },
} as const;

/** A document's answer, its `document` checked against its kind's schema from schemas/ (fields no schema names are left out). */
function answerSchema(kind: Kind): object {
  const id = loadSchemas().schemas.get(`${kind.toLowerCase()}.schema.json`)!.$id as string;
  return { ...DOCUMENT_ANSWER, $id: undefined, properties: { ...DOCUMENT_ANSWER.properties, document: { $ref: `${id}#` } } };
}

/** The body as text: YAML and JSON bodies reach the documents routes unparsed (see plugins/documents.ts). */
export function bodyText(req: FastifyRequest): string {
  if (typeof req.body !== 'string' || req.body.trim() === '') {
    throw new ApiError(415, 'send the documents as the body: Content-Type application/yaml or application/json');
  }
  return req.body;
}

/** The If-Match header a replace, delete or action must carry. */
export function requireIfMatch(req: FastifyRequest): string {
  const tag = req.headers['if-match'];
  if (typeof tag !== 'string' || tag.trim() === '') {
    throw new ApiError(428, 'If-Match is required: send the ETag of the version you read (GET it first), so that an edit of a stale copy is refused');
  }
  return tag;
}

/**
 * The version of a document a client reads and edits: a valid document, or an
 * invalid one as written (so that its owner can still see what is wrong and
 * fix or delete it). The ETag of an invalid one hashes what is written.
 */
export interface Version {
  kind: Kind;
  name: string;
  owner: string;
  etag: string;
  doc?: Document;
  written?: Record<string, unknown>;
}

export const versionOf = (doc: Document): Version => ({ kind: doc.kind, name: doc.metadata.name, owner: doc.metadata.owner, etag: etagOf(doc), doc });

/** The version the caller may see, else 404 (the same answer whether it is missing or someone else's). */
export async function visibleVersion(ctx: WebContext, req: FastifyRequest, kind: Kind, name: string): Promise<Version> {
  const user = userOf(req);
  const state = await ctx.state.get();
  const doc = documentsOf(state, kind).get(name);
  if (doc && visibleTo(user, doc)) return versionOf(doc);
  const written = doc ? undefined : await writtenDocument(state, kind, name);
  if (written && visibleTo(user, { metadata: { owner: written.owner } })) {
    return { kind, name, owner: written.owner, etag: `"${specHash(written.data)}"`, written: written.data };
  }
  throw notFound(`${kindKey(kind)} "${name}"`);
}

/** 409 with the current version when the client's ETag is not the current one. */
export function checkFresh(v: Version, tag: string): void {
  if (!ifMatches(tag, v.etag)) {
    throw new ApiError(409, `${kindKey(v.kind)} "${v.name}" changed since you read it: here is the current version; apply your change to it`, {
      ...(v.doc ? { current: documentView(v.doc) } : { written: v.written }),
      etag: v.etag,
    });
  }
}

/** A version the caller may see and change (404 not visible, 403 a system document for a user, or managed elsewhere). */
export async function editableVersion(ctx: WebContext, req: FastifyRequest, kind: Kind, name: string): Promise<Version> {
  const v = await visibleVersion(ctx, req, kind, name);
  if (!ownedBy(userOf(req), { metadata: { owner: v.owner } })) throw forbidden(`${kindKey(kind)} "${name}" is a system document: only an admin may change it`);
  assertNotManaged(await ctx.state.get(), kind, name);
  return v;
}

export function documentsRoutes(app: FastifyInstance, ctx: WebContext, writes: DocumentWrites): void {
  for (const kind of KINDS) {
    const base = `/api/v1/${pathOf(kind)}`;
    const ANSWER = answerSchema(kind);
    const items = kind === 'Instance' ? { $ref: 'left4me-web/instance-item#' } : { $ref: 'left4me-web/documents/item#' };

    app.get(base, { schema: { response: { 200: { type: 'object', additionalProperties: false, properties: { items: { type: 'array', items } } } } } }, async (req) => {
      const user = userOf(req);
      const state = await ctx.state.get();
      const valid = [...documentsOf(state, kind).values()].filter((d) => visibleTo(user, d));
      // Synchronous reads: a list asks for every status at once, and a promise per status cost more than the read.
      const out: Array<{ name: string }> = valid.map((d) => ({ ...listItem(d, ctx.status.readNow(kind, d.metadata.name)), ...originField(state, kind, d.metadata.name) }));
      // Invalid documents are listed too (Ready False, Invalid): their owners must find them to fix them.
      for (const inv of state.invalid.values()) {
        if (inv.kind !== kind || documentsOf(state, kind).has(inv.name)) continue;
        const written = await writtenDocument(state, kind, inv.name);
        if (!written || !visibleTo(user, { metadata: { owner: written.owner } })) continue;
        out.push({ ...invalidItem(inv.name, written.owner, written.data), ...originField(state, kind, inv.name) });
      }
      return { items: out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
    });

    app.get<{ Params: { name: string } }>(`${base}/:name`, { schema: { params: NAME_PARAMS, response: { 200: ANSWER, ...ERRORS } } }, async (req, reply) => {
      const v = await visibleVersion(ctx, req, kind, req.params.name);
      const st = await ctx.status.read(kind, v.name);
      const state = await ctx.state.get();
      if (v.doc) return answer(reply, v.doc, st, undefined, state);
      const problems = writes.problems(userOf(req), state, state.problems.filter((p) => p.kind === kind && p.name === v.name), undefined, new Set([`${kindKey(kind)}/${v.name}`]));
      reply.header('etag', v.etag);
      return { valid: false, written: v.written, etag: v.etag, problems, status: statusView(undefined, st), ...originField(state, kind, v.name) };
    });

    app.post(base, { schema: { response: { 201: ANSWER, ...ERRORS } } }, async (req, reply) => {
      const user = userOf(req);
      const text = bodyText(req);
      return writes.serial(async () => {
        const state = await ctx.state.get();
        const body = await authorBody(text, user, state);
        const one = await oneDocument(writes, user, body, kind, undefined, `POST ${base} creates one ${kind}: send exactly one document of kind ${kind}`);
        if (documentsOf(state, kind).has(one.name) || state.invalid.has(`${kind.toLowerCase()}/${one.name}`)) {
          throw new ApiError(409, `${kind.toLowerCase()} "${one.name}" already exists: replace it with PUT ${base}/${one.name}`);
        }
        await writes.apply(user, body);
        const doc = documentsOf(await ctx.state.get(), kind).get(one.name);
        if (!doc) throw new Error(`${kind} ${one.name} was written but does not load`);
        reply.code(201).header('location', `${base}/${one.name}`);
        return answer(reply, doc, undefined, 'created');
      });
    });

    app.put<{ Params: { name: string } }>(`${base}/:name`, { schema: { params: NAME_PARAMS, response: { 200: ANSWER, ...ERRORS } } }, async (req, reply) => {
      const user = userOf(req);
      const text = bodyText(req);
      const tag = requireIfMatch(req);
      return writes.serial(async () => {
        checkFresh(await editableVersion(ctx, req, kind, req.params.name), tag);
        const body = await authorBody(text, user, await ctx.state.get());
        const one = await oneDocument(writes, user, body, kind, req.params.name, `PUT ${base}/${req.params.name} replaces that ${kind}: send exactly one document of kind ${kind} named "${req.params.name}"`);
        const result = await writes.apply(user, body);
        const doc = documentsOf(await ctx.state.get(), kind).get(one.name);
        if (!doc) throw new Error(`${kind} ${one.name} was written but does not load`);
        return answer(reply, doc, await ctx.status.read(kind, one.name), result.outcomes[0]?.outcome);
      });
    });

    app.delete<{ Params: { name: string } }>(`${base}/:name`, { schema: { params: NAME_PARAMS, response: { 204: { type: 'null' }, ...ERRORS } } }, async (req, reply) => {
      const user = userOf(req);
      const tag = requireIfMatch(req);
      await writes.serial(async () => {
        const current = await editableVersion(ctx, req, kind, req.params.name);
        checkFresh(current, tag);
        await writes.delete(user, kind, current.name);
      });
      return reply.code(204).send();
    });
  }
}

/**
 * The one document a create or replace carries. A body whose kind or name
 * cannot be read (broken YAML, a name that is no name) is given to the
 * writer's dry run, so the client hears what is wrong at which line (422).
 */
async function oneDocument(writes: DocumentWrites, user: WebUser, body: AuthoredBody, kind: Kind, name: string | undefined, usage: string): Promise<{ kind: Kind; name: string }> {
  const [one, ...more] = body.docs;
  if (!one) await writes.apply(user, body, true, true);
  if (!one || more.length > 0 || one.kind !== kind || (name !== undefined && one.name !== name)) throw new ApiError(400, usage);
  return one;
}

/** A document with its ETag (also as the header), status, and the git source it comes from (read-only here) if any. */
function answer(reply: FastifyReply, doc: Document, st: DocumentStatus | undefined, outcome?: string, state?: DesiredState) {
  const etag = etagOf(doc);
  reply.header('etag', etag);
  return { ...(outcome ? { outcome } : {}), valid: true, document: documentView(doc), etag, status: statusView(doc, st), ...(state ? originField(state, doc.kind, doc.metadata.name) : {}) };
}

/** `origin` when a git source serves this kind and name: which source, commit and repository file (the answer's read-only mark). */
function originField(state: DesiredState, kind: Kind, name: string): { origin?: DocumentOrigin } {
  const origin = managedBy(state, kind, name);
  return origin ? { origin } : {};
}

/** The status fields a client may see (no uid, PID or error text: those stay with the controller and the operator). */
export function statusView(doc: Document | undefined, st: DocumentStatus | undefined) {
  const ready = st?.conditions.find((c) => c.type === 'Ready');
  return {
    ready: ready?.status ?? 'Unknown',
    ...(ready ? { reason: ready.reason, message: ready.message } : {}),
    ...(st?.observedGeneration !== undefined ? { observedGeneration: st.observedGeneration, upToDate: st.observedGeneration === doc?.generation } : { upToDate: false }),
    conditions: st?.conditions ?? [],
    events: st?.events ?? [],
    ...(st?.port !== undefined ? { port: st.port } : {}),
    ...(st?.clientPort !== undefined ? { clientPort: st.clientPort } : {}),
    ...(st?.players !== undefined ? { players: st.players } : {}),
    ...(st?.maxPlayers !== undefined ? { maxPlayers: st.maxPlayers } : {}),
    ...(st?.map !== undefined ? { map: st.map } : {}),
    ...(st?.unit ? { unit: st.unit } : {}),
    ...(st?.build ? { build: st.build } : {}),
    ...(st?.building ? { building: { build: st.building.build, since: st.building.since, ...(st.building.step ? { step: st.building.step } : {}) } } : {}),
    ...(st?.progress ? { progress: st.progress } : {}),
  };
}

/** A list entry of an invalid document: what can be read of it, never the problems (they may name others' documents; GET it). */
function invalidItem(name: string, owner: string, data: Record<string, unknown>) {
  const spec = (data.spec ?? {}) as Record<string, unknown>;
  return {
    name,
    owner,
    ready: 'False',
    reason: 'Invalid',
    message: 'the document is invalid and is not used; GET it for its problems',
    ...(data.kind === 'Instance' ? { blueprint: typeof spec.blueprint === 'string' ? spec.blueprint : '', state: typeof spec.state === 'string' ? spec.state : 'running' } : {}),
  };
}

function listItem(doc: Document, st: DocumentStatus | undefined) {
  const ready = st?.conditions.find((c) => c.type === 'Ready');
  const summary = {
    name: doc.metadata.name,
    owner: doc.metadata.owner,
    ready: ready?.status ?? 'Unknown',
    ...(ready ? { reason: ready.reason, message: ready.message } : {}),
  };
  if (doc.kind !== 'Instance') return summary;
  const inst = doc as Document<'Instance'>;
  return {
    ...summary,
    blueprint: inst.spec.blueprint,
    state: inst.spec.state,
    ...(st?.port !== undefined ? { port: st.port } : {}),
    ...(st?.players !== undefined ? { players: st.players, maxPlayers: st.maxPlayers } : {}),
    ...(st?.map !== undefined ? { map: st.map } : {}),
    ...(st?.unit ? { unit: st.unit.activeState } : {}),
  };
}
