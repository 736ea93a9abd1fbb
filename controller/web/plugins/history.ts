import type { WebPlugin } from '../app.js';
import { HistoryStore } from '../../status/history.js';
import { historyRoutes } from '../routes/history.js';

/** History: players, CPU and memory of an instance over time (the controller samples; this reads). */
export const historyPlugin: WebPlugin = (app, ctx) => {
  historyRoutes(app, ctx, new HistoryStore(ctx.layout.historyDir));
};
