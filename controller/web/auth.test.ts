import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, PASSWORDS, webFixture } from '../../test/support/web-client.js';
import { buildWebApp } from './app.js';
import type { WebOptions } from './context.js';
import { CONTENT_SECURITY_POLICY } from './plugins/security.js';

// Logins, sessions, CSRF, login limits, body limit and security headers, over real HTTP: a listening server on loopback.
let fx: Awaited<ReturnType<typeof webFixture>>;
const apps: Array<Awaited<ReturnType<typeof buildWebApp>>> = [];
let base = '';
let adminToken = '';

async function start(extra: Partial<WebOptions> = {}): Promise<string> {
  const app = await buildWebApp({ stateDir: fx.stateDir, dataDir: fx.dataDir, webDataDir: fx.webDataDir, ...extra });
  apps.push(app);
  return app.listen({ host: '127.0.0.1', port: 0 });
}

beforeAll(async () => {
  fx = await webFixture('left4me-web-auth-');
  adminToken = await fx.users.createToken('admin');
  base = await start();
});

afterAll(async () => {
  for (const app of apps) await app.close();
  rmSync(fx.root, { recursive: true, force: true });
});

describe('login and sessions', () => {
  it('logs in with name and password: the account and a CSRF token in the body, the session id only in an HttpOnly SameSite=Strict cookie', async () => {
    const b = new Browser(base);
    const r = await b.login('alice', PASSWORDS.alice);
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(JSON.parse(text)).toEqual({ user: { name: 'alice', role: 'user', created: expect.any(String) }, csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(b.lastSetCookie).toMatch(/^l4m_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(text).not.toContain(b.sessionId);
    const me = await b.request('GET', '/api/v1/session');
    expect(await me.json()).toEqual({ user: { name: 'alice', role: 'user', created: expect.any(String) }, csrfToken: b.csrfToken });
    expect((await b.request('GET', '/api/v1/instances')).status).toBe(200);
  });

  it('refuses a wrong password and an unknown name with the same answer', async () => {
    const answers = [];
    for (const [name, password] of [['alice', 'not her password'], ['nobody', PASSWORDS.alice], ['__proto__', 'x'], ['alice\u0000', PASSWORDS.alice]]) {
      const b = new Browser(base);
      const r = await b.login(name!, password!);
      expect(r.headers.get('set-cookie')).toBeNull();
      answers.push([r.status, await r.json()]);
    }
    expect(answers).toEqual(Array(4).fill([401, { error: 'wrong name or password' }]));
  });

  it('answers a malformed login body with 400 and what is wrong, not a 500', async () => {
    const b = new Browser(base);
    for (const body of ['{"name": "alice"}', '{"name": "alice", "password": "' + 'x'.repeat(2000) + '"}', 'not json', '{"__proto__": {"x": 1}, "name": "a", "password": "b"}']) {
      const r = await b.request('POST', '/api/v1/session', { body });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/password|JSON|Unexpected|prototype/i);
    }
  });

  it('rotates the session id at every login: the id the browser came with is dead afterwards', async () => {
    const b = new Browser(base);
    await b.login('bob', PASSWORDS.bob);
    const before = b.cookie!;
    const r = await b.login('bob', PASSWORDS.bob);
    expect(r.status).toBe(200);
    expect(b.cookie).not.toBe(before);
    const stale = new Browser(base);
    stale.cookie = before;
    expect((await stale.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await b.request('GET', '/api/v1/session')).status).toBe(200);
  });

  it('logs out on the server: the old cookie no longer works even when replayed', async () => {
    const b = new Browser(base);
    await b.login('alice', PASSWORDS.alice);
    const cookie = b.cookie!;
    const r = await b.request('DELETE', '/api/v1/session');
    expect(r.status).toBe(204);
    expect(b.lastSetCookie).toMatch(/^l4m_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
    const replay = new Browser(base);
    replay.cookie = cookie;
    expect((await replay.request('GET', '/api/v1/session')).status).toBe(401);
  });

  it("ends a user's sessions when the account is removed or its password changes, also from a shell", async () => {
    await fx.users.add('carol', 'carols password', 'user');
    const b = new Browser(base);
    await b.login('carol', 'carols password');
    expect((await b.request('GET', '/api/v1/session')).status).toBe(200);
    // What `left4me user passwd carol` does: the file changes under the running service.
    await fx.users.setPassword('carol', 'carols new password');
    expect((await b.request('GET', '/api/v1/session')).status).toBe(401);
    await b.login('carol', 'carols new password');
    expect((await b.request('GET', '/api/v1/session')).status).toBe(200);
    await fx.users.remove('carol');
    expect((await b.request('GET', '/api/v1/session')).status).toBe(401);
  });

  it('keeps sessions across a restart of the service, stored hashed: the file holds no session id', async () => {
    const b = new Browser(base);
    await b.login('alice', PASSWORDS.alice);
    await apps[0]!.l4m.sessions.flush();
    const file = readFileSync(join(fx.webDataDir, 'sessions.json'), 'utf8');
    expect(file).not.toContain(b.sessionId);
    expect(file).not.toContain(b.csrfToken);
    const again = new Browser(await start());
    again.cookie = b.cookie;
    const r = await again.request('GET', '/api/v1/session');
    expect(r.status).toBe(200);
    expect(((await r.json()) as { csrfToken: string }).csrfToken).toBe(b.csrfToken);
  });

  it('answers 401 for junk cookies and tokens, and for an /api path spelt with escapes', async () => {
    for (const cookie of ['l4m_session=', 'l4m_session=' + 'A'.repeat(43), 'l4m_session=../../etc/passwd', 'other=1']) {
      const b = new Browser(base);
      b.cookie = cookie;
      expect((await b.request('GET', '/api/v1/session')).status).toBe(401);
    }
    const r = await fetch(`${base}/%61pi/v1/instances`);
    expect([401, 404]).toContain(r.status);
    expect(await r.text()).not.toContain('demo-1');
  });
});

describe('CSRF and cross-site requests', () => {
  let b: Browser;
  beforeAll(async () => {
    b = new Browser(base);
    await b.login('alice', PASSWORDS.alice);
  });

  it('refuses a cookie-authenticated change without X-CSRF-Token, or with a wrong one: 403 saying so', async () => {
    const missing = await b.request('POST', '/api/v1/tokens', { body: {}, noCsrf: true });
    expect(missing.status).toBe(403);
    expect(((await missing.json()) as { error: string }).error).toMatch(/missing X-CSRF-Token/);
    const wrong = await b.request('POST', '/api/v1/tokens', { body: {}, headers: { 'x-csrf-token': 'A'.repeat(43) } });
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { error: string }).error).toMatch(/wrong X-CSRF-Token/);
    // Another session's token is as wrong as a made-up one.
    const other = new Browser(base);
    await other.login('alice', PASSWORDS.alice);
    expect((await b.request('POST', '/api/v1/tokens', { body: {}, headers: { 'x-csrf-token': other.csrfToken! } })).status).toBe(403);
    expect(fx.users.tokens('alice')).toEqual([]);
  });

  it('lets a change with the right token through', async () => {
    const r = await b.request('POST', '/api/v1/tokens', { body: {} });
    expect(r.status).toBe(201);
    expect(fx.users.tokens('alice')).toHaveLength(1);
  });

  it('needs no CSRF token with a Bearer token: a browser never sends one on its own', async () => {
    const r = await fetch(`${base}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', origin: 'https://evil.example' }, body: '{}' });
    expect(r.status).toBe(201);
  });

  it('refuses cookie changes (and logins) from another site by Origin and Sec-Fetch-Site, even with the right token', async () => {
    const foreign: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }];
    for (const headers of foreign) {
      const r = await b.request('POST', '/api/v1/tokens', { body: {}, headers });
      expect(r.status).toBe(403);
      expect(((await r.json()) as { error: string }).error).toMatch(/cross-site request refused/);
      const login = await new Browser(base).login('alice', PASSWORDS.alice, headers);
      expect(login.status).toBe(403);
    }
    const same = await b.request('POST', '/api/v1/tokens', { body: {}, headers: { origin: base, 'sec-fetch-site': 'same-origin' } });
    expect(same.status).toBe(201);
  });

  it('lets reads through without a token', async () => {
    expect((await b.request('GET', '/api/v1/tokens', { noCsrf: true })).status).toBe(200);
  });
});

describe('login limits', () => {
  it('answers 429 with Retry-After after 10 wrong passwords from one address, even for the right password then', async () => {
    const limited = await start();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 20; i++) {
      // A different name each time: the address alone is limited.
      const r = await new Browser(limited).login(i % 2 ? 'alice' : `guess${i}`, `wrong password ${i}`);
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    expect(statuses).toEqual([...Array<number>(10).fill(401), ...Array<number>(10).fill(429)]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(15 * 60);
    const right = await new Browser(limited).login('bob', PASSWORDS.bob);
    expect(right.status).toBe(429);
    expect(((await right.json()) as { error: string }).error).toMatch(/too many failed logins; try again in \d+ seconds/);
  });

  it('limits guesses sent all at once as well: no more than 10 reach the password check', async () => {
    const limited = await start();
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => new Browser(limited).login('alice', `wrong password ${i}`).then((r) => r.status)));
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
  });

  it('does not count a right password against the limit', async () => {
    const limited = await start();
    for (let i = 0; i < 12; i++) expect((await new Browser(limited).login('bob', PASSWORDS.bob)).status).toBe(200);
    expect((await new Browser(limited).login('bob', 'wrong password')).status).toBe(401);
  });
});

describe('body limit', () => {
  it('answers a 2 MiB body with 413 and a JSON error', async () => {
    const body = JSON.stringify({ name: 'dave', password: 'x'.repeat(2 * 1024 * 1024) });
    const r = await fetch(`${base}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body });
    expect(r.status).toBe(413);
    expect(await r.json()).toEqual({ error: 'the request body is larger than this service accepts (1048576 bytes)' });
    expect(fx.users.account('dave')).toBeUndefined();
  });
});

describe('security headers', () => {
  const expectHeaders = (r: Response) => {
    expect(r.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    expect(r.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(r.headers.get('cross-origin-resource-policy')).toBe('same-origin');
  };

  it('sends them on every answer: pages, API, errors; no-store on /api; no HSTS over plain HTTP', async () => {
    const health = await fetch(`${base}/healthz`);
    expectHeaders(health);
    expect(health.headers.get('cache-control')).toBeNull();
    for (const r of [await fetch(`${base}/api/v1/instances`), await fetch(`${base}/api/v1/instances`, { headers: { authorization: `Bearer ${adminToken}` } }), await fetch(`${base}/api/v1/nothing`, { headers: { authorization: `Bearer ${adminToken}` } })]) {
      expectHeaders(r);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('strict-transport-security')).toBeNull();
    }
    expectHeaders(await fetch(`${base}/no/such/page`));
  });

  it('with --secure-cookies: a Secure __Host- cookie, and HSTS', async () => {
    const secure = await start({ secureCookies: true });
    const b = new Browser(secure);
    const r = await b.login('alice', PASSWORDS.alice);
    expect(b.lastSetCookie).toMatch(/^__Host-l4m_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
    expectHeaders(r);
    expect(r.headers.get('strict-transport-security')).toBe('max-age=31536000');
    expect((await b.request('GET', '/api/v1/session')).status).toBe(200);
    // The plain name is not read there: a cookie planted over HTTP does not count.
    const planted = new Browser(secure);
    planted.cookie = b.cookie!.replace('__Host-', '');
    expect((await planted.request('GET', '/api/v1/session')).status).toBe(401);
  });
});
