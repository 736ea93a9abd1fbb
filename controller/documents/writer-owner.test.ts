// `left4me apply` run by root into a tree another user owns keeps each file's
// owner. The owner must be set on the new file's descriptor before it is
// renamed into place: once the file is at its name, the tree's owner can
// rename it away and put a link there, and a chown by path would then give
// them whatever the link names. The race is won here on purpose: right after
// the real rename, the test plays the tree's owner and swaps in the link.
import { chownSync, cpSync, lstatSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { packageRoot } from '../package-root.js';
import { applyDocuments } from './writer.js';

/** Runs after every real rename; the test sets it to act as the tree's owner. */
let afterRename: ((from: string, to: string) => void) | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    rename: async (from: string, to: string) => {
      await real.rename(from, to);
      afterRename?.(from, to);
    },
  };
});

const scratch = mkdtempSync(join(tmpdir(), 'left4me-writer-owner-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const OWNER = 4321;

describe('applyDocuments as root into a tree another user owns', () => {
  it('sets the owner on the descriptor before the rename, so a link swapped in afterwards gets nothing', async () => {
    const state = join(scratch, 'state');
    cpSync(join(packageRoot(), 'state.example', 'demo'), state, { recursive: true });
    const file = join(state, 'instances', 'demo-1.yaml');
    chownSync(file, OWNER, OWNER);
    // What root must never hand to the tree's owner.
    const secret = join(scratch, 'secret');
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    afterRename = (_from, to) => {
      if (to !== file) return;
      afterRename = undefined;
      renameSync(file, `${file}.applied`);
      symlinkSync(secret, file);
    };
    const text = readFileSync(file, 'utf8').replace('state: running', 'state: stopped');
    const r = await applyDocuments(state, [{ name: 'in.yaml', text }]);
    afterRename = undefined;
    expect(r.refused).toBeUndefined();
    expect(statSync(secret).uid).toBe(0);
    // The file that was written carries the owner from the moment it had its name.
    const applied = lstatSync(`${file}.applied`);
    expect([applied.uid, applied.gid]).toEqual([OWNER, OWNER]);
    expect(readFileSync(`${file}.applied`, 'utf8')).toContain('state: stopped');
  });
});
