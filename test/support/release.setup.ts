// vitest globalSetup: one scratch directory per test run for the packed
// release, which the suites that install it share (support/pack.ts
// releaseTarball packs it once, on first use; runs that need none pack none).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    left4meReleaseDir: string;
  }
}

export default function releaseDir(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'left4me-release-'));
  project.provide('left4meReleaseDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
