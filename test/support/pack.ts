// The release tarball as an operator gets it: `npm pack` of this checkout.
// npm pack runs prepack (which empties dist/) and prepare (the build), so it
// runs in a copy: the checkout's dist/ that other suites run from is never
// half-built. The copy is the tree a release is packed from: sources and the
// lock file, without build output or local state.
import { execFile } from 'node:child_process';
import { cpSync, readdirSync, symlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../controller/package-root.js';

/** Packs the checkout into `dir` (a scratch directory of the caller's); returns the tarball's path. */
export async function packRelease(dir: string): Promise<string> {
  const repo = packageRoot();
  const src = join(dir, 'src');
  cpSync(repo, src, {
    recursive: true,
    filter: (path) => {
      const top = relative(repo, path).split(sep)[0]!;
      return top === '' || !(top === 'node_modules' || top === 'dist' || top === 'test-artifacts' || top.startsWith('.'));
    },
  });
  symlinkSync(join(repo, 'node_modules'), join(src, 'node_modules'));
  try {
    await promisify(execFile)('npm', ['pack', '--pack-destination', dir, '--no-fund', '--no-audit'], { cwd: src, maxBuffer: 64 * 2 ** 20, env: { ...process.env, NO_COLOR: '1' } });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`npm pack failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
  const tarballs = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
  if (tarballs.length !== 1 || !/^left4me-[0-9.]+\.tgz$/.test(tarballs[0]!)) throw new Error(`npm pack made ${JSON.stringify(tarballs)}, not one left4me-VERSION.tgz`);
  return join(dir, tarballs[0]!);
}
