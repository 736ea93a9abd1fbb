import type { WebPlugin } from '../app.js';
import { filesRoutes } from '../routes/files.js';

/** Files: read-only browsing of overlay builds and of instances' writable layers (list a directory, download a file). */
export const filesPlugin: WebPlugin = (app, ctx) => {
  filesRoutes(app, ctx);
};
