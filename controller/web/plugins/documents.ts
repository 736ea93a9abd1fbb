import type { WebPlugin } from '../app.js';
import { DOCUMENT_SCHEMAS } from '../document-schemas.js';
import { DocumentWrites } from '../document-writes.js';
import { actionsRoutes } from '../routes/actions.js';
import { documentsRoutes } from '../routes/documents.js';
import { validateRoutes } from '../routes/validate.js';

/** YAML bodies, and JSON ones: both reach the routes as text, since problems must point at the lines the client sent. */
const BODY_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'application/json'];

/**
 * Documents: list, read, write and dry-run the four kinds, and the instance
 * actions (document edits). Every write goes through one DocumentWrites.
 */
export const documentsPlugin: WebPlugin = (app, ctx) => {
  for (const schema of DOCUMENT_SCHEMAS) app.addSchema(schema);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(BODY_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const writes = new DocumentWrites(ctx);
  documentsRoutes(app, ctx, writes);
  actionsRoutes(app, ctx, writes);
  validateRoutes(app, ctx, writes);
};
