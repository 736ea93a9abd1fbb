/**
 * What the Server page's component tests share on top of element-page.ts: the
 * test entry (every element of the page, with the API client and a status
 * feed provided through context as <l4m-app> provides them), a fake API as a
 * table of routes that records every request, SSE streams a test writes to,
 * and mounting one element with its properties.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import { openElementPage, type ElementPage, type FakeApi } from './element-page.js';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';

/** The page's script; `window.l4mTest` holds the API client (logged in as the user alice, with a CSRF token) and the feed. */
export const SERVER_ENTRY = `
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

export interface ServerPage extends ElementPage {
  /** `METHOD /path` (no query) → its fake; tests set them, reset() clears them. */
  routes: Map<string, FakeApi>;
  /** Every request the page made besides the page and its script (`METHOD /path?query`), answered or not. */
  requests: string[];
  /** A fresh page: routes, requests and sessionStorage cleared, the bundle loaded, nothing rendered. */
  reset(): Promise<void>;
}

export async function openServerPage(): Promise<ServerPage> {
  const routes = new Map<string, FakeApi>();
  const requests: string[] = [];
  const api: FakeApi = (req: IncomingMessage, res: ServerResponse, body: string) => {
    requests.push(`${req.method} ${req.url}`);
    const fake = routes.get(`${req.method} ${(req.url ?? '/').split('?')[0]}`);
    return fake ? fake(req, res, body) : false;
  };
  const ui = await openElementPage(SERVER_ENTRY, api);
  return {
    ...ui,
    routes,
    requests,
    async reset() {
      routes.clear();
      requests.length = 0;
      ui.errors.length = 0;
      await ui.page.goto(`${ui.origin}/`);
      await ui.page.waitForFunction(() => customElements.get('l4m-server') !== undefined);
      // One tab, one origin: what a test left in sessionStorage would reach the next.
      await ui.page.evaluate(() => sessionStorage.clear());
    },
  };
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

/** Replaces the page's body with one element, its properties set (JSON values only). */
export async function mount(page: Page, tag: string, props: Record<string, unknown> = {}): Promise<void> {
  await page.evaluate(
    async ([tag, props]) => {
      document.body.replaceChildren();
      const el = document.createElement(tag) as HTMLElement & { updateComplete?: Promise<unknown> };
      Object.assign(el, props);
      document.body.append(el);
      await el.updateComplete;
    },
    [tag, props] as const,
  );
}

/** Records the detail of every `type` event that reaches window, for seen(). */
export async function recordEvents(page: Page, type: string): Promise<void> {
  await page.evaluate((type) => {
    const w = window as unknown as { seen: Record<string, unknown[]> };
    w.seen ??= {};
    w.seen[type] = [];
    window.addEventListener(type, (e) => w.seen[type]!.push((e as CustomEvent).detail ?? null));
  }, type);
}

export function seen(page: Page, type: string): Promise<unknown[]> {
  return page.evaluate((type) => (window as unknown as { seen?: Record<string, unknown[]> }).seen?.[type] ?? [], type);
}

/** Deadlines for polls: generous, for a loaded machine. */
export const POLL = { timeout: 15_000, interval: 50 };

/**
 * One page for a whole test file, on the suite's hooks: opened before the
 * first test, reset before each, checked after each for page errors and CSP
 * violations, closed after the last. Returns the page's handle, filled in
 * once beforeAll has run.
 */
export function serverPageForSuite(): ServerPage {
  let current: ServerPage | undefined;
  beforeAll(async () => {
    current = await openServerPage();
  }, 60_000);
  afterAll(() => current?.close());
  beforeEach(() => current!.reset());
  afterEach(() => {
    expect(current!.errors).toEqual([]);
  });
  return new Proxy({} as ServerPage, { get: (_, key) => Reflect.get(current!, key) });
}
