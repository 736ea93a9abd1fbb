/**
 * `POST /api/v1/validate`: a dry run of a body of one or more documents
 * against the tree, as the caller would write it (a user's documents get its
 * owner and its limits). Answers whether it would be applied, what each
 * document would become (created, configured, unchanged), the problems at the
 * body's lines with JSON pointers, and what the controller would then do to
 * each instance it touches (effects.ts). Writes nothing.
 */
import type { FastifyInstance } from 'fastify';
import type { DocumentStatus } from '../../status/store.js';
import { userOf } from '../access.js';
import { authorBody } from '../authoring.js';
import type { WebContext } from '../context.js';
import type { DocumentWrites } from '../document-writes.js';
import { instanceEffects } from '../effects.js';
import { visibleTo } from '../access.js';
import { bodyText } from './documents.js';

export function validateRoutes(app: FastifyInstance, ctx: WebContext, writes: DocumentWrites): void {
  app.post(
    '/api/v1/validate',
    { schema: { response: { 200: { $ref: 'left4me-web/documents/validate#' }, '4xx': { $ref: 'left4me-web/documents/write-error#' } } } },
    async (req) => {
      const user = userOf(req);
      const state = await ctx.state.get();
      const body = await authorBody(bodyText(req), user, state);
      const result = await writes.apply(user, body, true);
      const problems = writes.problems(user, state, result.refused?.problems ?? [], body);
      if (result.refused || !result.states) return { ok: false, message: writes.headline(user, result.refused?.message ?? 'nothing would be applied', problems), outcomes: [], problems, effects: [] };
      const { before, after } = result.states;
      const status = new Map<string, DocumentStatus | undefined>();
      for (const name of new Set([...before.instances.keys(), ...after.instances.keys()])) status.set(name, await ctx.status.read('Instance', name));
      // Only instances the caller may see: a user's change never touches another user's servers (the reference rule).
      const effects = instanceEffects(before, after, status).filter((e) => {
        const doc = after.instances.get(e.instance) ?? before.instances.get(e.instance);
        return !doc || visibleTo(user, doc);
      });
      return { ok: true, outcomes: result.outcomes, problems, effects };
    },
  );
}
