import type { WebPlugin } from '../app.js';
import { sessionRoutes } from '../routes/session.js';
import { tokensRoutes } from '../routes/tokens.js';
import { usersRoutes } from '../routes/users.js';

/** Accounts and credentials: login sessions, accounts (admins), Bearer tokens. */
export const usersPlugin: WebPlugin = (app, ctx) => {
  sessionRoutes(app, ctx);
  usersRoutes(app, ctx);
  tokensRoutes(app, ctx);
};
