/**
 * Builds the dashboard (ui/) into dist/ui: one esbuild bundle with
 * content-hashed names (the editor split off and loaded on demand), each
 * asset precompressed (gzip and brotli) beside it, and index.html naming the
 * entry. `left4me web` serves what this writes. Run by `npm run build`; a
 * build tool, never imported by the product.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { packageRoot } from '../package-root.js';

/** What the web service reads to serve the dashboard. */
export interface UiManifest {
  /** The entry script, relative to the assets directory. */
  entry: string;
  /** The entry and every chunk it imports statically: what a first visit loads before anything renders (the budget's measure). */
  initial: string[];
  /** Every asset with its size and gzip size, for the budget. */
  assets: Array<{ file: string; bytes: number; gzipBytes: number }>;
}

export async function buildUi(outDir = join(packageRoot(), 'dist', 'ui')): Promise<UiManifest> {
  const assets = join(outDir, 'assets');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: { app: join(packageRoot(), 'ui', 'app.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    outdir: assets,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    metafile: true,
    tsconfig: join(packageRoot(), 'ui', 'tsconfig.json'),
    logLevel: 'warning',
  });
  const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined)?.[0];
  if (!entry) throw new Error('build-ui: esbuild wrote no entry');
  // Dynamic import()s (the editor) are left out: they load when a page asks for them.
  const initial = new Set<string>();
  const visit = (out: string) => {
    if (initial.has(out)) return;
    initial.add(out);
    for (const i of result.metafile.outputs[out]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  visit(entry);
  const manifest: UiManifest = { entry: relative(assets, join(packageRoot(), entry)), initial: [...initial].map((o) => relative(assets, join(packageRoot(), o))).sort(), assets: [] };
  for (const file of readdirSync(assets).sort()) {
    const bytes = readFileSync(join(assets, file));
    const gz = gzipSync(bytes, { level: 9 });
    writeFileSync(join(assets, `${file}.gz`), gz);
    writeFileSync(join(assets, `${file}.br`), brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
    manifest.assets.push({ file, bytes: bytes.length, gzipBytes: gz.length });
  }
  // No inline script or style: the page loads one module, and the elements bring their styles (constructable stylesheets).
  writeFileSync(
    join(outDir, 'index.html'),
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>left4me</title>\n<script type="module" src="/assets/${manifest.entry}"></script>\n</head>\n<body>\n<l4m-app></l4m-app>\n</body>\n</html>\n`,
  );
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const m = await buildUi();
  const total = m.assets.reduce((n, a) => n + a.gzipBytes, 0);
  process.stdout.write(`dashboard: ${m.assets.length} assets, entry ${m.entry}, ${(total / 1024).toFixed(1)} KiB gzip in all\n`);
}
