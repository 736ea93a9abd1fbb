/**
 * Metrics: one prom-client registry per app (never the global one, so two
 * apps in a process never share counts). Web requests are counted by a hook
 * on the app's root, labelled by route pattern, never by raw URL, so a
 * crawler cannot grow the label set; everything else is read at scrape time
 * from the files the controller writes (status, history, counters).
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { WebPlugin } from '../app.js';
import type { WebContext } from '../context.js';
import { metricsRoutes } from '../routes/metrics.js';

/** What the root hook and the /metrics route share. */
export interface WebMetrics {
  registry: Registry;
}

const perApp = new WeakMap<WebContext, WebMetrics>();

/** The registry of an app, made on first use. */
export function webMetrics(ctx: WebContext): WebMetrics {
  let m = perApp.get(ctx);
  if (!m) {
    const registry = new Registry();
    // The service's own process: RSS, CPU, event-loop lag, heap.
    collectDefaultMetrics({ register: registry, prefix: 'left4me_web_' });
    perApp.set(ctx, (m = { registry }));
  }
  return m;
}

/**
 * Counts every request (and its duration) by method, route pattern and status
 * code. Installed on the app's root, before the plugins, so that it sees every
 * route's answers, 401s and 404s included.
 */
export function installRequestMetrics(app: FastifyInstance, ctx: WebContext): void {
  const { registry } = webMetrics(ctx);
  const requests = new Counter({ name: 'left4me_web_requests_total', help: 'HTTP requests answered, by method, route pattern and status code', labelNames: ['method', 'route', 'code'], registers: [registry] });
  const duration = new Histogram({
    name: 'left4me_web_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    // A request no route matched has no pattern: all of them share one label.
    const route = req.routeOptions.url ?? 'unmatched';
    const method = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].includes(req.method) ? req.method : 'other';
    requests.inc({ method, route, code: String(reply.statusCode) });
    duration.observe({ method, route }, reply.elapsedTime / 1000);
  });
}

/** `GET /metrics` (Prometheus text). */
export const metricsPlugin: WebPlugin = (app, ctx) => {
  metricsRoutes(app, ctx, webMetrics(ctx).registry);
};
