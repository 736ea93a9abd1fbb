// Issue 8, item 7: a document name, cvar name or login that happens to be an
// Object.prototype member ("constructor", "__proto__", "toString", …) must
// behave exactly like any other name in every table keyed by such names.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSteamLogin } from './builds/steamcmd.js';
import { main } from './cli/main.js';
import { documentsOf, loadState } from './documents/loader.js';
import { renderConfigLayer, SERVER_CFG } from './reconcile/config-layer.js';
import { RconSecrets } from './secrets.js';
import { PortLeases } from './status/leases.js';
import { StatusStore } from './status/store.js';

const PROTO = Object.getOwnPropertyNames(Object.prototype);
const DOC_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The Object.prototype names a document may carry: today only "constructor". */
const AS_NAMES = PROTO.filter((n) => DOC_NAME.test(n));
/** The Object.prototype names a cvar may carry: those not starting with "_" (engine-internal commands are refused as cvars). */
const AS_CVARS = PROTO.filter((n) => /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(n));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'left4me-proto-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('the names under test are the ones Object.prototype has', () => {
  expect(AS_NAMES).toEqual(['constructor']);
  expect(AS_CVARS).toEqual(PROTO.filter((n) => !n.startsWith('_')));
  expect(AS_CVARS).toContain('constructor');
});

describe('an instance named after an Object.prototype member', () => {
  it('loads, with cvars named after every member, and renders a server.cfg with a fresh RCON password', async () => {
    const state = join(dir, 'state');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(state);
    const cvars = AS_CVARS.map((n, i) => `    ${n}: "${i}"`).join('\n');
    const docs = [
      'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: constructor}\nspec: {source: directory, path: /srv/left4me/installations/l4d2}',
      'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: constructor}\nspec:\n  installation: constructor\n  overlays: []\n  cvars:\n' + cvars,
      ...AS_NAMES.map((n) => `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: ${n}}\nspec:\n  blueprint: constructor\n  cvars:\n${cvars}`),
    ];
    await writeFile(join(state, 'all.yaml'), `${docs.join('\n---\n')}\n`);
    const loaded = await loadState(state);
    expect(loaded.problems).toEqual([]);
    const secrets = new RconSecrets(join(dir, 'secrets'));
    for (const name of AS_NAMES) {
      const inst = documentsOf(loaded, 'Instance').get(name)!;
      expect(inst.metadata.name).toBe(name);
      expect(Object.keys(inst.spec.cvars!)).toEqual(AS_CVARS);
      const bp = documentsOf(loaded, 'Blueprint').get('constructor')!;
      const password = await secrets.get(name);
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      const cfg = renderConfigLayer({ instance: inst, blueprint: bp, overlays: [], rconPassword: password }).files.get(SERVER_CFG)!;
      expect(cfg).toContain(`rcon_password "${password}"\n`);
      for (const [i, n] of AS_CVARS.entries()) expect(cfg).toContain(`\n${n} "${i}"\n`);
    }
  });

  it('gets a fresh random password of its own, kept across reloads and forgotten on removal', async () => {
    const secrets = join(dir, 'rcon');
    for (const name of AS_NAMES) {
      const s = new RconSecrets(secrets);
      expect(await s.peek(name)).toBeUndefined();
      const password = await s.get(name);
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(await s.get(name)).toBe(password);
      expect(await new RconSecrets(secrets).peek(name)).toBe(password);
      expect(JSON.parse(await readFile(join(secrets, 'rcon.json'), 'utf8'))).toEqual({ [name]: password });
      await s.remove(name);
      expect(await new RconSecrets(secrets).peek(name)).toBeUndefined();
    }
  });

  it('refuses to keep a password for any name that is not an instance name', async () => {
    const s = new RconSecrets(join(dir, 'rcon-bad'));
    for (const name of PROTO.filter((n) => !DOC_NAME.test(n))) {
      expect(await s.peek(name), name).toBeUndefined();
      await expect(s.get(name), name).rejects.toThrow(/not an instance name/);
    }
  });

  it('leases ports, persists and releases them like any other instance', async () => {
    const file = join(dir, 'leases.json');
    const game = { min: 27015, max: 27020 };
    const client = { min: 26900, max: 26905 };
    const l = await PortLeases.open(file, game, client);
    expect(await l.get('constructor')).toBeUndefined();
    expect(await l.reconcile([...AS_NAMES.map((name) => ({ name })), { name: 'plain' }])).toEqual([]);
    expect(l.get('constructor')).toEqual({ port: 27015, clientPort: 26900 });
    const again = await PortLeases.open(file, game, client);
    expect(Object.fromEntries(again.all())).toEqual({ constructor: { port: 27015, clientPort: 26900 }, plain: { port: 27016, clientPort: 26901 } });
    await again.release('constructor');
    expect((await PortLeases.open(file, game, client)).get('constructor')).toBeUndefined();
  });

  it('has a status like any other document, and only document names are listed', async () => {
    const store = new StatusStore(join(dir, 'status'));
    for (const name of AS_NAMES) {
      expect(await store.read('Instance', name)).toBeUndefined();
      await store.write({ kind: 'Instance', name, conditions: [], events: [], port: 27015 });
      expect(await store.read('Instance', name)).toMatchObject({ name, port: 27015 });
    }
    // Files no controller writes (a hand-made "__proto__.json") are not statuses of anything.
    for (const stray of ['__proto__', 'toString', 'Not A Name']) {
      await writeFile(join(dir, 'status', 'instance', `${stray}.json`), JSON.stringify({ kind: 'Instance', name: stray, conditions: [], events: [] }));
      expect(await store.read('Instance', stray)).toBeUndefined();
    }
    expect((await store.list('Instance')).map((s) => s.name)).toEqual(AS_NAMES);
  });
});

describe('tables keyed by what people type or documents say', () => {
  async function cli(...argv: string[]) {
    let out = '';
    let err = '';
    const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
    return { code, out, err };
  }

  it('the CLI knows no command or kind named after an Object.prototype member', async () => {
    for (const name of PROTO) {
      const verb = await cli(name);
      expect([verb.code, verb.err.split('\n')[0]], name).toEqual([2, `left4me: unknown command "${name}"`]);
      const kind = await cli('get', name, '--state', dir);
      expect([kind.code, kind.err.split('\n')[0]], name).toEqual([2, `left4me get: unknown kind "${name}" (one of installation, overlay, blueprint, instance)`]);
    }
  });

  it('a Steam login named after an Object.prototype member is found only when the secrets file has it', async () => {
    const file = join(dir, 'steam.json');
    const shown = '/etc/left4me/secrets/steam.json';
    await writeFile(file, JSON.stringify({ constructor: { username: 'ctor', password: 'pw' } }), { mode: 0o600 });
    await chmod(file, 0o600);
    expect(await readSteamLogin(file, shown, 'constructor')).toEqual({ username: 'ctor', password: 'pw' });
    for (const login of PROTO.filter((n) => n !== 'constructor' && /^[A-Za-z0-9_.-]{1,64}$/.test(n))) {
      await expect(readSteamLogin(file, shown, login), login).rejects.toThrow(`has no login "${login}"`);
    }
    await writeFile(file, JSON.stringify({ default: { username: 'u', password: 'p' } }));
    await expect(readSteamLogin(file, shown, 'constructor')).rejects.toThrow('has no login "constructor"');
  });
});
