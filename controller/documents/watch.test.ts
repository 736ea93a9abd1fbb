import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { watchTree } from './watch.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-watch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('watchTree', () => {
  it('reports changes, raw events too, leaves out ignored names, and reports again after a new directory appeared', async () => {
    const seen: Array<{ path: string | undefined; event: string }> = [];
    const w = watchTree(dir, { ignored: (p) => /(^|\/)\.[^/]+$/.test(p) }, { change: (path, event) => seen.push({ path, event }), error: () => undefined });
    await w.ready;
    try {
      writeFileSync(join(dir, 'a.yaml'), 'a');
      await until('a.yaml reported', () => seen.some((s) => s.path?.endsWith('a.yaml') && s.event === 'add'));
      expect(seen.some((s) => s.path === 'a.yaml' && s.event.startsWith('raw '))).toBe(true);

      writeFileSync(join(dir, '.a.yaml.tmp'), 'x');
      mkdirSync(join(dir, 'sub'));
      await until('sub reported', () => seen.some((s) => s.event === 'addDir'));
      const added = Date.now();
      await until('the new directory reported once more', () => seen.some((s) => s.path === undefined && s.event === 'settle'));
      expect(Date.now() - added).toBeGreaterThan(1000);
      expect(seen.filter((s) => s.path?.includes('.a.yaml.tmp'))).toEqual([]);
    } finally {
      await w.close();
    }
  });
});
