import { loadSchemas } from '../../documents/schema.js';
import type { WebPlugin } from '../app.js';
import { DOCUMENT_SCHEMAS } from '../document-schemas.js';
import { DocumentWrites } from '../document-writes.js';
import { actionsRoutes } from '../routes/actions.js';
import { documentsRoutes } from '../routes/documents.js';
import { sourcesRoutes } from '../routes/sources.js';
import { validateRoutes } from '../routes/validate.js';

/** YAML bodies, and JSON ones: both reach the routes as text, since problems must point at the lines the client sent. */
const BODY_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'application/json'];

/**
 * A schema of schemas/ as fastify's serializer takes it: without `$schema`
 * (its validator is draft-07, and the schemas use no 2020-12 keyword it
 * lacks) and with each relative `$ref` (`common.schema.json#/…`) made
 * absolute against the schema's own `$id`, which the serializer does not do.
 */
function forFastify(schema: Record<string, unknown>): Record<string, unknown> {
  const base = schema.$id as string;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== '$schema')
        .map(([k, x]) => [k, k === '$ref' && typeof x === 'string' && !x.startsWith('#') ? new URL(x, base).href : walk(x)]),
    );
  };
  return walk(schema) as Record<string, unknown>;
}

/**
 * Documents: list, read, write and dry-run the four kinds, the instance
 * actions (document edits), and the git sources some of them come from. Every write goes through one DocumentWrites.
 */
export const documentsPlugin: WebPlugin = (app, ctx) => {
  // schemas/ itself: the answers' `document` is each kind's own schema, so a field no schema knows never leaves.
  for (const schema of loadSchemas().schemas.values()) app.addSchema(forFastify(schema));
  for (const schema of DOCUMENT_SCHEMAS) app.addSchema(schema);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(BODY_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const writes = new DocumentWrites(ctx);
  documentsRoutes(app, ctx, writes);
  actionsRoutes(app, ctx, writes);
  validateRoutes(app, ctx, writes);
  sourcesRoutes(app, ctx);
};
