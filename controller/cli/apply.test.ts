import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { main } from './main.js';

const demo = join(packageRoot(), 'state.example', 'demo');
const scratch = mkdtempSync(join(tmpdir(), 'left4me-apply-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
/** A private state directory copied from state.example/demo, and a place for input files beside it. */
function fresh(): { state: string; dir: string; input(name: string, text: string): string } {
  const dir = join(scratch, `t${++n}`);
  const state = join(dir, 'state');
  cpSync(demo, state, { recursive: true });
  return {
    state,
    dir,
    input(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

async function cli(argv: string[], stdin?: string) {
  let out = '';
  let err = '';
  const io = {
    out: (t: string) => void (out += t),
    err: (t: string) => void (err += t),
    readStdin: async () => stdin ?? '',
  };
  const code = await main(argv, io);
  return { code, out, err };
}

/** Every file under dir (hidden ones too) with the SHA-256 of its bytes: equal maps mean nothing was written. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out[r] = e.isSymbolicLink() ? 'link' : createHash('sha256').update(readFileSync(join(d, e.name))).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

const instance = (name: string, extra = '') =>
  `apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: ${name}\n  owner: alice\nspec:\n  blueprint: demo-coop\n  state: stopped\n${extra}`;

describe('left4me apply', () => {
  it('creates a new document in <kinds>/<name>.yaml, with the schema hint by its $id', async () => {
    const t = fresh();
    const file = t.input('new.yaml', `# yaml-language-server: $schema=../schemas/instance.schema.json\n# A server for the league.\n${instance('versus-9')}`);
    const r = await cli(['apply', '-f', file, '--state', t.state]);
    expect(r).toEqual({ code: 0, out: 'instance/versus-9 created\n', err: '' });
    expect(readFileSync(join(t.state, 'instances/versus-9.yaml'), 'utf8')).toBe(
      `# yaml-language-server: $schema=https://left4me.dev/schemas/v1/instance.schema.json\n# A server for the league.\n${instance('versus-9')}`,
    );
    expect((await cli(['validate', t.state])).code).toBe(0);
  });

  it('configures a document where it is written, and says unchanged (writing nothing) when it is the same', async () => {
    const t = fresh();
    const target = join(t.state, 'instances/demo-1.yaml');
    const same = await cli(['apply', '-f', target, '--state', t.state]);
    expect(same).toEqual({ code: 0, out: 'instance/demo-1 unchanged\n', err: '' });

    const before = hashes(t.state);
    // What `get -o yaml` prints has the defaults filled in: still the same document.
    const got = await cli(['get', 'instance', 'demo-1', '-o', 'yaml', '--state', t.state]);
    expect(await cli(['apply', '-f', '-', '--state', t.state], got.out)).toMatchObject({ code: 0, out: 'instance/demo-1 unchanged\n' });
    expect(hashes(t.state)).toEqual(before);

    const file = t.input('demo-1.yaml', instance('demo-1'));
    expect(await cli(['apply', '-f', file, '--state', t.state])).toEqual({ code: 0, out: 'instance/demo-1 configured\n', err: '' });
    // A one-document file is replaced; its editor hint stays.
    expect(readFileSync(target, 'utf8')).toBe(`# yaml-language-server: $schema=../../../schemas/instance.schema.json\n${instance('demo-1')}`);
    expect(readdirSync(join(t.state, 'instances')).sort()).toEqual(['demo-1.yaml', 'demo-2.yaml', 'demo-3.yaml']);
  });

  it('replaces one document of a multi-document file, keeping the others and their comments byte for byte', async () => {
    const t = fresh();
    const head = `# yaml-language-server: $schema=https://left4me.dev/schemas/v1/instance.schema.json\n# Two servers, one file.\n${instance('a', '  # the first\n  cvars: {hostname: "A"}\n')}`;
    const tail = `---\n# the third, after b\n${instance('c', '  port: 27050 # pinned\n')}`;
    const pair = join(t.state, 'instances/pair.yaml');
    writeFileSync(pair, `${head}---\n# b is the second\n${instance('b')}${tail}`);
    const others = hashes(t.state);

    const file = t.input('b.yaml', `# new b\n${instance('b', '  port: 27060\n')}`);
    expect(await cli(['apply', '-f', file, '--state', t.state])).toEqual({ code: 0, out: 'instance/b configured\n', err: '' });
    expect(readFileSync(pair, 'utf8')).toBe(`${head}---\n# new b\n${instance('b', '  port: 27060\n')}${tail}`);
    const now = hashes(t.state);
    delete now['instances/pair.yaml'];
    delete others['instances/pair.yaml'];
    expect(now).toEqual(others);
  });

  it('refuses a bad document at the input file and line, writing nothing', async () => {
    const t = fresh();
    const before = hashes(t.state);
    const file = t.input('two.yaml', `${instance('good-1')}---\n# comment\n${instance('bad-1', '  port: 99999\n')}`);
    const r = await cli(['apply', '-f', file, '--state', t.state]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    // Line 19 of two.yaml: 8 lines of good-1, ---, the comment, 8 lines, then port.
    expect(r.err).toBe(`nothing applied: 1 problem in the applied documents:\n${file}:19:9  instance/bad-1  /spec/port  must be <= 65535 (got 99999)\n`);
    expect(hashes(t.state)).toEqual(before);
  });

  it('maps lines back to the input when the document lands inside a multi-document file', async () => {
    const t = fresh();
    writeFileSync(join(t.state, 'instances/pair.yaml'), `# first\n${instance('a')}---\n${instance('b')}`);
    const before = hashes(t.state);
    const file = t.input('b.yaml', `\n\n${instance('b', '  updatePolicy: sometimes\n')}`);
    const r = await cli(['apply', '-f', file, '--state', t.state]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:11:17  instance/b  /spec/updatePolicy  must be one of`);
    expect(hashes(t.state)).toEqual(before);
  });

  it('refuses a status, a document without a kind, and files of more than 100 documents', async () => {
    const t = fresh();
    const before = hashes(t.state);
    const status = await cli(['apply', '-f', t.input('s.yaml', `${instance('x')}status:\n  ready: true\n`), '--state', t.state]);
    expect(status.code).toBe(1);
    expect(status.err).toContain(`s.yaml:9:1  instance/x  /status  unknown field "status" — status is kept by the controller, never in documents`);
    const kindless = await cli(['apply', '-f', t.input('k.yaml', 'metadata:\n  name: x\n'), '--state', t.state]);
    expect(kindless.code).toBe(1);
    expect(kindless.err).toContain(`k.yaml:1:1  -  /  missing "kind"`);
    const many = Array.from({ length: 101 }, (_, i) => instance(`s${i}`)).join('---\n');
    const big = await cli(['apply', '-f', t.input('many.yaml', many), '--state', t.state]);
    expect(big.code).toBe(1);
    expect(big.err).toContain('101 documents in one file; at most 100 are applied at once');
    expect(hashes(t.state)).toEqual(before);
  });

  it('refuses a change that breaks another document, naming it', async () => {
    const t = fresh();
    const before = hashes(t.state);
    // demo-config without its alias: blueprint demo-coop execs demo-open.
    const overlay = 'apiVersion: left4me/v1\nkind: Overlay\nmetadata:\n  name: demo-config\n  owner: system\nspec:\n  sources:\n    - files:\n        - path: a.cfg\n          content: "x"\n';
    const r = await cli(['apply', '-f', t.input('o.yaml', overlay), '--state', t.state]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('nothing applied: it would break blueprint/demo-coop');
    expect(r.err).toContain(`${join(t.state, 'blueprints/demo-coop.yaml')}:22:7  blueprint/demo-coop  /spec/exec/0  alias "demo-open" is not defined`);
    expect(hashes(t.state)).toEqual(before);
  });

  it('refuses a port another instance holds, showing both sides', async () => {
    const t = fresh();
    const r = await cli(['apply', '-f', t.input('p.yaml', instance('p', '  port: 27100\n')), '--state', t.state]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`p.yaml:9:3  instance/p  /spec/port  port 27100 is also claimed by instance/demo-3 (${join(t.state, 'instances/demo-3.yaml')}:4)`);
    expect(r.err).toContain(`demo-3.yaml:12:3  instance/demo-3  /spec/port  port 27100 is also claimed by instance/p (${join(t.dir, 'p.yaml')}:1)`);
  });

  it('applies a directory and several -f, dependencies first, and reads standard input', async () => {
    const t = fresh();
    mkdirSync(join(t.dir, 'in'));
    writeFileSync(join(t.dir, 'in', 'bp.yaml'), 'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: vs, owner: alice}\nspec:\n  installation: demo\n  overlays: [demo-base]\n  map: c5m1_waterfront\n  gameMode: versus\n  maxPlayers: 8\n');
    writeFileSync(join(t.dir, 'in', '.hidden.yaml'), 'not: read\n');
    const r = await cli(['apply', '-f', join(t.dir, 'in'), '-f', '-', '--state', t.state], instance('v1').replace('demo-coop', 'vs'));
    expect(r).toEqual({ code: 0, out: 'blueprint/vs created\ninstance/v1 created\n', err: '' });
    expect(existsSync(join(t.state, 'blueprints/vs.yaml'))).toBe(true);
    const bad = await cli(['apply', '-f', '-', '--state', t.state], 'kind: Instance\nmetadata: {name: q}\nspec: [\n');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^nothing applied: 1 problem in the input:\n<stdin>:\d+:\d+  -  \/  invalid YAML/);
  });

  it('warns about problems that were already there elsewhere, without blocking', async () => {
    const t = fresh();
    writeFileSync(join(t.state, 'broken.yaml'), 'kind: Overlay\nmetadata: {name: junk}\n');
    const r = await cli(['apply', '-f', t.input('x.yaml', instance('x')), '--state', t.state]);
    expect(r.code).toBe(0);
    expect(r.out).toBe('instance/x created\n');
    expect(r.err).toMatch(/^warning: \d+ problems that were already in .* elsewhere, not caused by this change; see them with: left4me validate /);
  });

  it('--dry-run says what would happen and writes nothing', async () => {
    const t = fresh();
    const before = hashes(t.state);
    const file = t.input('d.yaml', `${instance('demo-1')}---\n${instance('new-1')}`);
    expect(await cli(['apply', '--dry-run', '-f', file, '--state', t.state])).toEqual({
      code: 0,
      out: 'instance/demo-1 configured (dry run)\ninstance/new-1 created (dry run)\n',
      err: '',
    });
    expect(await cli(['delete', 'instance', 'demo-2', '--dry-run', '--state', t.state])).toEqual({ code: 0, out: 'instance/demo-2 deleted (dry run)\n', err: '' });
    expect(hashes(t.state)).toEqual(before);
  });

  it('refuses path tricks: names that are paths, links out of the tree, a missing state directory', async () => {
    const t = fresh();
    const outside = join(t.dir, 'outside');
    mkdirSync(outside);
    const sneaky = await cli(['apply', '-f', t.input('n.yaml', instance('../../outside/x')), '--state', t.state]);
    expect(sneaky.code).toBe(1);
    expect(sneaky.err).toContain('instance/?  /metadata/name  "../../outside/x" must be lowercase letters');

    // A <kinds>/ directory that is a link out of the tree.
    rmSync(join(t.state, 'overlays'), { recursive: true });
    symlinkSync(outside, join(t.state, 'overlays'));
    const overlay = 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: o, owner: a}\nspec:\n  sources: [{files: [{path: a.cfg, content: x}]}]\n';
    const linked = await cli(['apply', '-f', t.input('o.yaml', overlay), '--state', t.state]);
    expect(linked.code).toBe(1);
    expect(linked.err).toContain(`cannot write ${join(t.state, 'overlays/o.yaml')}: its directory leads outside the state directory`);
    expect(readdirSync(outside)).toEqual([]);

    // A file that is a link out of the tree is never read, so never replaced.
    writeFileSync(join(outside, 'evil.yaml'), 'untouched\n');
    symlinkSync(join(outside, 'evil.yaml'), join(t.state, 'instances/evil.yaml'));
    const evil = await cli(['apply', '-f', t.input('e.yaml', instance('evil')), '--state', t.state]);
    expect(evil.code).toBe(1);
    expect(evil.err).toContain('a file the state tree could not read is already there');
    expect(readFileSync(join(outside, 'evil.yaml'), 'utf8')).toBe('untouched\n');

    const missing = join(t.dir, 'nope');
    const none = await cli(['apply', '-f', t.input('m.yaml', instance('m')), '--state', missing]);
    expect(none).toEqual({ code: 1, out: '', err: `the state directory ${missing} does not exist: create it first, or name another one with --state DIR\n` });
    expect(existsSync(missing)).toBe(false);
  });

  it('exits 2 on usage errors', async () => {
    expect((await cli(['apply'])).code).toBe(2);
    expect((await cli(['apply', 'file.yaml'])).code).toBe(2);
    expect((await cli(['apply', '-f', '-', '-f', '-'])).code).toBe(2);
    expect((await cli(['delete', 'instance'])).code).toBe(2);
    expect((await cli(['delete', 'widget', 'x'])).code).toBe(2);
    expect((await cli(['delete', 'instance', 'x', 'y'])).code).toBe(2);
  });
});

describe('left4me delete', () => {
  it('refuses to delete a blueprint that instances use, naming them', async () => {
    const t = fresh();
    const before = hashes(t.state);
    const r = await cli(['delete', 'bp', 'demo-coop', '--state', t.state]);
    expect(r.code).toBe(1);
    expect(r.err.split('\n')[0]).toBe('blueprint/demo-coop is still used by instance/demo-1, instance/demo-2, instance/demo-3: change or delete those first; nothing was deleted:');
    expect(r.err).toContain(`${join(t.state, 'instances/demo-1.yaml')}:9:3  instance/demo-1  /spec/blueprint  Blueprint "demo-coop" does not exist`);
    expect(hashes(t.state)).toEqual(before);
  });

  it('deletes an unused document, removing its file', async () => {
    const t = fresh();
    expect(await cli(['delete', 'instance', 'demo-1', '--state', t.state])).toEqual({ code: 0, out: 'instance/demo-1 deleted\n', err: '' });
    expect(existsSync(join(t.state, 'instances/demo-1.yaml'))).toBe(false);
    expect(await cli(['delete', 'instance', 'demo-1', '--state', t.state])).toEqual({ code: 1, out: '', err: 'instance/demo-1 not found\n' });
    expect((await cli(['validate', t.state])).code).toBe(0);
  });

  it('deletes a broken document', async () => {
    const t = fresh();
    writeFileSync(join(t.state, 'instances/broken.yaml'), instance('broken', '  port: lots\n'));
    expect((await cli(['validate', t.state])).code).toBe(1);
    expect(await cli(['delete', 'instances', 'broken', '--state', t.state])).toEqual({ code: 0, out: 'instance/broken deleted\n', err: '' });
    expect(existsSync(join(t.state, 'instances/broken.yaml'))).toBe(false);
    expect((await cli(['validate', t.state])).code).toBe(0);
  });

  it('cuts one document out of a multi-document file, leaving the others byte for byte', async () => {
    const t = fresh();
    const pair = join(t.state, 'instances/pair.yaml');
    const a = `# yaml-language-server: $schema=x\n# a\n${instance('a')}`;
    const c = `---\n# c\n${instance('c')}`;
    writeFileSync(pair, `${a}---\n# b\n${instance('b')}${c}`);
    expect((await cli(['delete', 'instance', 'b', '--state', t.state])).code).toBe(0);
    expect(readFileSync(pair, 'utf8')).toBe(`${a}${c}`);
    expect((await cli(['delete', 'instance', 'a', '--state', t.state])).code).toBe(0);
    expect(readFileSync(pair, 'utf8')).toBe(`# yaml-language-server: $schema=x\n${c}`);
    expect(statSync(pair).isFile()).toBe(true);
  });
});
