// Issue 13: the package as users install it. `npm pack` (its own clean build)
// in a copy of the source tree, then `npm install -g <tarball> --omit=dev`
// into a scratch prefix, then the installed `left4me` validates the example
// state and converges an instance on a private host. Beside it, what the
// tarball holds is checked against what production code imports: every
// import is a shipped file or a dependency, every dependency is imported,
// no test, tool, demo or source map ships.
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_INSTALLATION_ROOT } from '../controller/demo/game-server/installation.js';
import { packageRoot } from '../controller/package-root.js';
import { releaseTarball } from './support/pack.js';
import { BASE_DOCS, bootDemoHost, instanceDoc, queryServer, UNIT_DIR, waitFor, type DemoHost } from './support/demo-host.js';

const run = promisify(execFile);
// Private hosts share the machine's network namespace: this suite leases its own ports, apart from the others'.
const PORTS = ['--port-range', '28190-28199', '--client-port-range', '29190-29199'];

const repo = packageRoot();
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  name: string;
  bin: { left4me: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
let scratch: string;
/** The tarball's files, relative to its package/ directory, sorted. */
let shipped: string[];
/** Where `npm install -g` put the package, and its launcher. */
let installed: string;
let bin: string;

/** Runs a command to completion; rejects with its output on a non-zero exit. */
async function sh(cmd: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { cwd, maxBuffer: 64 * 2 ** 20, env: { ...process.env, NO_COLOR: '1' } });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'left4me-package-'));
  const tarball = await releaseTarball();
  shipped = (await sh('tar', ['-tzf', tarball], scratch)).stdout
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith('/'))
    .map((l) => l.replace(/^package\//, ''))
    .sort();
  const prefix = join(scratch, 'prefix');
  // As an operator installs it; the npm cache answers what it can, the registry the rest.
  await sh('npm', ['install', '-g', tarball, '--omit=dev', '--prefix', prefix, '--prefer-offline', '--no-fund', '--no-audit'], scratch);
  installed = join(prefix, 'lib', 'node_modules', manifest.name);
  bin = join(prefix, 'bin', 'left4me');
}, 150_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Every module specifier a JavaScript file names (static and dynamic imports, re-exports). */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** `@scope/name/sub/path.js` → `@scope/name`; `ajv/dist/2020.js` → `ajv`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** A module whose compiled text is only `export {};`: a file of types, erased at run time. */
function typesOnly(file: string): boolean {
  const { statements } = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
  const only = statements[0];
  return (
    statements.length === 1 &&
    only !== undefined &&
    ts.isExportDeclaration(only) &&
    only.moduleSpecifier === undefined &&
    only.exportClause !== undefined &&
    ts.isNamedExports(only.exportClause) &&
    only.exportClause.elements.length === 0
  );
}

/**
 * Walks the import graph of the installed package from its launcher. Returns
 * the shipped files reached and the bare imports met; a relative import that
 * names no shipped file is a problem (the installed CLI would fail on it).
 */
/** Bare imports of the dashboard's sources (ui/), by package name: its libraries, which esbuild bundles into dist/ui. */
function dashboardImports(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const walk = (dir: string) => {
    for (const e of readdirSync(join(repo, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) {
        for (const m of readFileSync(join(repo, rel), 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)'([^.'][^']*)'/g)) {
          const spec = m[1]!;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          if (!isBuiltin(name)) out.set(name, new Set([...(out.get(name) ?? []), rel]));
        }
      }
    }
  };
  walk('ui');
  return out;
}

function importGraph(root: string, entry: string): { reached: Set<string>; bare: Map<string, Set<string>>; missing: string[] } {
  const reached = new Set<string>();
  const bare = new Map<string, Set<string>>();
  const missing: string[] = [];
  const visit = (rel: string) => {
    if (reached.has(rel)) return;
    reached.add(rel);
    for (const s of specifiers(join(root, rel))) {
      if (s.startsWith('.')) {
        const target = relative(root, resolve(root, dirname(rel), s));
        if (existsSync(join(root, target))) visit(target);
        else missing.push(`${rel} imports ${s}`);
      } else if (!isBuiltin(s)) {
        const name = packageName(s);
        if (!bare.has(name)) bare.set(name, new Set());
        bare.get(name)!.add(rel);
      }
    }
  };
  visit(entry);
  return { reached, bare, missing };
}

describe('the packed tarball', () => {
  it('holds the launcher, the compiled controller, the dashboard bundle, schemas, deploy files and examples — and no tests, tools, demo, sources or maps', () => {
    expect(shipped).toContain('package.json');
    expect(shipped).toContain('README.md');
    expect(shipped).toContain(manifest.bin.left4me);
    expect(shipped).toContain('dist/controller/cli/main.js');
    expect(shipped).toContain('dist/ui/index.html');
    for (const f of ['deploy/left4me-controller.service', 'deploy/left4me-web.service', 'deploy/left4me.sysusers.conf', 'deploy/left4me.tmpfiles.conf']) {
      expect(shipped).toContain(f);
    }
    expect(shipped.filter((f) => f.startsWith('schemas/') && f.endsWith('.json')).length).toBeGreaterThan(0);
    expect(shipped.filter((f) => f.startsWith('state.example/') && f.endsWith('.yaml')).length).toBeGreaterThan(0);
    // The dashboard's manifest names its assets; each one (and its precompressed forms) ships.
    const ui = JSON.parse(readFileSync(join(installed, 'dist/ui/manifest.json'), 'utf8')) as { entry: string; assets: Array<{ file: string }> };
    expect(ui.assets.map((a) => a.file)).toContain(ui.entry);
    for (const { file } of ui.assets) {
      for (const f of [file, `${file}.gz`, `${file}.br`]) expect(shipped).toContain(`dist/ui/assets/${f}`);
    }

    const unwanted = shipped.filter(
      (f) =>
        /\.test\.[cm]?[jt]s$/.test(f) || // tests
        /(^|\/)test\//.test(f) || // test support, benchmarks (dist/test/…)
        f.startsWith('dist/controller/demo/') || // the demo host, its game server and private systemd (npm start, tests)
        f.startsWith('dist/controller/tools/') || // build tools (dashboard bundle, reference docs)
        f === 'dist/controller/doctor/prerequisites.js' || // what npm start and the test suite need of this machine
        f.endsWith('.map') ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
        f.startsWith('ui/') || // the dashboard's sources: dist/ui is their bundle
        (f.startsWith('controller/') && f !== manifest.bin.left4me) ||
        f.startsWith('node_modules/') ||
        f.startsWith('.'),
    );
    expect(unwanted).toEqual([]);
    // What a user installs is what was packed.
    for (const f of shipped) expect(existsSync(join(installed, f)), f).toBe(true);
  });

  it('every shipped module is reached from the launcher, every import resolves, and the bare imports are exactly the dependencies', () => {
    const { reached, bare, missing } = importGraph(installed, manifest.bin.left4me!);
    expect(missing).toEqual([]);
    // Nothing unused ships: a compiled module the CLI never loads is dead weight, except
    // files of types alone, which compile to an empty module (shared shapes such as web/wire.ts).
    const unreached = shipped.filter((f) => f.endsWith('.js') && f.startsWith('dist/controller/') && !reached.has(f) && !typesOnly(join(installed, f)));
    expect(unreached).toEqual([]);

    // The dashboard is production code too: its sources (bundled into dist/ui by esbuild at pack time) import
    // their libraries, and everything production code imports is a dependency.
    for (const [name, files] of dashboardImports()) bare.set(name, new Set([...(bare.get(name) ?? []), ...files]));
    const imported = [...bare.keys()].sort();
    const deps = Object.keys(manifest.dependencies).sort();
    // Imported but not a dependency: `npm install --omit=dev` leaves it out and the CLI fails to load.
    expect(
      imported.filter((n) => !deps.includes(n)).map((n) => `${n} (imported by ${[...bare.get(n)!].join(', ')})`),
      'production imports missing from "dependencies"',
    ).toEqual([]);
    // A dependency nothing imports: every user downloads it for nothing.
    expect(deps.filter((n) => !imported.includes(n)), 'unused "dependencies"').toEqual([]);
    expect(Object.keys(manifest.devDependencies).filter((n) => deps.includes(n))).toEqual([]);
  });

  it('installs with --omit=dev: the dependencies are there, the build and test tools are not', () => {
    for (const dep of Object.keys(manifest.dependencies)) expect(existsSync(join(installed, 'node_modules', dep, 'package.json')), dep).toBe(true);
    for (const dev of ['typescript', 'vitest', 'esbuild', 'gamedig', 'playwright-core', 'rcon-srcds']) {
      expect(existsSync(join(installed, 'node_modules', dev)), dev).toBe(false);
    }
  });

  it('the installed left4me validates the example state', async () => {
    const { stdout } = await sh(bin, ['validate', join(installed, 'state.example')], scratch);
    expect(stdout).toMatch(/state\.example: \d+ documents in \d+ files are valid\n$/);
    // And refuses a broken document with the file and position.
    const broken = join(scratch, 'broken');
    cpSync(join(installed, 'state.example', 'demo'), broken, { recursive: true });
    writeFileSync(join(broken, 'instances', 'bad.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: bad}\nspec: {blueprint: nope}\n');
    await expect(sh(bin, ['validate', broken], scratch)).rejects.toThrow(/bad\.yaml:\d+:\d+/);
  });
});

describe('the installed left4me on a private host', () => {
  let demo: DemoHost;

  beforeAll(async () => {
    demo = await bootDemoHost();
    await demo.write('base.yaml', BASE_DOCS);
    await demo.write('instances/pkg.yaml', instanceDoc('pkg', ['cvars: {hostname: "Packaged"}']));
  }, 60_000);

  afterAll(async () => {
    await demo?.stop();
  });

  it('controller --once converges an instance: builds, units, a running server answering A2S', async () => {
    const child = spawn(
      bin,
      ['controller', '--once', '--state', demo.stateDir, '--fs-root', demo.host.root, '--bus', demo.host.busAddress, '--unit-dir', UNIT_DIR, '--installation-root', DEMO_INSTALLATION_ROOT, '--log-level', 'warn', ...PORTS],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code, out).toBe(0);
    expect(out).toContain('reconciled once');

    expect((await demo.server('pkg')).activeState).toBe('active');
    const leases = JSON.parse(readFileSync(join(demo.host.dirs.varLib, 'status', 'leases.json'), 'utf8')) as { leases: Record<string, { port: number }> };
    const port = leases.leases.pkg!.port;
    expect(port).toBeGreaterThanOrEqual(28190);
    expect(port).toBeLessThanOrEqual(28199);
    const q = await waitFor('A2S answer', () => queryServer(port).catch(() => undefined), 30_000);
    expect(q.name).toBe('Packaged');
  }, 90_000);
});
