import type { WebPlugin } from '../app.js';
import { instancesRoutes } from '../routes/instances.js';

/** Documents: list and read (and, later, write) the four kinds. */
export const documentsPlugin: WebPlugin = (app, ctx) => {
  instancesRoutes(app, ctx);
};
