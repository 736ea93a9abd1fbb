import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

describe('StatusStore', () => {
  it('reads a torn or misshapen status file as no status (the next pass rebuilds it from the host), and writes over it', async () => {
    const torn = mkdtempSync(join(dir, 'torn-'));
    mkdirSync(join(torn, 'instance'));
    const store = new StatusStore(torn);
    for (const text of ['{"kind": "Instance", "name": "a", "condi', '', 'null', '[]', '5', '{"kind": "Instance", "name": "a"}', '{"conditions": 5, "events": []}', '{"conditions": [null], "events": []}']) {
      writeFileSync(join(torn, 'instance', 'a.json'), text);
      expect(await store.read('Instance', 'a')).toBeUndefined();
      expect(await new CachedStatusReader(torn).read('Instance', 'a')).toBeUndefined();
    }
    expect(await store.write(status(3))).toBe(true);
    expect((await store.read('Instance', 'a'))?.players).toBe(3);
  });
});
