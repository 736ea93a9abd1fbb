import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControllerCounters, readCounters } from './counters.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-counters-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('controller counters', () => {
  it('writes the file only when something changed, and the reader gets what was counted', async () => {
    const path = join(dir, 'status', 'metrics.json');
    const c = new ControllerCounters(path, () => Date.UTC(2026, 0, 1));
    expect(await c.flush()).toBe(true); // the first write: "a controller runs, nothing counted yet"
    expect(await c.flush()).toBe(false);
    c.pass();
    c.reconciled('instance', true, 0.002);
    c.reconciled('instance', false, 0.7);
    c.reconciled('nonsense', true, 1); // not a kind: not a label
    c.built('overlay', true, 12);
    c.built('overlay', false, 4000);
    expect(await c.flush()).toBe(true);
    const mtime = statSync(path).mtimeMs;
    expect(await c.flush()).toBe(false);
    expect(statSync(path).mtimeMs).toBe(mtime);
    const f = readCounters(path)!;
    expect(f.passes).toBe(1);
    expect(Object.keys(f.reconciles)).toEqual(['instance']);
    expect(f.reconciles.instance).toMatchObject({ ok: 1, error: 1, duration: { count: 2, sum: 0.702 } });
    // 0.002 s in the first bucket (≤ 5 ms), 0.7 s in the ≤ 1 s one.
    expect(f.reconciles.instance!.duration.buckets).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(f.builds.overlay).toMatchObject({ succeeded: 1, failed: 1 });
    expect(f.builds.overlay!.duration.buckets.at(-1)).toBe(1); // 4000 s: +Inf
  });

  it('reads nothing from a missing or foreign file', () => {
    expect(readCounters(join(dir, 'none.json'))).toBeUndefined();
  });
});
