// The dashboard's static files over real HTTP, as `npm run build` wrote them.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { webFixture } from '../../test/support/web-client.js';
import { buildWebApp } from './app.js';

let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let root = '';
const manifest = JSON.parse(readFileSync(join(packageRoot(), 'dist', 'ui', 'manifest.json'), 'utf8')) as { entry: string; assets: Array<{ file: string; gzipBytes: number }> };

beforeAll(async () => {
  const fx = await webFixture('left4me-web-ui-');
  root = fx.root;
  app = await buildWebApp({ stateDir: fx.stateDir, dataDir: fx.dataDir, webDataDir: fx.webDataDir });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the dashboard files', () => {
  it('serves index.html uncached, naming the hashed entry, with a CSP that allows no inline script', async () => {
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expect(r.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(r.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);
    const html = await r.text();
    expect(html).toContain(`<script type="module" src="/assets/${manifest.entry}"></script>`);
    expect(html).not.toMatch(/<script>|<style>|style=/);
  });

  it('serves hashed assets for a year, precompressed as the browser asks, and the entry within the 100 KB gzip budget', async () => {
    const plain = await fetch(`${base}/assets/${manifest.entry}`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const raw = Buffer.from(await plain.arrayBuffer());
    // fetch decodes what it asked for itself; node:http shows the bytes as sent.
    const { request } = await import('node:http');
    for (const [enc, decode] of [['br', brotliDecompressSync], ['gzip', gunzipSync]] as const) {
      const bytes = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
        request(`${base}/assets/${manifest.entry}`, { headers: { 'accept-encoding': enc } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        }).on('error', reject).end();
      });
      expect(bytes.encoding).toBe(enc);
      expect(decode(bytes.body).equals(raw)).toBe(true);
    }
    expect(manifest.assets.find((a) => a.file === manifest.entry)!.gzipBytes).toBeLessThan(100 * 1024);
  });

  it('serves nothing else: unknown names, other files of the build, path tricks', async () => {
    for (const path of ['/assets/app-AAAAAAAA.js', '/assets/manifest.json', '/assets/..%2Findex.html', `/assets/${manifest.entry}.gz`, '/assets/%2e%2e/%2e%2e/package.json', '/dist/ui/index.html']) {
      const r = await fetch(`${base}${path}`);
      expect(r.status, path).toBe(404);
    }
  });
});
