import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installationOf, instancesUsing } from './dependencies.js';
import { loadState } from './loader.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-deps-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const doc = (kind: string, name: string, spec: string) => `apiVersion: left4me/v1\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
async function load(...docs: string[]) {
  writeFileSync(join(dir, 's.yaml'), docs.join('---\n'));
  return loadState(dir);
}

const base = [
  doc('Installation', 'main', '{source: directory, path: /srv/left4me/installations/l4d2}'),
  doc('Overlay', 'maps', '{sources: [{files: [{path: a.cfg, content: x}]}]}'),
  doc('Overlay', 'admins', '{sources: [{files: [{path: b.cfg, content: y}]}]}'),
  doc('Blueprint', 'coop', '{overlays: [maps]}'),
  doc('Blueprint', 'versus', '{overlays: [maps, admins], installation: main}'),
  doc('Instance', 'c1', '{blueprint: coop}'),
  doc('Instance', 'v1', '{blueprint: versus}'),
  doc('Instance', 'v2', '{blueprint: versus}'),
];

describe('what uses what', () => {
  it('a blueprint naming no installation runs on the only one, and on none when there are several', async () => {
    const one = await load(...base);
    expect(installationOf(one.blueprints.get('coop')!, one)).toBe('main');
    // The loader refuses such a blueprint; the rule still answers for the copy resolve sees.
    const two = await load(...base, doc('Installation', 'beta', '{source: directory, path: /srv/left4me/installations/beta}'));
    expect(two.invalid.has('blueprint/coop')).toBe(true);
    expect(installationOf(one.blueprints.get('coop')!, two)).toBeUndefined();
    expect(installationOf(two.blueprints.get('versus')!, two)).toBe('main');
  });

  it('instances using an overlay, an installation (named or implied) and a blueprint', async () => {
    const s = await load(...base);
    expect(instancesUsing(s, { kind: 'overlay', name: 'maps' })).toEqual(['c1', 'v1', 'v2']);
    expect(instancesUsing(s, { kind: 'overlay', name: 'admins' })).toEqual(['v1', 'v2']);
    expect(instancesUsing(s, { kind: 'installation', name: 'main' })).toEqual(['c1', 'v1', 'v2']);
    expect(instancesUsing(s, { kind: 'blueprint', name: 'coop' })).toEqual(['c1']);
    expect(instancesUsing(s, { kind: 'overlay', name: 'nothing' })).toEqual([]);
  });
});
