import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf } from '../../test/support/sse-client.js';
import { Browser, PASSWORDS, webFixture } from '../../test/support/web-client.js';
import { buildWebApp } from './app.js';

// Accounts and tokens through the API, over real HTTP, as a browser (cookie + CSRF token) and as scripts (Bearer).
let fx: Awaited<ReturnType<typeof webFixture>>;
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let admin: Browser;
let alice: Browser;
let bob: Browser;

beforeAll(async () => {
  fx = await webFixture('left4me-web-users-');
  app = await buildWebApp({ stateDir: fx.stateDir, dataDir: fx.dataDir, webDataDir: fx.webDataDir });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  [admin, alice, bob] = [new Browser(base), new Browser(base), new Browser(base)];
  await admin.login('admin', PASSWORDS.admin);
  await alice.login('alice', PASSWORDS.alice);
  await bob.login('bob', PASSWORDS.bob);
});

afterAll(async () => {
  await app.close();
  rmSync(fx.root, { recursive: true, force: true });
});

/** The full paths of the GET routes in fastify's route tree (children are printed relative, 4 columns deeper). */
function getRoutes(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    // A segment may start without a slash under the root route (`/` then `healthz`).
    const m = /^([\s│├└─]*)([^\s(]+)(?: \(([^)]*)\))?/.exec(line);
    if (!m) continue;
    const depth = Math.floor(m[1]!.length / 4);
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    if (m[3]?.split(', ').includes('GET')) out.push(path);
  }
  return out;
}

const json = async <T = Record<string, unknown>>(r: Response | Promise<Response>): Promise<T> => (await (await r).json()) as T;

describe('accounts (admins)', () => {
  it('lists accounts without their hashes', async () => {
    const r = await admin.request('GET', '/api/v1/users');
    expect(r.status).toBe(200);
    const text = await r.text();
    expect((JSON.parse(text) as { items: unknown[] }).items).toEqual(['admin', 'alice', 'bob'].map((name) => ({ name, role: name === 'admin' ? 'admin' : 'user', created: expect.any(String) })));
    expect(text).not.toContain('scrypt');
  });

  it('creates an account that can log in, and refuses taken, malformed and reserved names and short passwords', async () => {
    const r = await admin.request('POST', '/api/v1/users', { body: { name: 'dave', password: 'daves password', role: 'user' } });
    expect(r.status).toBe(201);
    expect(await r.json()).toEqual({ name: 'dave', role: 'user', created: expect.any(String) });
    expect((await new Browser(base).login('dave', 'daves password')).status).toBe(200);
    for (const [body, status, message] of [
      [{ name: 'dave', password: 'daves password' }, 409, /exists already/],
      [{ name: 'system', password: 'a long enough password' }, 400, /not "system"/],
      [{ name: '__proto__', password: 'a long enough password' }, 400, /cannot be an account name/],
      [{ name: 'eve\n', password: 'a long enough password' }, 400, /cannot be an account name/],
      [{ name: 'eve', password: 'short' }, 400, /at least 12 characters/],
      [{ name: 'eve', password: 'a long enough password', role: 'root' }, 400, /role/],
    ] as const) {
      const bad = await admin.request('POST', '/api/v1/users', { body });
      expect(bad.status).toBe(status);
      expect((await json<{ error: string }>(bad)).error).toMatch(message);
    }
    expect(fx.users.list().map((u) => u.name)).toEqual(['admin', 'alice', 'bob', 'dave']);
  });

  it('is for admins only: a user gets 403 on every account route', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/v1/users', undefined],
      ['POST', '/api/v1/users', { name: 'mallory', password: 'mallorys password' }],
      ['DELETE', '/api/v1/users/bob', undefined],
      ['PUT', '/api/v1/users/bob/password', { password: 'taken over by alice' }],
    ] as const) {
      const r = await alice.request(method, path, { body });
      expect(r.status).toBe(403);
      expect((await json<{ error: string }>(r)).error).toBe('only an admin may do this');
    }
    expect((await new Browser(base).login('bob', PASSWORDS.bob)).status).toBe(200);
  });

  it("sets another account's password, which ends that account's sessions", async () => {
    await fx.users.add('erin', 'erins password 1', 'user');
    const erin = new Browser(base);
    await erin.login('erin', 'erins password 1');
    expect((await admin.request('PUT', '/api/v1/users/erin/password', { body: { password: 'erins password 2' } })).status).toBe(204);
    expect((await erin.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await erin.login('erin', 'erins password 2')).status).toBe(200);
    expect((await admin.request('PUT', '/api/v1/users/nobody/password', { body: { password: 'a long enough password' } })).status).toBe(404);
  });

  it("removes an account, ending its sessions and revoking its tokens; never the admin's own", async () => {
    await fx.users.add('frank', 'franks password', 'user');
    const token = await fx.users.createToken('frank');
    const frank = new Browser(base);
    await frank.login('frank', 'franks password');
    expect((await admin.request('DELETE', '/api/v1/users/frank')).status).toBe(204);
    expect((await frank.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await fetch(`${base}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    expect((await admin.request('DELETE', '/api/v1/users/frank')).status).toBe(404);
    const self = await admin.request('DELETE', '/api/v1/users/admin');
    expect(self.status).toBe(409);
    expect((await json<{ error: string }>(self)).error).toMatch(/your own account/);
    expect((await admin.request('DELETE', '/api/v1/users/..%2Fetc')).status).toBe(400);
  });
});

describe("one's own password", () => {
  it('needs the current password; a change ends every other session of the account and gives this browser a new one', async () => {
    await fx.users.add('gina', 'ginas password 1', 'user');
    const [here, there] = [new Browser(base), new Browser(base)];
    await here.login('gina', 'ginas password 1');
    await there.login('gina', 'ginas password 1');
    const wrong = await here.request('PUT', '/api/v1/session/password', { body: { currentPassword: 'not the password', newPassword: 'ginas password 2' } });
    expect(wrong.status).toBe(403);
    expect((await json<{ error: string }>(wrong)).error).toBe('the current password is wrong');
    const short = await here.request('PUT', '/api/v1/session/password', { body: { currentPassword: 'ginas password 1', newPassword: 'short' } });
    expect(short.status).toBe(400);
    const oldCookie = here.cookie;
    const r = await here.request('PUT', '/api/v1/session/password', { body: { currentPassword: 'ginas password 1', newPassword: 'ginas password 2' } });
    expect(r.status).toBe(200);
    const answer = await json<{ user: { name: string }; csrfToken: string }>(r);
    expect(answer.user.name).toBe('gina');
    expect(here.cookie).not.toBe(oldCookie);
    here.csrfToken = answer.csrfToken;
    expect((await here.request('GET', '/api/v1/session')).status).toBe(200);
    expect((await there.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await new Browser(base).login('gina', 'ginas password 1')).status).toBe(401);
    expect((await new Browser(base).login('gina', 'ginas password 2')).status).toBe(200);
  });
});

describe('tokens', () => {
  it('shows a new token once; lists show ids only; the token works as a Bearer token', async () => {
    const r = await alice.request('POST', '/api/v1/tokens', { body: {} });
    expect(r.status).toBe(201);
    const created = await json<{ id: string; user: string; created: string; token: string }>(r);
    expect(created).toEqual({ id: expect.stringMatching(/^[0-9a-f]{12}$/), user: 'alice', created: expect.any(String), token: expect.stringMatching(/^l4m_[0-9a-f]{12}_/) });
    const list = await alice.request('GET', '/api/v1/tokens');
    const text = await list.text();
    expect(JSON.parse(text)).toEqual({ items: [{ id: created.id, user: 'alice', created: created.created }] });
    expect(text).not.toContain(created.token.slice('l4m_000000000000_'.length));
    const me = await fetch(`${base}/api/v1/session`, { headers: { authorization: `Bearer ${created.token}` } });
    expect(await me.json()).toEqual({ user: { name: 'alice', role: 'user', created: expect.any(String) } });
  });

  it("keeps users apart: bob neither sees nor revokes alice's tokens, nor makes one for her; an admin does all", async () => {
    const aliceToken = fx.users.tokens('alice')[0]!;
    expect(await json(bob.request('GET', '/api/v1/tokens'))).toEqual({ items: [] });
    expect((await bob.request('DELETE', `/api/v1/tokens/${aliceToken.id}`)).status).toBe(404);
    expect((await bob.request('POST', '/api/v1/tokens', { body: { user: 'alice' } })).status).toBe(403);
    expect((await json<{ items: Array<{ id: string }> }>(admin.request('GET', '/api/v1/tokens'))).items.map((t) => t.id)).toContain(aliceToken.id);
    const forBob = await admin.request('POST', '/api/v1/tokens', { body: { user: 'bob' } });
    expect(forBob.status).toBe(201);
    expect((await admin.request('POST', '/api/v1/tokens', { body: { user: 'nobody' } })).status).toBe(404);
    expect((await admin.request('DELETE', `/api/v1/tokens/${aliceToken.id}`)).status).toBe(204);
    expect(fx.users.tokens('alice')).toEqual([]);
    expect((await admin.request('DELETE', `/api/v1/tokens/${aliceToken.id}`)).status).toBe(404);
  });

  it('revokes its own token, which then stops working', async () => {
    const created = await json<{ id: string; token: string }>(bob.request('POST', '/api/v1/tokens', { body: {} }));
    expect((await bob.request('DELETE', `/api/v1/tokens/${created.id}`)).status).toBe(204);
    expect((await fetch(`${base}/api/v1/session`, { headers: { authorization: `Bearer ${created.token}` } })).status).toBe(401);
  });
});


describe('no secret in any answer', () => {
  it('crawls every GET route as an admin and as a user, by cookie and by token: no hash, session id, token secret or password', async () => {
    const token = await fx.users.createToken('admin');
    const usersFile = readFileSync(join(fx.webDataDir, 'users.json'), 'utf8');
    const hashes = [...usersFile.matchAll(/"(scrypt\$[^"]+)"/g)].map((m) => m[1]!);
    const tokenHashes = [...usersFile.matchAll(/"sha256": "([0-9a-f]{64})"/g)].map((m) => m[1]!);
    expect(hashes.length).toBeGreaterThan(3);
    const secrets = [...hashes, ...hashes.map((h) => h.split('$').at(-1)!), ...tokenHashes, token.slice('l4m_000000000000_'.length), admin.sessionId!, alice.sessionId!, ...Object.values(PASSWORDS)];
    const getPaths = getRoutes(app.printRoutes({ commonPrefix: false }));
    expect(getPaths).toEqual(expect.arrayContaining(['/api/v1/session', '/api/v1/users', '/api/v1/tokens', '/api/v1/instances', '/healthz']));
    // Parameters get a name that exists (a demo instance); a route whose 404 says nothing is still crawled.
    for (const path of getPaths.filter((p) => !p.includes('*')).map((p) => p.replace(/:[A-Za-z]+/g, 'demo-1'))) {
      for (const ask of [() => admin.request('GET', path), () => alice.request('GET', path), () => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })]) {
        const r = await ask();
        const text = await bodyOf(r);
        for (const secret of secrets) expect(text, `${path} leaks a secret`).not.toContain(secret);
        r.headers.forEach((value, name) => {
          if (name !== 'set-cookie') for (const secret of secrets) expect(value, `${path} header ${name} leaks a secret`).not.toContain(secret);
        });
      }
    }
  });
});
