import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState } from '../documents/loader.js';
import { changedKeys } from './changed-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-changed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const docs = (o: { overlayText?: string; bpCvar?: number; extra?: string; invalidA?: boolean } = {}) => `apiVersion: left4me/v1
kind: Installation
metadata: {name: demo}
spec: {source: directory, path: /srv/left4me/installations/l4d2}
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: o1}
spec: {sources: [{files: [{path: a.cfg, content: "${o.overlayText ?? 'x'}"}]}]}
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: o2}
spec: {sources: [{files: [{path: b.cfg, content: "y"}]}]}
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: bp1}
spec: {overlays: [o1], cvars: {sv_alltalk: ${o.bpCvar ?? 0}}}
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: bp2}
spec: {overlays: [o2]}
---
apiVersion: left4me/v1
kind: Instance
metadata: {name: a}
spec: {blueprint: bp1${o.invalidA ? ', port: "x"' : ''}}
---
apiVersion: left4me/v1
kind: Instance
metadata: {name: b}
spec: {blueprint: bp2}
${o.extra ?? ''}`;

async function load(text: string) {
  writeFileSync(join(dir, 's.yaml'), text);
  return loadState(dir);
}

describe('changedKeys', () => {
  it('nothing changed: nothing to enqueue', async () => {
    expect([...changedKeys(await load(docs()), await load(docs()))]).toEqual([]);
  });
  it('an overlay change reaches the instances stacking it, and only them', async () => {
    expect([...changedKeys(await load(docs()), await load(docs({ overlayText: 'z' })))].sort()).toEqual(['instance/a', 'overlay/o1']);
  });
  it('a blueprint change enqueues its instances', async () => {
    expect([...changedKeys(await load(docs()), await load(docs({ bpCvar: 1 })))].sort()).toEqual(['blueprint/bp1', 'instance/a']);
  });
  it('added and invalid documents are keys too', async () => {
    const extra = 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: c}\nspec: {blueprint: bp2}\n';
    expect([...changedKeys(await load(docs()), await load(docs({ extra: `---\n${extra}` })))]).toEqual(['instance/c']);
    expect([...changedKeys(await load(docs()), await load(docs({ invalidA: true })))].sort()).toEqual(['instance/a']);
  });
  it('installations: the same rule as resolve (a blueprint naming none runs on the only one)', async () => {
    const second = 'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: other}\nspec: {source: directory, path: /srv/left4me/installations/other}\n';
    const third = (path: string) => `apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: third}\nspec: {source: directory, path: /srv/left4me/installations${path}}\n`;
    // A second installation: blueprints naming none no longer know which to run on (and turn invalid).
    expect([...changedKeys(await load(docs()), await load(docs({ extra: `---\n${second}` })))].sort()).toEqual(['blueprint/bp1', 'blueprint/bp2', 'installation/other', 'instance/a', 'instance/b']);
    // With several, a change to one that no blueprint runs on reaches no instance.
    const two = docs({ extra: `---\n${second}---\n${third('/t1')}` });
    expect([...changedKeys(await load(two), await load(docs({ extra: `---\n${second}---\n${third('/t2')}` })))]).toEqual(['installation/third']);
  });
});
