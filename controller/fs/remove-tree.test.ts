import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDeepTree } from '../../test/support/deep-tree.js';
import { removeTree } from './remove-tree.js';

const base = mkdtempSync(join(tmpdir(), 'left4me-remove-tree-'));
afterAll(async () => {
  await removeTree(base);
});

describe('removeTree', () => {
  it('removes a 2,500-level tree that fs.rm cannot (ENAMETOOLONG)', async () => {
    const tree = join(base, 'deep');
    mkdirSync(tree);
    makeDeepTree(tree, 2500);
    // The tree really is past what a path can name: the usual removal fails on it.
    await expect(rm(tree, { recursive: true, force: true })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    expect(await removeTree(tree)).toEqual({ left: [] });
    expect(existsSync(tree)).toBe(false);
  });

  it('removes links themselves and never what they point to', async () => {
    const outside = join(base, 'outside');
    mkdirSync(join(outside, 'sub'), { recursive: true });
    writeFileSync(join(outside, 'sub', 'keep.txt'), 'keep');
    const tree = join(base, 'links');
    mkdirSync(join(tree, 'a', 'b'), { recursive: true });
    symlinkSync(outside, join(tree, 'a', 'b', 'to-dir'));
    symlinkSync(join(outside, 'sub', 'keep.txt'), join(tree, 'a', 'to-file'));
    expect(await removeTree(tree)).toEqual({ left: [] });
    expect(existsSync(tree)).toBe(false);
    expect(readdirSync(join(outside, 'sub'))).toEqual(['keep.txt']);
  });

  it('unlinks a link given as the tree itself, leaving its target', async () => {
    const target = join(base, 'target');
    mkdirSync(target);
    writeFileSync(join(target, 'x'), 'x');
    symlinkSync(target, join(base, 'link'));
    expect(await removeTree(join(base, 'link'))).toEqual({ left: [] });
    expect(existsSync(join(base, 'link'))).toBe(false);
    expect(statSync(join(target, 'x')).isFile()).toBe(true);
  });

  it('is fine with a missing path and a missing parent', async () => {
    expect(await removeTree(join(base, 'nothing'))).toEqual({ left: [] });
    expect(await removeTree(join(base, 'no', 'parent'))).toEqual({ left: [] });
  });

  it('removes wide trees with files at every level', async () => {
    const tree = join(base, 'wide');
    for (let i = 0; i < 20; i++) {
      mkdirSync(join(tree, `d${i}`, 'x', 'y'), { recursive: true });
      writeFileSync(join(tree, `d${i}`, 'f'), 'f');
      writeFileSync(join(tree, `d${i}`, 'x', 'y', 'g'), 'g');
    }
    expect(await removeTree(tree)).toEqual({ left: [] });
    expect(existsSync(tree)).toBe(false);
    rmSync(tree, { recursive: true, force: true });
  });
});
