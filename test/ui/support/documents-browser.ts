/**
 * The documents pages' browser for tests: Debian's Chromium driven by
 * playwright-core, opening either a test entry (TypeScript importing ui/
 * elements, bundled by esbuild, served from a loopback node:http server with
 * the dashboard's own CSP) or the real dashboard as `left4me web` serves it.
 * Uncaught errors and console errors (a CSP violation is one) are collected
 * for the test to assert there were none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { packageRoot } from '../../../controller/package-root.js';
import { CONTENT_SECURITY_POLICY } from '../../../controller/web/plugins/security.js';

export interface TestBrowser {
  page: Page;
  /** Uncaught errors and console errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

/** Headless Chromium with one page whose errors are collected. */
export async function openBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'left4me-ui-docs-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  // Say where a CSP violation comes from (the console line alone does not).
  await context.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) => {
      const first = e.composedPath()[0];
      const where = first instanceof Element ? first.outerHTML.slice(0, 160) : String(first);
      console.error(`CSP ${e.effectiveDirective} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} on ${where}`);
    }),
  );
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return {
    page,
    errors,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Bundles a test entry (imports relative to the repository root) with code
 * splitting, as the dashboard's build does, so a lazy `import()` is a chunk
 * fetched on demand here too; serves it on a page with the dashboard's CSP.
 */
export async function serveEntry(source: string): Promise<{ url: string; close(): Promise<void> }> {
  const out = await build({
    stdin: { contents: source, resolveDir: packageRoot(), loader: 'ts', sourcefile: 'test-entry.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    outdir: '/assets',
    entryNames: 'entry',
    write: false,
    tsconfig: join(packageRoot(), 'ui', 'tsconfig.json'),
    logLevel: 'silent',
  });
  const files = new Map(out.outputFiles.map((f) => [f.path.replace(/^.*\/assets\//, '/assets/'), f.text]));
  const server: Server = createServer((req, res) => {
    res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
    const js = files.get(req.url ?? '');
    if (req.url === '/') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>test</title><script type="module" src="/assets/entry.js"></script></head><body></body></html>');
    } else if (req.url === '/favicon.ico') {
      res.statusCode = 204;
      res.end();
    } else if (js !== undefined) {
      res.setHeader('content-type', 'text/javascript; charset=utf-8');
      res.end(js);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
