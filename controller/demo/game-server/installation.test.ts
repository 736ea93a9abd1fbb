import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CUSTOM_MAP, writeDemoInstallation } from './installation.js';

let dir: string;

beforeAll(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'l4m-demo-install-')), 'installation');
  await writeDemoInstallation(dir);
});

afterAll(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

async function walk(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

describe('writeDemoInstallation', () => {
  it('lays out the tree srcds_run expects', async () => {
    const rel = (await walk(dir)).map((p) => relative(dir, p)).sort();
    expect(rel).toEqual([
      'left4dead2',
      'left4dead2/addons',
      'left4dead2/cfg',
      'left4dead2/cfg/server.cfg',
      'left4dead2/gameinfo.txt',
      'left4dead2/maps',
      `left4dead2/maps/${DEMO_CUSTOM_MAP}.bsp`,
      'srcds_run',
      'steam_appid.txt',
    ]);
    expect((await readFile(join(dir, 'left4dead2', 'maps', `${DEMO_CUSTOM_MAP}.bsp`))).subarray(0, 4).toString()).toBe('VBSP');
    expect(await readFile(join(dir, 'left4dead2', 'cfg', 'server.cfg'), 'utf8')).toMatch(/^hostname "/m);
  });

  it('makes everything readable by other users and srcds_run executable by them', async () => {
    for (const p of [dir, ...(await walk(dir))]) {
      const s = await stat(p);
      const need = s.isDirectory() || p.endsWith('srcds_run') ? 0o755 : 0o644;
      expect((s.mode & 0o777) & need, relative(dir, p) || '.').toBe(need);
    }
  });

  it('bundles srcds_run into one node script with no imports outside node builtins', async () => {
    const text = await readFile(join(dir, 'srcds_run'), 'utf8');
    expect(text.startsWith('#!/usr/bin/node\n')).toBe(true);
    const specifiers = [...text.matchAll(/(?:^|\n)\s*import\s[^'"]*['"]([^'"]+)['"]/g)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    for (const s of specifiers) expect(s).toMatch(/^node:/);
    expect(text).not.toMatch(/\brequire\(/);
  });

  it('rewrites its own files and leaves others alone when run again', async () => {
    await writeFile(join(dir, 'left4dead2', 'addons', 'kept.vpk'), 'x');
    await writeFile(join(dir, 'srcds_run'), 'broken');
    await writeDemoInstallation(dir);
    expect((await readFile(join(dir, 'srcds_run'), 'utf8')).startsWith('#!/usr/bin/node')).toBe(true);
    expect(await readFile(join(dir, 'left4dead2', 'addons', 'kept.vpk'), 'utf8')).toBe('x');
    await rm(join(dir, 'left4dead2', 'addons', 'kept.vpk'));
  });
});
