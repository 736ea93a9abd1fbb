// The shape of the code, checked: which room may import which, and how long
// a file may grow. Reads the sources as text (every `from '…'` and
// `import('…')`), so a new import that breaks the direction fails here with
// the file, the import and the rule.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../controller/package-root.js';

const ROOT = packageRoot();

/** Every TypeScript source under a folder, tests left out. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The repository-relative files a source imports (relative imports only; packages and node: are left out). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, '.ts'));
}

/** Node modules a source imports. */
function nodeImportsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/from\s+'(node:[^']+)'/g)].map((m) => m[1]!);
}

const PRODUCT = sources('controller').filter((f) => !f.startsWith('controller/demo/'));
const under = (dir: string) => (f: string) => f.startsWith(`${dir}/`);

/** [rule, the files it binds, what they may not import]. */
const RULES: Array<[string, (f: string) => boolean, (imported: string) => boolean]> = [
  ['product code never imports the demo game server, the private host or the demo entry', (f) => PRODUCT.includes(f), under('controller/demo')],
  ['documents (the API) stand alone: only documents, the fs helpers, the host layout and the package root', under('controller/documents'), (i) => !['controller/documents/', 'controller/fs/', 'controller/host/'].some((d) => i.startsWith(d)) && i !== 'controller/package-root.ts'],
  ['the fs helpers and the host layout depend on nothing of left4me', (f) => under('controller/fs')(f) || under('controller/host')(f), (i) => !i.startsWith('controller/fs/') && !i.startsWith('controller/host/')],
  ['status (conditions, stores, leases) knows no reconciler, builds, systemd or cli', under('controller/status'), (i) => ['reconcile', 'builds', 'systemd', 'cli'].some((d) => i.startsWith(`controller/${d}/`))],
  ['systemd (adapter, unit rendering) knows no reconciler, builds or cli', under('controller/systemd'), (i) => ['reconcile', 'builds', 'cli'].some((d) => i.startsWith(`controller/${d}/`))],
  ['builds know no reconciler and no cli', under('controller/builds'), (i) => ['reconcile', 'cli'].some((d) => i.startsWith(`controller/${d}/`))],
  ['the game protocols (A2S, RCON) stand alone: only the fs helpers, the host layout and document names', under('controller/game'), (i) => !i.startsWith('controller/game/') && !i.startsWith('controller/fs/') && !i.startsWith('controller/host/') && i !== 'controller/documents/names.ts'],
  ['git sources (fetch, checkout, status) know no reconciler, builds, systemd, web or cli', under('controller/sources'), (i) => ['reconcile', 'builds', 'systemd', 'web', 'cli'].some((d) => i.startsWith(`controller/${d}/`))],
  ['the web reads git sources only through their types and the active-source reader: it never runs git', under('controller/web'), (i) => i.startsWith('controller/sources/') && !['controller/sources/types.ts', 'controller/sources/active.ts'].includes(i)],
  ['the reconciler never imports the cli', under('controller/reconcile'), under('controller/cli')],
  ['the doctor reads the host through its probe: it imports only itself, the host layout, the unit names and the package root', under('controller/doctor'), (i) => !i.startsWith('controller/doctor/') && !i.startsWith('controller/host/') && !['controller/systemd/units.ts', 'controller/package-root.ts'].includes(i)],
  ['the web service reaches the host only through documents and status: no reconciler, builds, systemd or cli', under('controller/web'), (i) => ['reconcile', 'builds', 'systemd', 'cli'].some((d) => i.startsWith(`controller/${d}/`))],
  ['backups (the archive and what it holds) stand alone: only themselves, the fs helpers and the host layout; the cli finds the host', under('controller/backup'), (i) => !['controller/backup/', 'controller/fs/', 'controller/host/'].some((d) => i.startsWith(d))],
  ['plan() is pure: it imports no executor, no host access and no systemd', (f) => f === 'controller/reconcile/plan.ts', (i) => i.startsWith('controller/reconcile/instance/') || i.startsWith('controller/systemd/') || i.startsWith('controller/builds/')],
];

describe('the shape of the code', () => {
  for (const [rule, binds, forbidden] of RULES) {
    it(rule, () => {
      const broken = sources('controller')
        .filter(binds)
        .flatMap((f) => importsOf(f).filter(forbidden).map((i) => `${f} imports ${i}`));
      expect(broken).toEqual([]);
    });
  }

  it('the wire types the dashboard shares with the web service (web/wire.ts) import types only, so the bundle pulls no server code', () => {
    const text = readFileSync(join(ROOT, 'controller/web/wire.ts'), 'utf8');
    expect(text.split('\n').filter((l) => l.startsWith('import ') && !l.startsWith('import type '))).toEqual([]);
  });

  it('plan() reads no file, clock or network (no node: modules)', () => {
    expect(nodeImportsOf('controller/reconcile/plan.ts')).toEqual([]);
  });

  it('no source file passes 400 lines unless its header names the one concern it holds', () => {
    const long = sources('controller')
      .map((f) => ({ f, text: readFileSync(join(ROOT, f), 'utf8') }))
      .filter(({ text }) => text.split('\n').length > 400 && !/^(\/\/|\/\*\*?| \*).*One concern:/m.test(text.split('\n').slice(0, 30).join('\n')))
      .map(({ f, text }) => `${f} (${text.split('\n').length} lines)`);
    expect(long).toEqual([]);
  });
});
