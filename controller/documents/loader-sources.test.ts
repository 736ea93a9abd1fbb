import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSource } from '../../test/support/source-layout.js';
import { hostLayout } from '../host/layout.js';
import { readActiveSources } from '../sources/active.js';
import { loadState } from './loader.js';
import { formatProblem } from './problems.js';

const scratch = mkdtempSync(join(tmpdir(), 'left4me-loader-sources-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

const INSTALL = 'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: demo}\nspec: {source: directory, path: /srv/left4me/installations/l4d2}\n';
const BLUEPRINT = 'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: coop}\nspec: {overlays: []}\n';
const instance = (name: string, extra = '') => `apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: ${name}\nspec:\n  blueprint: coop\n${extra}`;

/** A local state dir with `local` files, and the given sources made by hand; loads both. */
async function load(local: Record<string, string>, sources: Record<string, { files: Record<string, string>; path?: string }>) {
  const base = join(scratch, `case-${n++}`);
  const stateDir = join(base, 'state');
  mkdirSync(stateDir, { recursive: true });
  for (const [rel, text] of Object.entries(local)) {
    mkdirSync(join(stateDir, rel, '..'), { recursive: true });
    writeFileSync(join(stateDir, rel), text);
  }
  const layout = hostLayout(join(base, 'data'), join(base, 'etc'));
  const commits: Record<string, string> = {};
  for (const [name, s] of Object.entries(sources)) commits[name] = writeSource(layout, name, s);
  const active = await readActiveSources(layout);
  expect(active.problems).toEqual([]);
  const state = await loadState(stateDir, { sources: active.roots, sourceProblems: active.problems });
  return { stateDir, layout, commits, state, short: (name: string) => commits[name]!.slice(0, 7) };
}

describe('loader: git sources beside the local state directory', () => {
  it('reads documents from the local tree and a source as one state; cross-root references resolve; git documents carry their origin', async () => {
    const { state, commits, stateDir } = await load(
      { 'install.yaml': INSTALL, 'coop.yaml': BLUEPRINT },
      { fleet: { files: { 'hosts/eu/a.yaml': instance('eu-1'), 'hosts/us/b.yaml': instance('us-1'), 'README.md': 'docs' }, path: 'hosts/eu' } },
    );
    expect(state.problems).toEqual([]);
    expect([...state.instances.keys()]).toEqual(['eu-1']);
    const eu = state.instances.get('eu-1')!;
    expect(eu.source.origin).toEqual({ source: 'fleet', commit: commits.fleet, file: 'hosts/eu/a.yaml' });
    expect(eu.source.line).toBe(1);
    expect(state.blueprints.get('coop')!.source.origin).toBeUndefined();
    expect(state.blueprints.get('coop')!.source.file).toBe(join(stateDir, 'coop.yaml'));
    expect([...state.managed]).toEqual([['instance/eu-1', { source: 'fleet', commit: commits.fleet, file: 'hosts/eu/a.yaml' }]]);
    expect(state.sources.map((s) => s.name)).toEqual(['fleet']);
    expect(state.dir).toBe(stateDir);
    expect(state.fileCount).toBe(3);
  });

  it('a problem in a git file names the source, the commit and the repository path, with line and column', async () => {
    const { state, short, commits } = await load(
      { 'install.yaml': INSTALL, 'coop.yaml': BLUEPRINT },
      { fleet: { files: { 'servers/a.yaml': instance('a', '  port: 99999\n'), 'servers/b.yaml': 'kind: [unclosed\n' }, path: 'servers' } },
    );
    const lines = state.problems.map(formatProblem);
    expect(lines).toContain(`fleet@${short('fleet')}:servers/a.yaml:7:9  instance/a  /spec/port  must be <= 65535 (got 99999)`);
    expect(lines.some((l) => l.startsWith(`fleet@${short('fleet')}:servers/b.yaml:2:1`) && l.includes('invalid YAML'))).toBe(true);
    for (const p of state.problems) expect(p.origin).toMatchObject({ source: 'fleet', commit: commits.fleet });
    expect(state.invalid.get('instance/a')).toMatchObject({ line: 1, origin: { source: 'fleet', file: 'servers/a.yaml' } });
    expect(state.unreadableFiles).toEqual([`fleet@${short('fleet')}:servers/b.yaml`]);
  });

  it('the same name locally and in git is a conflict on both copies, each naming the other, and neither is used', async () => {
    const { state, short, stateDir } = await load(
      { 'install.yaml': INSTALL, 'coop.yaml': BLUEPRINT, 'mine.yaml': instance('versus') },
      { fleet: { files: { 'versus.yaml': `# the fleet's\n${instance('versus')}` } } },
    );
    const local = join(stateDir, 'mine.yaml');
    const git = `fleet@${short('fleet')}:versus.yaml`;
    expect(state.problems.map(formatProblem).sort()).toEqual([
      `${git}:5:3  instance/versus  /metadata/name  Instance "versus" is also defined at ${local}:1: the same name from two sources is a conflict, and no copy is used until one is removed`,
      `${local}:4:3  instance/versus  /metadata/name  Instance "versus" is also defined at git source fleet at ${git}:2: the same name from two sources is a conflict, and no copy is used until one is removed`,
    ].sort());
    expect(state.instances.has('versus')).toBe(false);
    // Invalid, so the reconciler leaves a running server alone; shown at the copy a person can fix here.
    expect(state.invalid.get('instance/versus')).toEqual({ kind: 'Instance', name: 'versus', file: local, line: 1 });
    expect(state.managed.has('instance/versus')).toBe(true);
  });

  it('the same name in two sources is a conflict on both, even when one copy is invalid', async () => {
    const { state, short } = await load(
      { 'install.yaml': INSTALL, 'coop.yaml': BLUEPRINT },
      { a: { files: { 'x.yaml': instance('x') } }, b: { files: { 'x.yaml': instance('x', '  port: 1\n') } } },
    );
    const conflicts = state.problems.filter((p) => p.message.includes('is a conflict'));
    expect(conflicts.map((p) => p.file).sort()).toEqual([`a@${short('a')}:x.yaml`, `b@${short('b')}:x.yaml`]);
    expect(conflicts.find((p) => p.file.startsWith('a@'))!.message).toContain(`git source b at b@${short('b')}:x.yaml:1`);
    expect(state.instances.has('x')).toBe(false);
    expect(state.invalid.get('instance/x')?.origin?.source).toBe('a');
  });

  it('cross-document checks see every root: a port claimed in git and locally is a problem on both', async () => {
    const { state, short, stateDir } = await load(
      { 'install.yaml': INSTALL, 'coop.yaml': BLUEPRINT, 'b.yaml': instance('b', '  port: 27020\n') },
      { fleet: { files: { 'a.yaml': instance('a', '  port: 27020\n'), 'c.yaml': instance('c', '  blueprint: nope\n').replace('  blueprint: coop\n', '') } } },
    );
    const lines = state.problems.map(formatProblem);
    expect(lines.some((l) => l.startsWith(`fleet@${short('fleet')}:a.yaml:7:`) && l.includes(`${join(stateDir, 'b.yaml')}:1`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${join(stateDir, 'b.yaml')}:7:`) && l.includes(`fleet@${short('fleet')}:a.yaml:1`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`fleet@${short('fleet')}:c.yaml:6:`) && l.includes('Blueprint "nope" does not exist'))).toBe(true);
  });

  it('a source is scanned with the same rules: a link out of its checkout is refused and shown at the source', async () => {
    const base = join(scratch, `case-${n++}`);
    const stateDir = join(base, 'state');
    mkdirSync(stateDir, { recursive: true });
    const layout = hostLayout(join(base, 'data'), join(base, 'etc'));
    const commit = writeSource(layout, 'fleet', { files: { 'ok.yaml': INSTALL } });
    symlinkSync('/etc/passwd', join(layout.sourcesDir, 'fleet', 'checkouts', commit, 'leak.yaml'));
    const state = await loadState(stateDir, { sources: (await readActiveSources(layout)).roots });
    expect(state.problems.map((p) => [p.file, p.message, p.origin?.file])).toEqual([
      [`fleet@${commit.slice(0, 7)}:leak.yaml`, 'symbolic link leads outside the state directory (to /etc/passwd); refused', 'leak.yaml'],
    ]);
    expect(state.installations.has('demo')).toBe(true);
  });

  it('a documents path that is a link out of the repository is refused, its target never read', async () => {
    const base = join(scratch, `case-${n++}`);
    const stateDir = join(base, 'state');
    const outside = join(base, 'outside');
    mkdirSync(stateDir, { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.yaml'), INSTALL);
    const layout = hostLayout(join(base, 'data'), join(base, 'etc'));
    const commit = writeSource(layout, 'fleet', { files: { 'README.md': 'x' }, path: 'servers' });
    symlinkSync(outside, join(layout.sourcesDir, 'fleet', 'checkouts', commit, 'servers'));
    const state = await loadState(stateDir, { sources: (await readActiveSources(layout)).roots });
    expect(state.installations.size).toBe(0);
    expect(state.problems.map((p) => [p.file, p.message])).toEqual([[`fleet@${commit.slice(0, 7)}:servers`, 'servers is not a directory of the repository (a symbolic link, or a file); refused']]);
    expect(state.unreadableFiles).toEqual([`fleet@${commit.slice(0, 7)}:servers`]);
  });

  it('keeps the parse cache per file: a flip to a new commit re-reads that commit, the old parse is not reused for it', async () => {
    const { state, layout, stateDir } = await load({ 'install.yaml': INSTALL, 'coop.yaml': BLUEPRINT }, { fleet: { files: { 'a.yaml': instance('a') } } });
    expect(state.instances.get('a')!.spec.port).toBeUndefined();
    const next = writeSource(layout, 'fleet', { files: { 'a.yaml': instance('a', '  port: 27030\n') } });
    const again = await loadState(stateDir, { sources: (await readActiveSources(layout)).roots });
    expect(again.instances.get('a')!.spec.port).toBe(27030);
    expect(again.instances.get('a')!.source.origin!.commit).toBe(next);
  });
});
