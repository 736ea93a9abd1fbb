/**
 * Test support for the web service's HTTP tests: a browser-like client with one
 * cookie (the session) over real HTTP, and a fresh state, data and web data
 * directory with accounts.
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../controller/package-root.js';
import { UserStore } from '../../controller/web/users.js';

/** A directory tree for one web app: state (the demo's documents), data, web data; accounts admin, alice, bob. */
export async function webFixture(prefix: string): Promise<{ root: string; stateDir: string; dataDir: string; webDataDir: string; users: UserStore }> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const stateDir = join(root, 'state');
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  const users = new UserStore(join(root, 'web'));
  await addTestUsers(users);
  return { root, stateDir, dataDir: join(root, 'data'), webDataDir: join(root, 'web'), users };
}

export const PASSWORDS = { admin: 'an admin password', alice: 'alice password 1', bob: 'bobs password 12' } as const;

/** The accounts web tests use: admin (an admin), alice and bob (users), with PASSWORDS. */
export async function addTestUsers(users: UserStore): Promise<void> {
  await users.add('admin', PASSWORDS.admin, 'admin');
  await users.add('alice', PASSWORDS.alice, 'user');
  await users.add('bob', PASSWORDS.bob, 'user');
}

/** addTestUsers, and a Bearer token for each. */
export async function testAccounts(users: UserStore): Promise<Record<'admin' | 'alice' | 'bob', string>> {
  await addTestUsers(users);
  return { admin: await users.createToken('admin'), alice: await users.createToken('alice'), bob: await users.createToken('bob') };
}

/** What a test client sends besides the body. */
export interface Send {
  body?: unknown;
  headers?: Record<string, string>;
  /** Send no X-CSRF-Token even when the client knows one. */
  noCsrf?: boolean;
}

/** A browser stand-in: keeps the session cookie it was given and sends the CSRF token it learnt with changes. */
export class Browser {
  cookie: string | undefined;
  csrfToken: string | undefined;
  lastSetCookie: string | undefined;

  constructor(readonly base: string) {}

  async request(method: string, path: string, send: Send = {}): Promise<Response> {
    const headers: Record<string, string> = { ...send.headers };
    if (this.cookie) headers.cookie = this.cookie;
    if (this.csrfToken && !send.noCsrf && !['GET', 'HEAD'].includes(method)) headers['x-csrf-token'] ??= this.csrfToken;
    if (send.body !== undefined) headers['content-type'] ??= 'application/json';
    const r = await fetch(`${this.base}${path}`, { method, headers, body: send.body === undefined ? undefined : typeof send.body === 'string' ? send.body : JSON.stringify(send.body) });
    const set = r.headers.getSetCookie()[0];
    if (set !== undefined) {
      this.lastSetCookie = set;
      const pair = set.split(';')[0]!;
      this.cookie = /=$/.test(pair) ? undefined : pair;
    }
    return r;
  }

  /** Logs in; returns the answer (the client keeps cookie and CSRF token when it succeeds). */
  async login(name: string, password: string, headers?: Record<string, string>): Promise<Response> {
    const r = await this.request('POST', '/api/v1/session', { body: { name, password }, headers });
    if (r.ok) this.csrfToken = ((await r.clone().json()) as { csrfToken: string }).csrfToken;
    return r;
  }

  /** The session id the cookie carries. */
  get sessionId(): string | undefined {
    return this.cookie?.split('=')[1];
  }
}
