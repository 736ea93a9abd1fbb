import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A static answer: body with optional status, headers, pacing, truncation or a Content-Length that lies. */
export interface BodyRoute {
  body: string | Uint8Array;
  status?: number;
  headers?: Record<string, string>;
  /** Content-Length to announce instead of the body's real length (a lie, for limit tests). */
  contentLength?: number;
  /** Send the body in chunks of this size with `delayMs` between them (slow servers, timeouts). */
  chunkSize?: number;
  delayMs?: number;
  /** Announce the full length, send only this many bytes, then cut the connection. */
  truncateAfter?: number;
}

/** A redirect to `location` (absolute, or a path on this server). */
export interface RedirectRoute {
  redirect: string;
  status?: number;
}

/** Anything else a test needs, written by hand. */
export type HandlerRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** One route of the fixture server. */
export type FixtureRoute = BodyRoute | RedirectRoute | HandlerRoute;

/** A running fixture server. */
export interface FixtureServer {
  /** Absolute URL of `path` on this server. */
  url(path: string): string;
  /** How many requests `path` has received. */
  hits(path: string): number;
  /** How many connections and requests reached the server at all (refused downloads must leave both at zero). */
  traffic(): { connections: number; requests: number };
  /** Stops the server and drops open connections (slow responses included). */
  close(): Promise<void>;
}

/**
 * Starts an HTTP server on `host` (default 127.0.0.1; any 127.x address
 * works without setup on Linux), random port, answering `routes` by exact
 * path (query ignored), 404 for the rest. Owns the server and its sockets
 * until `close()`; tests change routes by mutating the map.
 */
export async function startFixtureServer(routes: Map<string, FixtureRoute> | Record<string, FixtureRoute>, host = '127.0.0.1'): Promise<FixtureServer> {
  const table = routes instanceof Map ? routes : new Map(Object.entries(routes));
  const counts = new Map<string, number>();
  const traffic = { connections: 0, requests: 0 };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://fixture').pathname;
    traffic.requests++;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const route = table.get(path);
    serve(route, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  server.on('connection', () => traffic.connections++);
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://${host}:${port}${path.startsWith('/') ? path : `/${path}`}`,
    hits: (path) => counts.get(path) ?? 0,
    traffic: () => ({ ...traffic }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function serve(route: FixtureRoute | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (route === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  if (typeof route === 'function') {
    await route(req, res);
    return;
  }
  if ('redirect' in route) {
    res.writeHead(route.status ?? 302, { location: route.redirect }).end();
    return;
  }
  const body = typeof route.body === 'string' ? Buffer.from(route.body) : Buffer.from(route.body);
  res.writeHead(route.status ?? 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(route.contentLength ?? body.length),
    ...route.headers,
  });
  const sendable = route.truncateAfter !== undefined ? body.subarray(0, route.truncateAfter) : body;
  const size = route.chunkSize ?? sendable.length;
  let closed = false;
  res.once('close', () => (closed = true));
  for (let at = 0; at < sendable.length && !closed; at += Math.max(1, size)) {
    if (at > 0 && route.delayMs) await sleep(route.delayMs);
    if (closed) return;
    res.write(sendable.subarray(at, at + Math.max(1, size)));
  }
  if (route.truncateAfter !== undefined) {
    // Give the partial body a moment to leave before the reset, so the client sees data then a cut.
    await sleep(20);
    res.destroy();
    return;
  }
  res.end();
}
