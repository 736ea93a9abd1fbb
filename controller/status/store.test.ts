import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CachedStatusReader, StatusStore, type DocumentStatus } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const status = (players: number): DocumentStatus => ({ kind: 'Instance', name: 'a', conditions: [], players, events: [] });

describe('CachedStatusReader', () => {
  it('parses a status once while its file is unchanged, and sees every write and removal of the writer', async () => {
    const writer = new StatusStore(dir);
    const reader = new CachedStatusReader(dir);
    expect(await reader.read('Instance', 'a')).toBeUndefined();
    await writer.write(status(1));
    const first = await reader.read('Instance', 'a');
    expect(first?.players).toBe(1);
    expect(await reader.read('Instance', 'a')).toBe(first);
    for (let p = 2; p < 12; p++) {
      await writer.write(status(p));
      expect((await reader.read('Instance', 'a'))?.players).toBe(p);
    }
    await writer.remove('Instance', 'a');
    expect(await reader.read('Instance', 'a')).toBeUndefined();
    expect(await reader.read('Instance', '__proto__')).toBeUndefined();
  });
});
