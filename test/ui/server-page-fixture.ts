/**
 * A real Chromium for the Server page's component tests: the elements are
 * bundled by esbuild from ui/ (as the dashboard is), served with the web
 * service's own Content-Security-Policy from a tiny node:http server on
 * loopback — which also plays the API, route by route, as each test needs —
 * and driven with playwright-core. A CSP violation or an uncaught error in
 * the page is collected so that a test can fail on it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { packageRoot } from '../../controller/package-root.js';
import { CONTENT_SECURITY_POLICY } from '../../controller/web/plugins/security.js';

/**
 * The test page's script: every element of the Server page, with the API client
 * (a CSRF token, logged in as the user alice) and a status feed provided through
 * context as <l4m-app> provides them; `window.l4mTest` holds both.
 */
export const ENTRY = `
import { ContextProvider } from '@lit/context';
import { Api } from './ui/services/api.js';
import { apiContext, feedContext } from './ui/services/context.js';
import { StatusFeed } from './ui/services/status-feed.js';
import './ui/elements/l4m-server.js';
const api = new Api();
api.csrfToken = 'csrf-test';
api.user = { name: 'alice', role: 'user' };
const feed = new StatusFeed('/api/v1/events');
new ContextProvider(document.body, { context: apiContext, initialValue: api });
new ContextProvider(document.body, { context: feedContext, initialValue: feed });
Object.assign(window, { l4mTest: { api, feed } });
`;

/** Answers one API request; return false to let the fixture answer 404. */
export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => boolean | Promise<boolean>;

export interface UiFixture {
  base: string;
  page: Page;
  context: BrowserContext;
  /** CSP violations and uncaught page errors seen so far. */
  problems: string[];
  /** The API routes: `METHOD /path` (no query) → handler; tests add and replace them. */
  routes: Map<string, Handler>;
  /** Every API request the page made (`METHOD /path?query`), answered or not. */
  requests: string[];
  /** Loads a fresh page (the bundle, nothing rendered). */
  open(): Promise<void>;
  close(): Promise<void>;
}

/** Bundles `entry` (TypeScript, resolved from the package root) the way the dashboard build does. */
export async function bundle(entry: string): Promise<string> {
  const r = await build({
    stdin: { contents: entry, resolveDir: packageRoot(), loader: 'ts', sourcefile: 'test-entry.ts' },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    tsconfig: join(packageRoot(), 'ui', 'tsconfig.json'),
    logLevel: 'warning',
  });
  return r.outputFiles[0]!.text;
}

export async function uiFixture(entry: string): Promise<UiFixture> {
  const script = await bundle(entry);
  const routes = new Map<string, Handler>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
        const path = (req.url ?? '/').split('?')[0]!;
        if (path === '/') {
          res.setHeader('content-type', 'text/html; charset=utf-8');
          res.end('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>test</title><script type="module" src="/test.js"></script></head><body></body></html>\n');
          return;
        }
        if (path === '/test.js') {
          res.setHeader('content-type', 'text/javascript; charset=utf-8');
          res.end(script);
          return;
        }
        requests.push(`${req.method} ${req.url}`);
        const handler = routes.get(`${req.method} ${path}`);
        if (handler && (await handler(req, res, Buffer.concat(chunks).toString('utf8')))) return;
        json(res, 404, { error: `no route ${req.method} ${path}` });
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { context, page, problems, close } = await launchChromium();
  return {
    base,
    page,
    context,
    problems,
    routes,
    requests,
    async open() {
      await page.goto(`${base}/`);
      await page.waitForFunction(() => customElements.get('l4m-chart') !== undefined);
    },
    async close() {
      await close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** Debian's Chromium, headless, in a throwaway profile; `problems` collects CSP violations and uncaught page errors. */
export async function launchChromium(): Promise<{ context: BrowserContext; page: Page; problems: string[]; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'left4me-ui-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
  return true;
}

/** An SSE stream kept open: send events to it until the test ends it (or the page goes). */
export interface SseStream {
  send(event: string, data: unknown, id?: string): void;
  end(): void;
  closed: Promise<void>;
}

export function sse(res: ServerResponse): SseStream {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.write(': hello\n\n');
  let done!: () => void;
  const closed = new Promise<void>((resolve) => (done = resolve));
  res.on('close', done);
  return {
    send(event, data, id) {
      res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end() {
      res.end();
    },
    closed,
  };
}
