import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RconSecrets } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('RconSecrets', () => {
  it('keeps one password per instance, even when many are created at once, in a root-only file', async () => {
    const a = new RconSecrets(dir);
    const names = Array.from({ length: 20 }, (_, i) => `i${i}`);
    const first = await Promise.all(names.map((n) => a.get(n)));
    const again = await Promise.all(names.map((n) => a.get(n)));
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(20);
    const reread = new RconSecrets(dir);
    expect(await Promise.all(names.map((n) => reread.peek(n)))).toEqual(first);
    expect(statSync(join(dir, 'rcon.json')).mode & 0o777).toBe(0o600);
    await reread.remove('i0');
    expect(await new RconSecrets(dir).peek('i0')).toBeUndefined();
  });
});
