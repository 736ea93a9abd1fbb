import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState } from './loader.js';
import { canonicalJson, specHash } from './hash.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-valid-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function tree(files: Record<string, string>): string {
  const dir = join(root, `t${n++}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

const INSTALL = 'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: demo}\nspec: {source: directory, path: /srv/left4me/installations/l4d2}\n';
const OVERLAY = 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: ws}\nspec:\n  sources:\n    - workshop: {items: [698857882, "2524204971"]}\n';
const BLUEPRINT = 'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: coop}\nspec: {overlays: [ws]}\n';

describe('loader: valid trees', () => {
  it('loads multi-document files from nested directories, fills defaults and normalises workshop ids', async () => {
    const dir = tree({
      'a/install.yaml': INSTALL,
      'b/c/stack.yml': `${OVERLAY}---\n# just a comment\n---\n${BLUEPRINT}`,
      'instances.yaml': 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: one}\nspec: {blueprint: coop}\n',
      'notes.txt': 'not yaml, ignored',
      '.git/config.yaml': 'this: [is not read',
    });
    const state = await loadState(dir);
    expect(state.problems).toEqual([]);
    expect(state.fileCount).toBe(3);
    const one = state.instances.get('one')!;
    expect(one.spec).toEqual({ blueprint: 'coop', state: 'running', updatePolicy: 'whenEmpty', maxUpdateDelay: '6h' });
    expect(one.metadata.owner).toBe('system');
    expect(one.source).toEqual({ file: join(dir, 'instances.yaml'), line: 1, col: 1 });
    expect(state.blueprints.get('coop')!.spec).toMatchObject({ map: 'c1m1_hotel', maxPlayers: 8, tickrate: 30, gameMode: 'coop' });
    expect(state.blueprints.get('coop')!.source.line).toBe(10);
    expect(state.overlays.get('ws')!.spec.sources[0]).toEqual({ workshop: { items: ['698857882', '2524204971'] } });
  });

  it('gives the same generation whatever the key order, comments, quoting or written-out defaults', async () => {
    const a = tree({ 'i.yaml': `${INSTALL}---\n${OVERLAY}---\n${BLUEPRINT}---\napiVersion: left4me/v1\nkind: Instance\nmetadata: {name: one}\nspec: {blueprint: coop, port: 27020}\n` });
    const b = tree({
      'i.yaml': `${INSTALL}---\n${OVERLAY}---\n${BLUEPRINT}---\nkind: Instance\napiVersion: "left4me/v1"\nmetadata:\n  name: one\nspec:\n  # the port\n  port: 27020\n  state: running\n  blueprint: "coop"\n`,
    });
    const c = tree({ 'i.yaml': `${INSTALL}---\n${OVERLAY}---\n${BLUEPRINT}---\napiVersion: left4me/v1\nkind: Instance\nmetadata: {name: one}\nspec: {blueprint: coop, port: 27021}\n` });
    const [ga, gb, gc] = await Promise.all([a, b, c].map(async (d) => (await loadState(d)).instances.get('one')!.generation));
    expect(ga).toMatch(/^[0-9a-f]{16}$/);
    expect(gb).toBe(ga);
    expect(gc).not.toBe(ga);
  });

  it('records invalid documents by kind and name so their running servers are left alone', async () => {
    const dir = tree({
      'ok.yaml': `${INSTALL}---\n${OVERLAY}---\n${BLUEPRINT}`,
      'bad.yaml': 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: versus-1}\nspec: {blueprint: coop, port: "oops"}\n',
      'broken.yaml': 'kind: Instance\nmetadata: {name: [\n',
    });
    const state = await loadState(dir);
    expect([...state.invalid.keys()]).toEqual(['instance/versus-1']);
    expect(state.invalid.get('instance/versus-1')).toEqual({ kind: 'Instance', name: 'versus-1', file: join(dir, 'bad.yaml'), line: 1 });
    expect(state.unreadableFiles).toEqual([join(dir, 'broken.yaml')]);
    expect(state.instances.size).toBe(0);
    expect(state.blueprints.has('coop')).toBe(true);
  });

  it('rejects every copy of a duplicated name, so no copy silently wins', async () => {
    const inst = (port: number) => `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: one}\nspec: {blueprint: coop, port: ${port}}\n`;
    const dir = tree({ 'ok.yaml': `${INSTALL}---\n${OVERLAY}---\n${BLUEPRINT}`, 'x.yaml': inst(27020), 'y.yaml': inst(27021) });
    const state = await loadState(dir);
    expect(state.instances.size).toBe(0);
    expect(state.invalid.has('instance/one')).toBe(true);
    expect(state.problems.map((p) => `${p.file.slice(dir.length + 1)}:${p.line} ${p.message}`)).toEqual([
      `x.yaml:3 duplicate Instance "one": also defined at ${join(dir, 'y.yaml')}:1`,
      `y.yaml:3 duplicate Instance "one": also defined at ${join(dir, 'x.yaml')}:1`,
    ]);
  });

  it('lets the same port serve instances on different nodes, but not an unscoped one', async () => {
    const inst = (name: string, node?: string) =>
      `---\napiVersion: left4me/v1\nkind: Instance\nmetadata: {name: ${name}}\nspec: {blueprint: coop, port: 27030${node ? `, node: ${node}` : ''}}\n`;
    const split = await loadState(tree({ 'a.yaml': `${INSTALL}---\n${OVERLAY}---\n${BLUEPRINT}${inst('a', 'host-a')}${inst('b', 'host-b')}` }));
    expect(split.problems).toEqual([]);
    const clash = await loadState(tree({ 'a.yaml': `${INSTALL}---\n${OVERLAY}---\n${BLUEPRINT}${inst('a', 'host-a')}${inst('c')}` }));
    expect(clash.problems.map((p) => `${p.name}: ${p.message}`)).toEqual([
      expect.stringMatching(/^a: port 27030 is also claimed by instance\/c \(/),
      expect.stringMatching(/^c: port 27030 is also claimed by instance\/a \(/),
    ]);
  });

  it('reports a missing state directory instead of throwing', async () => {
    const state = await loadState(join(root, 'does-not-exist'));
    expect(state.problems).toEqual([expect.objectContaining({ line: 1, message: 'cannot read the state directory: ENOENT' })]);
  });
});

describe('spec hash', () => {
  it('canonical JSON sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[2,{"y":2,"z":1}]},"b":1}');
  });
  it('hash is order independent and content sensitive', () => {
    expect(specHash({ a: 1, b: 2 })).toBe(specHash({ b: 2, a: 1 }));
    expect(specHash({ a: 1 })).not.toBe(specHash({ a: '1' }));
  });
});
