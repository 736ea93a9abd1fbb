import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The directory holding left4me's package.json (works from TS sources and from dist/); reads the file system once. */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schemas'))) return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('left4me: cannot find the package root (package.json beside schemas/)');
    dir = up;
  }
}
