import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAccounts } from '../../test/support/web-client.js';
import { packageRoot } from '../package-root.js';
import { StatusStore } from '../status/store.js';
import { buildWebApp } from './app.js';
import { UserStore } from './users.js';

// The API over real HTTP: a listening server on loopback, asked with fetch.
const root = mkdtempSync(join(tmpdir(), 'left4me-web-'));
const stateDir = join(root, 'state');
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  // alice owns one more server; the demo's are "system" documents.
  writeFileSync(join(stateDir, 'instances', 'alice-1.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-1, owner: alice}\nspec: {blueprint: demo-coop}\n');
  await new StatusStore(join(root, 'data', 'status')).write({
    kind: 'Instance',
    name: 'alice-1',
    conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'the server runs the current documents', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
    port: 27020,
    clientPort: 26920,
    uid: 1879048192,
    players: 3,
    maxPlayers: 8,
    unit: { activeState: 'active', subState: 'running', mainPid: 4242 },
    lastError: { message: 'rcon_password "hunter2" leaked into a log line', time: new Date().toISOString() },
    events: [],
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

const get = (path: string, token?: string) => fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('left4me web (first slice)', () => {
  it('answers /healthz without an account', async () => {
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ok: true });
  });

  it('refuses /api without a valid token: 401 with WWW-Authenticate', async () => {
    for (const token of [undefined, 'l4m_000000000000_' + 'x'.repeat(43), 'nonsense']) {
      const r = await get('/api/v1/instances', token);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('lists instances by owner: an admin sees all, a user system documents and its own', async () => {
    const names = async (who: keyof typeof tokens) => ((await (await get('/api/v1/instances', tokens[who])).json()) as { items: Array<{ name: string }> }).items.map((i) => i.name);
    expect(await names('admin')).toEqual(['alice-1', 'demo-1', 'demo-2', 'demo-3']);
    expect(await names('alice')).toEqual(['alice-1', 'demo-1', 'demo-2', 'demo-3']);
    expect(await names('bob')).toEqual(['demo-1', 'demo-2', 'demo-3']);
  });

  it('answers only the fields its response schema lists: no uid, pid, error text or anything secret', async () => {
    const r = await get('/api/v1/instances', tokens.alice);
    const text = await r.text();
    const item = (JSON.parse(text) as { items: Array<Record<string, unknown>> }).items.find((i) => i.name === 'alice-1');
    expect(item).toEqual({ name: 'alice-1', owner: 'alice', blueprint: 'demo-coop', state: 'running', ready: 'True', reason: 'Succeeded', message: 'the server runs the current documents', port: 27020, players: 3, maxPlayers: 8, unit: 'active' });
    for (const secret of ['hunter2', '4242', '1879048192', 'scrypt$', tokens.alice.slice('l4m_000000000000_'.length)]) expect(text).not.toContain(secret);
  });
});
