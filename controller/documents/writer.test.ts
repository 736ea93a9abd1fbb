import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { loadState } from './loader.js';
import { formatProblem } from './problems.js';
import { applyDocuments, deleteDocument, type WriteResult } from './writer.js';

const demo = join(packageRoot(), 'state.example', 'demo');
const scratch = mkdtempSync(join(tmpdir(), 'left4me-writer-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
function fresh(): string {
  const state = join(scratch, `s${++n}`);
  cpSync(demo, state, { recursive: true });
  return state;
}

const instance = (name: string, extra = '') =>
  `apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: ${name}\n  owner: alice\nspec:\n  blueprint: demo-coop\n  state: stopped\n${extra}`;

const problems = (r: WriteResult) => (r.refused?.problems ?? []).map(formatProblem);

describe('applyDocuments', () => {
  it('edits several documents of one file at once, whatever its separators, and leaves every other byte', async () => {
    const state = fresh();
    const file = join(state, 'instances', 'mixed.yaml');
    const parts = [
      '%YAML 1.2\n---\n# a keeps its directive\n',
      instance('a'),
      '...\n# between, after an end marker\n--- {apiVersion: left4me/v1, kind: Instance, metadata: {name: b, owner: x}, spec: {blueprint: demo-coop}}\n',
      '--- # c\n',
      instance('c'),
      '---\n# d, no newline at the end\n',
      instance('d').trimEnd(),
    ];
    writeFileSync(file, parts.join(''));
    const input = `${instance('b', '  port: 27070\n')}---\n${instance('d', '  port: 27071\n')}`;
    const r = await applyDocuments(state, [{ name: 'in.yaml', text: input }]);
    expect(r.refused).toBeUndefined();
    expect(r.outcomes.map((o) => `${o.name} ${o.outcome}`)).toEqual(['b configured', 'd configured']);
    expect(readFileSync(file, 'utf8')).toBe(
      [
        parts[0],
        parts[1],
        '...\n# between, after an end marker\n',
        instance('b', '  port: 27070\n'),
        parts[3],
        parts[4],
        '---\n',
        instance('d', '  port: 27071\n'),
      ].join(''),
    );
    const loaded = await loadState(state);
    expect(loaded.problems).toEqual([]);
    expect(loaded.instances.get('b')?.spec.port).toBe(27070);
    expect(loaded.instances.get('d')?.spec.port).toBe(27071);
  });

  it('maps problems of two documents landing in the same file back to their own input lines', async () => {
    const state = fresh();
    writeFileSync(join(state, 'instances', 'pair.yaml'), `# long\n# header\n# comment\n${instance('a')}---\n${instance('b')}`);
    const input = `${instance('b', '  port: 2000\n')}---\n\n${instance('a', '  updatePolicy: sometimes\n')}`;
    const r = await applyDocuments(state, [{ name: 'in.yaml', text: input }]);
    const [first, second, ...rest] = problems(r);
    expect(first).toBe('in.yaml:9:3  instance/b  /spec/port  port 2000 is outside the game port range 27015-27115');
    expect(second).toMatch(/^in\.yaml:20:17  instance\/a  \/spec\/updatePolicy  must be one of /);
    expect(rest).toEqual([]);
  });

  it('refuses the same document twice in the input, and a document that is not a map, at the input lines', async () => {
    const state = fresh();
    const twice = await applyDocuments(state, [
      { name: 'one.yaml', text: instance('x') },
      { name: 'two.yaml', text: `# again\n${instance('x')}` },
    ]);
    expect(problems(twice)).toEqual(['two.yaml:5:3  instance/x  /metadata/name  instance/x is also defined at one.yaml:4 in this input; keep one of them']);
    const list = await applyDocuments(state, [{ name: 'l.yaml', text: `${instance('ok')}---\n\n- a\n- b\n` }]);
    expect(problems(list)).toEqual(['l.yaml:11:1  -  /  a document must be a map with apiVersion, kind, metadata and spec (got a list)']);
    expect(existsSync(join(state, 'instances', 'ok.yaml'))).toBe(false);
  });

  it('keeps the text of an unchanged document that shares a file with a changed one', async () => {
    const state = fresh();
    const file = join(state, 'instances', 'pair.yaml');
    const a = `# a, as its author wrote it\n${instance('a', '  cvars: {hostname: "A"}\n')}`;
    writeFileSync(file, `${a}---\n${instance('b')}`);
    // a in another style (block map, no comment): the same document, so its text stays.
    const input = `${instance('a', '  cvars:\n    hostname: A\n')}---\n${instance('b', '  port: 27080\n')}`;
    const r = await applyDocuments(state, [{ name: 'in.yaml', text: input }]);
    expect(r.outcomes.map((o) => `${o.name} ${o.outcome}`)).toEqual(['a unchanged', 'b configured']);
    expect(readFileSync(file, 'utf8')).toBe(`${a}---\n${instance('b', '  port: 27080\n')}`);
  });

  it('never overwrites a file that holds something else: a new document takes the next free name', async () => {
    const state = fresh();
    writeFileSync(join(state, 'instances', 'x.yaml'), `# misnamed\n${instance('y')}`);
    const r = await applyDocuments(state, [{ name: 'in.yaml', text: instance('x') }]);
    expect(r.outcomes).toEqual([{ kind: 'Instance', name: 'x', outcome: 'created' }]);
    expect(readFileSync(join(state, 'instances', 'x.yaml'), 'utf8')).toBe(`# misnamed\n${instance('y')}`);
    expect(readFileSync(join(state, 'instances', 'x-2.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=https:\/\/left4me\.dev\/schemas\/v1\/instance\.schema\.json\napiVersion/);
  });

  it('keeps the mode of a file it replaces, and creates a missing <kinds>/ directory', async () => {
    const state = fresh();
    const file = join(state, 'instances', 'demo-1.yaml');
    chmodSync(file, 0o600);
    rmSync(join(state, 'overlays', 'demo-base.yaml'));
    rmSync(join(state, 'blueprints'), { recursive: true });
    const r = await applyDocuments(state, [
      { name: 'i.yaml', text: instance('demo-1') },
      { name: 'bp.yaml', text: readFileSync(join(demo, 'blueprints', 'demo-coop.yaml'), 'utf8') },
      { name: 'o.yaml', text: readFileSync(join(demo, 'overlays', 'demo-base.yaml'), 'utf8') },
    ]);
    expect(r.refused).toBeUndefined();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(state, 'blueprints'))).toEqual(['demo-coop.yaml']);
    expect((await loadState(state)).problems).toEqual([]);
  });

  it('passes problems already in the tree (unreadable files too) back as warnings', async () => {
    const state = fresh();
    writeFileSync(join(scratch, 'elsewhere.yaml'), instance('far'));
    symlinkSync(join(scratch, 'elsewhere.yaml'), join(state, 'instances', 'far.yaml'));
    writeFileSync(join(state, 'junk.yaml'), 'kind: Overlay\n');
    const r = await applyDocuments(state, [{ name: 'in.yaml', text: instance('x') }]);
    expect(r.refused).toBeUndefined();
    expect([...new Set(r.warnings.map((p) => p.file))].sort()).toEqual([join(state, 'instances', 'far.yaml'), join(state, 'junk.yaml')]);
  });

  it('drops a byte order mark, which YAML only allows at the start of a file, not after the header', async () => {
    const state = fresh();
    const r = await applyDocuments(state, [{ name: 'bom.yaml', text: `\uFEFF${instance('x')}` }]);
    expect(r.refused).toBeUndefined();
    expect(readFileSync(join(state, 'instances', 'x.yaml'), 'utf8')).not.toContain('\uFEFF');
    expect((await loadState(state)).problems).toEqual([]);
  });

  it('writes nothing in a dry run', async () => {
    const state = fresh();
    const r = await applyDocuments(state, [{ name: 'in.yaml', text: instance('x') }], { dryRun: true });
    expect(r.outcomes).toEqual([{ kind: 'Instance', name: 'x', outcome: 'created' }]);
    expect(existsSync(join(state, 'instances', 'x.yaml'))).toBe(false);
  });
});

describe('deleteDocument', () => {
  it('removes every copy of a duplicated document', async () => {
    const state = fresh();
    writeFileSync(join(state, 'instances', 'again.yaml'), `${instance('demo-2')}---\n${instance('z')}`);
    const r = await deleteDocument(state, 'Instance', 'demo-2');
    expect(r.outcomes).toEqual([{ kind: 'Instance', name: 'demo-2', outcome: 'deleted' }]);
    expect(existsSync(join(state, 'instances', 'demo-2.yaml'))).toBe(false);
    expect(readFileSync(join(state, 'instances', 'again.yaml'), 'utf8')).toBe(`---\n${instance('z')}`);
    expect((await loadState(state)).problems).toEqual([]);
  });

  it('refuses to delete an overlay a blueprint stacks, and the only installation', async () => {
    const state = fresh();
    const overlay = await deleteDocument(state, 'Overlay', 'demo-rates');
    expect(overlay.refused?.message).toBe('overlay/demo-rates is still used by blueprint/demo-coop: change or delete those first; nothing was deleted');
    const installation = await deleteDocument(state, 'Installation', 'demo');
    expect(installation.refused?.message).toMatch(/^installation\/demo is still used by blueprint\/demo-coop/);
    expect(existsSync(join(state, 'overlays', 'demo-rates.yaml'))).toBe(true);
  });

  it('says when the state directory is missing instead of creating it', async () => {
    const missing = join(scratch, 'missing');
    const r = await deleteDocument(missing, 'Instance', 'x');
    expect(r.refused?.message).toBe(`the state directory ${missing} does not exist: create it first, or name another one with --state DIR`);
    expect(existsSync(missing)).toBe(false);
  });
});
