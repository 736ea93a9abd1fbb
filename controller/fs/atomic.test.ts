import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replaceFile, writeFileAtomic } from './atomic.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replacing a file', () => {
  it('a failing writer leaves the old file and no temp file behind', async () => {
    const path = join(dir, 'leases.json');
    writeFileSync(path, 'old');
    await expect(
      replaceFile(path, 0o600, async (fh) => {
        await fh.writeFile('half');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['leases.json']);
  });

  it('writes the new content with the mode asked for', async () => {
    const path = join(dir, 'status.json');
    await writeFileAtomic(path, '{"ok":true}\n', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('{"ok":true}\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
