/**
 * The documents pages' browser for tests: the component tests' Chromium
 * (element-page.ts), told to name the source of any CSP violation, and a
 * server for a test entry bundled WITH code splitting, as the dashboard's
 * build does, so that the YAML editor's lazy `import()` of CodeMirror is a
 * chunk fetched on demand (under the dashboard's CSP) here too.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { packageRoot } from '../../../controller/package-root.js';
import { CONTENT_SECURITY_POLICY } from '../../../controller/web/plugins/security.js';
import { openChromium } from './element-page.js';

export interface TestBrowser {
  page: Page;
  /** Uncaught errors and console errors seen so far (a CSP violation is one, with where it came from). */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<TestBrowser> {
  const browser = await openChromium();
  // The console line alone does not say which element broke the CSP.
  await browser.page.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) => {
      const first = e.composedPath()[0];
      const where = first instanceof Element ? first.outerHTML.slice(0, 160) : String(first);
      console.error(`CSP ${e.effectiveDirective} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} on ${where}`);
    }),
  );
  return browser;
}

/** Bundles a test entry (imports relative to the repository root) into chunks and serves them on a page with the dashboard's CSP. */
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
