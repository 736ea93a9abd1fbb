// The release tarball as an operator gets it: `npm pack` of this checkout.
// npm pack runs prepack (which empties dist/) and prepare (the build), so it
// runs in a copy: the checkout's dist/ that other suites run from is never
// half-built. The copy is the tree a release is packed from: sources and the
// lock file, without build output or local state.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
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

/**
 * The run's release tarball, packed once for every suite that installs it
 * (release.setup.ts gives the directory): the first caller packs, the others
 * wait for it — other test files run in other processes. Read it, never change it.
 */
export async function releaseTarball(): Promise<string> {
  const dir = inject('left4meReleaseDir');
  const done = join(dir, 'done.json');
  let packer = false;
  try {
    mkdirSync(join(dir, 'packing'));
    packer = true;
  } catch {
    // Another test file is packing it.
  }
  if (packer) {
    const out = join(dir, 'out');
    mkdirSync(out);
    const result = await packRelease(out).then(
      (tarball) => ({ tarball }),
      (err: Error) => ({ error: err.message }),
    );
    writeFileSync(done, JSON.stringify(result));
  }
  const deadline = Date.now() + 600_000;
  while (!existsSync(done)) {
    if (Date.now() > deadline) throw new Error(`no release tarball in ${dir} after 10 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const result = JSON.parse(readFileSync(done, 'utf8')) as { tarball?: string; error?: string };
  if (!result.tarball) throw new Error(`packing the release failed: ${result.error}`);
  return result.tarball;
}
