/**
 * `POST /api/v1/instances/NAME/{start,stop,restart,reset}`, for the owner or
 * an admin. Each is an edit of the instance's document, written like any
 * other (so review, git and the controller's rules such as updatePolicy still
 * hold): start and stop set `spec.state`, restart sets the annotation
 * `left4me/restartedAt` and reset `left4me/resetAt` to now. The edit is made
 * in the document's own text, so its comments and layout stay. 202: the
 * controller carries it out when it sees the change. `If-Match` is optional.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { isMap, parseAllDocuments } from 'yaml';
import type { Document } from '../../documents/kinds.js';
import { ownedInstance, userOf } from '../access.js';
import { assertNotManaged, etagOf } from '../authoring.js';
import type { WebContext } from '../context.js';
import type { DocumentWrites } from '../document-writes.js';
import { ApiError } from '../errors.js';
import { checkFresh, NAME_PARAMS, versionOf } from './documents.js';

const ACTIONS = {
  start: { path: ['spec', 'state'], value: () => 'running' },
  stop: { path: ['spec', 'state'], value: () => 'stopped' },
  restart: { path: ['metadata', 'annotations', 'left4me/restartedAt'], value: () => new Date().toISOString() },
  reset: { path: ['metadata', 'annotations', 'left4me/resetAt'], value: () => new Date().toISOString() },
} as const;

export function actionsRoutes(app: FastifyInstance, ctx: WebContext, writes: DocumentWrites): void {
  for (const [action, edit] of Object.entries(ACTIONS)) {
    app.post<{ Params: { name: string } }>(
      `/api/v1/instances/:name/${action}`,
      {
        schema: {
          params: NAME_PARAMS,
          response: {
            202: { type: 'object', additionalProperties: false, required: ['action', 'etag'], properties: { action: { type: 'string' }, outcome: { type: 'string' }, etag: { type: 'string' } } },
            '4xx': { $ref: 'left4me-web/documents/write-error#' },
          },
        },
      },
      async (req, reply) => {
        const user = userOf(req);
        return writes.serial(async () => {
          const doc = await ownedInstance(ctx, req, req.params.name);
          assertNotManaged(await ctx.state.get(), 'Instance', doc.metadata.name);
          const tag = req.headers['if-match'];
          if (typeof tag === 'string' && tag.trim() !== '') checkFresh(versionOf(doc), tag);
          const text = await editedText(doc, edit.path, edit.value());
          const result = await writes.apply(user, { input: { name: `${action} ${doc.metadata.name}`, text }, docs: [{ kind: 'Instance', name: doc.metadata.name }], originalLine: (l) => l });
          const after = (await ctx.state.get()).instances.get(doc.metadata.name);
          if (!after) throw new Error(`instance ${doc.metadata.name} was written but does not load`);
          const etag = etagOf(after);
          reply.code(202).header('etag', etag);
          return { action, outcome: result.outcomes[0]?.outcome, etag };
        });
      },
    );
  }
}

/** The document's text as written in its file, with one field set; comments and layout kept. */
async function editedText(doc: Document, path: readonly string[], value: string): Promise<string> {
  const text = await readFile(doc.source.file, 'utf8');
  const ydoc = parseAllDocuments(text, { schema: 'core', strict: true, uniqueKeys: true, merge: false, prettyErrors: false });
  const mine = (Array.isArray(ydoc) ? ydoc : [ydoc]).find((d) => isMap(d.contents) && d.get('kind') === doc.kind && d.getIn(['metadata', 'name']) === doc.metadata.name);
  if (!mine) throw new ApiError(409, `instance "${doc.metadata.name}" changed on disk while this ran; try again`);
  mine.setIn([...path], value);
  return mine.toString({ lineWidth: 0 });
}
