/**
 * The dashboard's static files, as `npm run build` wrote them (dist/ui):
 * index.html for `/` (never cached: it names the current bundle), hashed
 * assets under /assets/ (cached for a year, immutable), each sent
 * precompressed (brotli or gzip) when the browser takes it. Nothing else is
 * served: an asset name must look like one the build makes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyReply } from 'fastify';
import { packageRoot } from '../../package-root.js';
import type { WebPlugin } from '../app.js';

/** What esbuild names files: `app-JWYSVVDZ.js`, `chunk-ABC123.js`. */
const ASSET = /^[a-z]+-[A-Z0-9]{8}\.(js|css)$/;
const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

interface Asset {
  type: string;
  raw: Buffer;
  gz?: Buffer;
  br?: Buffer;
}

function read(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

export const uiPlugin: WebPlugin = (app, ctx) => {
  const dir = ctx.opts.uiDir ?? join(packageRoot(), 'dist', 'ui');
  const index = read(join(dir, 'index.html'));
  // Read once at start: the bundle is small (the budget is 100 KB gzip) and never changes under a running service.
  const assets = new Map<string, Asset>();
  for (const file of (() => {
    try {
      return (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { assets: Array<{ file: string }> }).assets.map((a) => a.file);
    } catch {
      return [];
    }
  })()) {
    if (!ASSET.test(file)) continue;
    const raw = read(join(dir, 'assets', file));
    if (!raw) continue;
    assets.set(file, { type: TYPES[file.slice(file.lastIndexOf('.') + 1)]!, raw, gz: read(join(dir, 'assets', `${file}.gz`)), br: read(join(dir, 'assets', `${file}.br`)) });
  }

  const page = async (_req: unknown, reply: FastifyReply) => {
    if (!index) return reply.code(503).type('text/plain; charset=utf-8').send('the dashboard is not built: run npm run build\n');
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  app.get('/', page);
  app.get('/index.html', page);
  // Browsers ask for it whatever the page says; no icon, and no 404 in every console.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).header('cache-control', 'public, max-age=86400').send());

  app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
    const asset = ASSET.test(req.params.file) ? assets.get(req.params.file) : undefined;
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('no such asset\n');
    const accept = String(req.headers['accept-encoding'] ?? '');
    reply.header('cache-control', 'public, max-age=31536000, immutable').header('vary', 'accept-encoding').type(asset.type);
    if (asset.br && /\bbr\b/.test(accept)) return reply.header('content-encoding', 'br').send(asset.br);
    if (asset.gz && /\bgzip\b/.test(accept)) return reply.header('content-encoding', 'gzip').send(asset.gz);
    return reply.send(asset.raw);
  });
};
