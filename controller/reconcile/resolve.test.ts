import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { controllerConfig } from '../config.js';
import { loadState } from '../documents/loader.js';
import { resolveInstance, type ReadyBuilds } from './resolve.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-resolve-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cfg = controllerConfig();
const lease = { port: 27015, clientPort: 26900 };
const allBuilt: ReadyBuilds = { ready: () => 'a'.repeat(16), failure: () => undefined, installation: () => ({ ready: 'b'.repeat(16) }) };
const nothingBuilt: ReadyBuilds = { ready: () => undefined, failure: () => undefined, installation: () => ({}) };

/** A state tree whose blueprint stacks `count` overlays with 63-character names. */
async function stack(count: number, dir: string) {
  const names = Array.from({ length: count }, (_, i) => `${'layer'.padEnd(58, 'x')}${String(i).padStart(5, '0')}`);
  const overlays = names.map((n) => `apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: ${n}}\nspec:\n  sources: [{files: [{path: a.cfg, content: x}]}]\n`);
  writeFileSync(join(dir, 'overlays.yaml'), overlays.join('---\n'));
  writeFileSync(
    join(dir, 'rest.yaml'),
    [
      'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: l4d2}\nspec: {source: steam}\n',
      `apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: tall}\nspec:\n  overlays: [${names.join(', ')}]\n`,
      'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: versus-1}\nspec: {blueprint: tall}\n',
    ].join('---\n'),
  );
  const state = await loadState(dir);
  expect(state.problems).toEqual([]);
  return state;
}

describe('resolveInstance', () => {
  it('reports a stack whose mount options pass the kernel page as Invalid, naming the blueprint file:line, instead of throwing', async () => {
    const dir = mkdtempSync(join(root, 'tall-'));
    const state = await stack(40, dir);
    const doc = state.instances.get('versus-1')!;
    for (const builds of [allBuilt, nothingBuilt]) {
      const r = resolveInstance(state, doc, lease, 'pw', cfg, builds, 1879048192);
      expect(r).toMatchObject({ blocked: true, reason: 'Invalid', source: { file: join(dir, 'rest.yaml'), line: 6 } });
      expect('blocked' in r && r.message).toMatch(
        new RegExp(`^blueprint tall \\(${join(dir, 'rest.yaml')}:6\\) cannot run as instance versus-1 on this host: instance versus-1 overlays: the overlay mount options are \\d{4} bytes, more than the kernel's 4095; use fewer overlays or shorter layout paths$`),
      );
    }
  });

  it("carries the server template's stamp in the instance's files, so another sandbox profile is a change its update policy applies", async () => {
    const state = await stack(1, mkdtempSync(join(root, 'profile-')));
    const doc = state.instances.get('versus-1')!;
    const files = (c: typeof cfg) => {
      const r = resolveInstance(state, doc, lease, 'pw', c, allBuilt, 1879048192);
      if ('blocked' in r) throw new Error(r.message);
      return r.intent.files;
    };
    const strict = files(cfg);
    const compat = files(controllerConfig({ units: { server: { sandbox: 'compat' } } }));
    const changed = [...strict.keys()].filter((p) => strict.get(p) !== compat.get(p));
    expect(changed).toEqual([`/etc/systemd/system/left4me-server@versus-1.service.d/10-user.conf`]);
    expect(strict.get(changed[0]!)).toMatch(/^# Runs under left4me-server@\.service strict sha256:[0-9a-f]{16}:/m);
    expect(compat.get(changed[0]!)).toMatch(/^# Runs under left4me-server@\.service compat sha256:[0-9a-f]{16}:/m);
    // The same configuration, the same files: a resync changes nothing.
    expect(files(controllerConfig())).toEqual(strict);
  });

  it('resolves the same blueprint with fewer layers', async () => {
    const state = await stack(30, mkdtempSync(join(root, 'short-')));
    const r = resolveInstance(state, state.instances.get('versus-1')!, lease, 'pw', cfg, allBuilt, 1879048192);
    expect('blocked' in r).toBe(false);
  });
});
