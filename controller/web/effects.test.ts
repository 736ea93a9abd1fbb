import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState } from '../documents/loader.js';
import type { DocumentStatus } from '../status/store.js';
import { instanceEffects } from './effects.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-effects-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const BASE = [
  'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: steam}\nspec: {source: steam}\n',
  'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: maps}\nspec: {sources: [{workshop: {items: [1]}}]}\n',
  'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: coop}\nspec: {overlays: [maps]}\n',
];
const inst = (name: string, spec = '', meta = '') => `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: ${name}${meta}}\nspec: {blueprint: coop${spec}}\n`;

async function state(docs: string[]) {
  const dir = join(root, `t${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'all.yaml'), docs.join('---\n'));
  return loadState(dir);
}

const up = (players?: number): DocumentStatus => ({ kind: 'Instance', name: '', conditions: [], events: [], unit: { activeState: 'active', subState: 'running' }, ...(players !== undefined ? { players } : {}) });
const down: DocumentStatus = { kind: 'Instance', name: '', conditions: [], events: [], unit: { activeState: 'inactive', subState: 'dead' } };

describe('instanceEffects: what the controller would do, from documents and status', () => {
  it('reads each rollout rule from updatePolicy, players and the annotations', async () => {
    const before = await state([...BASE, inst('a'), inst('b', ', updatePolicy: manual'), inst('c'), inst('d'), inst('e'), inst('f'), inst('g'), inst('h', ', state: stopped')]);
    const after = await state([
      BASE[0]!,
      // The overlay changes: every instance on coop has a new config.
      BASE[1]!.replace('items: [1]', 'items: [2]'),
      BASE[2]!,
      inst('a'),
      inst('b', ', updatePolicy: manual'),
      inst('c', ', state: stopped'),
      inst('d', '', ', annotations: {left4me/resetAt: "2030-01-01T00:00:00Z"}'),
      inst('e', ', updatePolicy: immediate'),
      inst('f'),
      inst('g', ', port: 99999'),
      inst('h', ', state: stopped'),
      inst('new'),
    ]);
    const status = new Map<string, DocumentStatus | undefined>([['a', up(2)], ['b', up(2)], ['c', up(2)], ['d', up(2)], ['e', up(2)], ['f', up(0)], ['g', up(1)], ['h', down]]);
    expect(instanceEffects(before, after, status).map((e) => [e.instance, e.effect])).toEqual([
      ['a', 'restartsWhenEmpty'],
      ['b', 'waitsForManualRestart'],
      ['c', 'stops'],
      ['d', 'resets'],
      ['e', 'restarts'],
      ['f', 'restarts'],
      ['g', 'leftAlone'],
      ['h', 'updatedWhileStopped'],
      ['new', 'starts'],
    ]);
  });

  it('says nothing of instances the change leaves as they are, and names removals', async () => {
    const before = await state([...BASE, inst('a'), inst('b')]);
    const after = await state([...BASE, inst('a', ', maxUpdateDelay: 1h')]);
    expect(instanceEffects(before, after, new Map([['a', up(3)]]))).toEqual([{ instance: 'b', effect: 'removed', message: 'stops and is removed (unit files removed, writable layer moved to the trash, ports released)' }]);
  });
});
