import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanStateDir } from './scan.js';

const base = mkdtempSync(join(tmpdir(), 'left4me-scan-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('scanStateDir against a tree that changes while it reads', () => {
  it('never reads a file through a parent directory swapped for a link out of the tree', async () => {
    // Someone who can write the state tree (a dashboard user, a git checkout) swaps a
    // directory the scanner already checked for a link to a directory root may read.
    const state = join(base, 'state');
    const outside = join(base, 'outside');
    mkdirSync(join(state, 'instances'), { recursive: true });
    mkdirSync(join(outside, 'nested'), { recursive: true });
    writeFileSync(join(state, 'instances', 'one.yaml'), 'kind: Instance\n');
    writeFileSync(join(state, 'instances', 'outside-secret.yaml'), 'kind: Instance\n');
    writeFileSync(join(outside, 'outside-secret.yaml'), 'OUTSIDE-MARKER\n');
    writeFileSync(join(outside, 'one.yaml'), 'OUTSIDE-MARKER\n');
    writeFileSync(join(outside, 'nested', 'deep.yaml'), 'OUTSIDE-MARKER\n');
    const swapper = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      const [state, outside] = process.argv.slice(1);
      const dir = state + '/instances';
      for (;;) {
        try { fs.renameSync(dir, dir + '.real'); fs.symlinkSync(outside, dir); } catch {}
        try { fs.unlinkSync(dir); fs.renameSync(dir + '.real', dir); } catch {}
      }`, state, outside], { stdio: 'ignore' });
    let scans = 0;
    const leaked: string[] = [];
    try {
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        const { files } = await scanStateDir(state);
        scans++;
        for (const f of files) if (f.text.includes('OUTSIDE-MARKER')) leaked.push(f.rel);
      }
    } finally {
      swapper.kill('SIGKILL');
      await new Promise((r) => swapper.once('exit', r));
    }
    expect(scans).toBeGreaterThan(10);
    expect(leaked).toEqual([]);
  });
});

describe('scanStateDir and links inside the tree', () => {
  it('reads files and directories reached through links that stay inside, once, and names them by the link', async () => {
    const state = join(base, 'inside');
    mkdirSync(join(state, 'shared', 'sub'), { recursive: true });
    mkdirSync(join(state, 'instances'), { recursive: true });
    writeFileSync(join(state, 'shared', 'a.yaml'), 'a\n');
    writeFileSync(join(state, 'shared', 'sub', 'b.yaml'), 'b\n');
    symlinkSync('../shared/a.yaml', join(state, 'instances', 'a-link.yaml'));
    symlinkSync(join(state, 'shared', 'sub'), join(state, 'instances', 'sub-link'));
    // A link to an ancestor would loop; it is read once, where it really is.
    symlinkSync('..', join(state, 'shared', 'up'));
    const { files, problems } = await scanStateDir(state);
    expect(problems).toEqual([]);
    expect(files.map((f) => [f.rel, f.text])).toEqual([
      ['instances/a-link.yaml', 'a\n'],
      ['instances/sub-link/b.yaml', 'b\n'],
      ['shared/a.yaml', 'a\n'],
    ]);
  });

  it('refuses chains of links that leave the tree on the way, and link loops', async () => {
    const state = join(base, 'chains');
    mkdirSync(state, { recursive: true });
    symlinkSync('/etc', join(state, 'etc-link'));
    symlinkSync('etc-link/passwd', join(state, 'via.yaml'));
    symlinkSync('loop-b.yaml', join(state, 'loop-a.yaml'));
    symlinkSync('loop-a.yaml', join(state, 'loop-b.yaml'));
    const { files, problems } = await scanStateDir(state);
    expect(files).toEqual([]);
    expect(problems.map((p) => [p.file.slice(state.length + 1), p.message])).toEqual([
      ['etc-link', 'symbolic link leads outside the state directory (to /etc); refused'],
      ['loop-a.yaml', 'symbolic link loops (more than 40 links); refused'],
      ['loop-b.yaml', 'symbolic link loops (more than 40 links); refused'],
      ['via.yaml', 'symbolic link leads outside the state directory (to etc-link/passwd); refused'],
    ]);
  });
});
