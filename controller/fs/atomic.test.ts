import { constants, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { replaceFile, writeFileAtomic } from './atomic.js';

// What replaceFile asks of the kernel, in order: the directory fsync must come after the rename.
const calls = vi.hoisted(() => [] as string[]);
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    async open(path: string, flags: number, mode?: number) {
      const fh = await fs.open(path, flags, mode);
      calls.push(`open ${path}${(flags & constants.O_DIRECTORY) !== 0 ? ' (directory)' : ''}`);
      const sync = fh.sync.bind(fh);
      fh.sync = async () => {
        calls.push(`fsync ${path}`);
        return sync();
      };
      return fh;
    },
    async rename(from: string, to: string) {
      calls.push(`rename ${to}`);
      return fs.rename(from, to);
    },
  };
});

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

  it('fsyncs the file before the rename and the directory after it, so the new name survives a power loss', async () => {
    const path = join(dir, 'rcon.json');
    calls.length = 0;
    await writeFileAtomic(path, '{}\n', 0o600);
    const tmp = calls[0]!.slice('open '.length);
    expect(calls).toEqual([`open ${tmp}`, `fsync ${tmp}`, `rename ${path}`, `open ${dir} (directory)`, `fsync ${dir}`]);
  });

  it('writes the new content with the mode asked for', async () => {
    const path = join(dir, 'status.json');
    await writeFileAtomic(path, '{"ok":true}\n', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('{"ok":true}\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
