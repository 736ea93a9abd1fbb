/**
 * Component tests' browser: a test entry (TypeScript source importing ui/
 * elements) bundled by esbuild, served with the dashboard's own CSP from a
 * loopback node:http server that also answers the API routes a test fakes,
 * and opened in Debian's Chromium through playwright-core. Collects page
 * errors and console errors (a CSP violation is one) for the test to assert
 * there were none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CONTENT_SECURITY_POLICY } from '../../../controller/web/plugins/security.js';
import { packageRoot } from '../../../controller/package-root.js';

/** Answers one request the page makes; returns false when it does not know the route (a 404 follows). */
export type FakeApi = (req: IncomingMessage, res: ServerResponse, body: string) => boolean | Promise<boolean>;

export interface ElementPage {
  page: Page;
  /** The page's origin, e.g. http://127.0.0.1:41234 */
  origin: string;
  /** Uncaught errors and console errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

/** Bundles a test entry (TypeScript, imports relative to the repository root) into one ES module. */
export async function bundleEntry(source: string): Promise<string> {
  const result = await build({
    stdin: { contents: source, resolveDir: packageRoot(), loader: 'ts', sourcefile: 'test-entry.ts' },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    tsconfig: join(packageRoot(), 'ui', 'tsconfig.json'),
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Serves the bundled entry on a page of its own (with the dashboard's CSP) and opens it in headless Chromium. */
export async function openElementPage(entry: string, api: FakeApi = () => false): Promise<ElementPage> {
  const script = await bundleEntry(entry);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
        if (req.method === 'GET' && req.url === '/') {
          res.setHeader('content-type', 'text/html; charset=utf-8');
          res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>test</title><script type="module" src="/entry.js"></script></head><body></body></html>');
        } else if (req.method === 'GET' && req.url === '/entry.js') {
          res.setHeader('content-type', 'text/javascript; charset=utf-8');
          res.end(script);
        } else if (!(await api(req, res, Buffer.concat(chunks).toString('utf8')))) {
          res.statusCode = 404;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: `no fake for ${req.method} ${req.url}` }));
        }
      })().catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let browser: Awaited<ReturnType<typeof openChromium>> | undefined;
  try {
    browser = await openChromium();
    await browser.page.goto(`${origin}/`);
    const opened = browser;
    return {
      ...opened,
      origin,
      close: async () => {
        await opened.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  } catch (err) {
    await browser?.close();
    server.close();
    throw err;
  }
}

/** A headless Chromium with a fresh profile and one page, collecting the page's errors; close() removes the profile. */
export async function openChromium(): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'l4m-ui-test-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // A 4xx answer is logged by Chromium as a failed resource: that is what some tests ask for.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
    });
    const ctx = context;
    return {
      page,
      errors,
      close: async () => {
        await ctx.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await context?.close();
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
}

/** Sends a JSON answer from a fake. */
export function json(res: ServerResponse, status: number, body: unknown): true {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
  return true;
}
