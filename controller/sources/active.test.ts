import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fakeCommit, writeSource } from '../../test/support/source-layout.js';
import { loadState } from '../documents/loader.js';
import { hostLayout } from '../host/layout.js';
import { readActiveSources, readSourceStatuses } from './active.js';
import { sourcePaths } from './types.js';

const scratch = mkdtempSync(join(tmpdir(), 'left4me-active-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const fresh = () => hostLayout(join(scratch, `data-${n++}`), join(scratch, 'etc'));

const INSTANCE = (name: string) => `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: ${name}}\nspec: {blueprint: coop}\n`;

describe('readActiveSources', () => {
  it('finds nothing on a host that never synced a source', async () => {
    expect(await readActiveSources(fresh())).toEqual({ roots: [], problems: [] });
  });

  it('reads each source with a current link: commit from the link, path from the status, sorted by name', async () => {
    const layout = fresh();
    const b = writeSource(layout, 'zeta', { files: { 'x.yaml': INSTANCE('x') } });
    const a = writeSource(layout, 'alpha', { files: { 'hosts/eu/a.yaml': INSTANCE('a') }, path: './hosts//eu/' });
    // A source whose first fetch has not served anything yet: no link, no documents, no problem.
    mkdirSync(join(layout.sourcesDir, 'pending', 'checkouts'), { recursive: true });
    const { roots, problems } = await readActiveSources(layout);
    expect(problems).toEqual([]);
    expect(roots).toEqual([
      { name: 'alpha', commit: a, path: 'hosts/eu', dir: join(layout.sourcesDir, 'alpha', 'checkouts', a, 'hosts/eu') },
      { name: 'zeta', commit: b, path: '.', dir: join(layout.sourcesDir, 'zeta', 'checkouts', b) },
    ]);
  });

  it('maps paths through fsRoot, as for a private host', async () => {
    const fsRoot = join(scratch, `root-${n++}`);
    const layout = hostLayout('/var/lib/left4me', '/etc/left4me');
    const onDisk = hostLayout(join(fsRoot, 'var/lib/left4me'), join(fsRoot, 'etc/left4me'));
    const commit = writeSource(onDisk, 'fleet', { files: { 'a.yaml': INSTANCE('a') } });
    const { roots } = await readActiveSources(layout, fsRoot);
    expect(roots).toEqual([{ name: 'fleet', commit, path: '.', dir: join(fsRoot, 'var/lib/left4me/sources/fleet/checkouts', commit) }]);
  });

  it('skips a broken source and says why, without throwing: dangling, odd target, not a link, no status, escaping path', async () => {
    const layout = fresh();
    const good = writeSource(layout, 'good', { files: { 'a.yaml': INSTANCE('a') } });
    writeSource(layout, 'nostatus', { files: { 'b.yaml': INSTANCE('b') }, noStatus: true });
    writeSource(layout, 'escape', { files: { 'c.yaml': INSTANCE('c') }, path: '../../..' });
    writeSource(layout, 'garbled', { files: { 'd.yaml': INSTANCE('d') } });
    writeFileSync(sourcePaths(layout, 'garbled').status, '{"name": "garbled", "url":');
    mkdirSync(join(layout.sourcesDir, 'odd'), { recursive: true });
    symlinkSync('/etc', sourcePaths(layout, 'odd').current);
    mkdirSync(join(layout.sourcesDir, 'plain', 'current'), { recursive: true });
    writeSource(layout, 'mixed', { files: { 'e.yaml': INSTANCE('e') }, status: { name: 'other' } });
    const { roots, problems } = await readActiveSources(layout);
    expect(roots.map((r) => [r.name, r.commit])).toEqual([['good', good]]);
    expect(problems.map((p) => [p.file, p.message])).toEqual([
      [sourcePaths(layout, 'escape').status, 'git source escape: path "../../.." is not a relative path inside the repository; its documents are not read'],
      [sourcePaths(layout, 'garbled').status, 'git source garbled: the status file is not JSON; its documents are not read'],
      [sourcePaths(layout, 'mixed').status, 'git source mixed: the status file names "other"; its documents are not read'],
      [sourcePaths(layout, 'nostatus').status, 'git source nostatus: no status file; its documents are not read'],
      [sourcePaths(layout, 'odd').current, 'git source odd: the link points to "/etc", not checkouts/<commit>; its documents are not read'],
      [sourcePaths(layout, 'plain').current, 'git source plain: not a symbolic link; its documents are not read'],
    ]);
  });

  it('a broken source makes the state unreadable, so nothing it may define is deleted', async () => {
    const layout = fresh();
    writeSource(layout, 'fleet', { files: { 'a.yaml': INSTANCE('a') }, noStatus: true });
    const local = join(scratch, `state-${n++}`);
    mkdirSync(local);
    const active = await readActiveSources(layout);
    const state = await loadState(local, { sources: active.roots, sourceProblems: active.problems });
    expect(state.unreadableFiles).toEqual([sourcePaths(layout, 'fleet').status]);
  });

  it('a flip during a load cannot mix commits: the root names the commit read, and that checkout stays whole', async () => {
    const layout = fresh();
    const first = writeSource(layout, 'fleet', { files: { 'a.yaml': INSTANCE('old') } });
    const { roots } = await readActiveSources(layout);
    // The sync flips to a new commit before the loader reads the files.
    const second = writeSource(layout, 'fleet', { files: { 'a.yaml': INSTANCE('new') } });
    expect(second).not.toBe(first);
    const local = join(scratch, `state-${n++}`);
    mkdirSync(local);
    const during = await loadState(local, { sources: roots });
    expect([...during.invalid.keys(), ...during.instances.keys()]).toEqual(['instance/old']);
    expect(during.invalid.get('instance/old')?.origin).toEqual({ source: 'fleet', commit: first, file: 'a.yaml' });
    const after = await loadState(local, { sources: (await readActiveSources(layout)).roots });
    expect(after.invalid.get('instance/new')?.origin?.commit).toBe(second);
    expect(after.invalid.has('instance/old')).toBe(false);
  });

  it('a current link removed between listing and reading is simply not there', async () => {
    const layout = fresh();
    writeSource(layout, 'gone', { files: { 'a.yaml': INSTANCE('a') } });
    unlinkSync(sourcePaths(layout, 'gone').current);
    expect(await readActiveSources(layout)).toEqual({ roots: [], problems: [] });
  });
});

describe('readSourceStatuses', () => {
  it('returns every readable status, sorted, and leaves out files that are not one', async () => {
    const layout = fresh();
    writeSource(layout, 'b', { files: {}, commit: fakeCommit('b') });
    writeSource(layout, 'a', { files: {}, commit: fakeCommit('a'), status: { lastError: { at: '2026-01-01T00:00:00.000Z', reason: 'fetch-failed', message: 'unreachable' } } });
    const dir = join(layout.statusDir, 'sources');
    writeFileSync(join(dir, 'broken.json'), 'not json');
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ name: 'different', url: 'x', path: '.' }));
    writeFileSync(join(dir, 'README'), 'no');
    const statuses = await readSourceStatuses(layout);
    expect(statuses.map((s) => [s.name, s.serving?.commit, s.lastError?.reason ?? null])).toEqual([
      ['a', fakeCommit('a'), 'fetch-failed'],
      ['b', fakeCommit('b'), null],
    ]);
    expect(await readSourceStatuses(fresh())).toEqual([]);
  });
});
