import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Browser, PASSWORDS, webFixture } from '../../test/support/web-client.js';
import { hostLayout } from '../host/layout.js';
import { buildWebApp } from './app.js';
import { HOOK_BODY_LIMIT, verifyHook } from './routes/hooks.js';

// Webhooks over real HTTP: a listening app on loopback, real secret and trigger files.
let fx: Awaited<ReturnType<typeof webFixture>>;
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
const logLines: string[] = [];
/** Every answer body and header value the tests saw, checked for secrets at the end. */
const seen: string[] = [];
const SECRETS: Record<string, string> = {
  site: 'c0ffee'.repeat(10) + 'beef',
  limited: 'a-secret-of-the-limited-source',
  spare: 'the-spare-source-secret-0123456789',
};

const layout = () => hostLayout(fx.dataDir);
const triggerOf = (name: string) => join(layout().triggersDir, `git-${name}`);
const hmacHex = (body: string | Buffer, secret: string) => createHmac('sha256', secret).update(body).digest('hex');

async function hook(name: string, body: string | Buffer, headers: Record<string, string>): Promise<Response> {
  const r = await fetch(`${base}/api/v1/hooks/git/${name}`, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const text = await r.clone().text();
  seen.push(text);
  r.headers.forEach((v) => seen.push(v));
  return r;
}

beforeAll(async () => {
  fx = await webFixture('left4me-web-hooks-');
  const dir = layout().webhookSecretsDir;
  mkdirSync(dir, { recursive: true });
  // As operators write them too: with a trailing newline.
  for (const [name, secret] of Object.entries(SECRETS)) writeFileSync(join(dir, name), `${secret}\n`, { mode: 0o640 });
  mkdirSync(layout().triggersDir, { recursive: true });
  app = await buildWebApp({
    stateDir: fx.stateDir,
    dataDir: fx.dataDir,
    webDataDir: fx.webDataDir,
    auditLog: pino({ base: null }, { write: (line: string) => void logLines.push(line) }),
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterEach(() => {
  for (const f of readdirSync(layout().triggersDir)) rmSync(join(layout().triggersDir, f), { recursive: true, force: true });
});

afterAll(async () => {
  await app?.close();
  rmSync(fx.root, { recursive: true, force: true });
});

const PUSH = '{"ref": "refs/heads/main",  "after": "0123abcd"}\n';

describe('the four signature formats', () => {
  const formats: Array<[string, (body: string, secret: string) => Record<string, string>]> = [
    ['GitHub (X-Hub-Signature-256)', (b, s) => ({ 'x-hub-signature-256': `sha256=${hmacHex(b, s)}`, 'x-github-event': 'push' })],
    ['Gitea (X-Gitea-Signature)', (b, s) => ({ 'x-gitea-signature': hmacHex(b, s), 'x-gitea-event': 'push' })],
    ['GitLab (X-Gitlab-Token)', (_b, s) => ({ 'x-gitlab-token': s, 'x-gitlab-event': 'Push Hook' })],
    ['plain (X-Left4me-Signature)', (b, s) => ({ 'x-left4me-signature': `sha256=${hmacHex(b, s)}` })],
  ];
  for (const [format, sign] of formats) {
    it(`${format}: the right secret answers 202 and writes the trigger (a time, nothing from the request); a wrong one 401 and writes nothing`, async () => {
      const wrong = await hook('site', PUSH, { 'content-type': 'application/json', ...sign(PUSH, 'not the secret') });
      expect(wrong.status).toBe(401);
      expect(await wrong.json()).toEqual({ error: 'wrong webhook signature' });
      expect(existsSync(triggerOf('site'))).toBe(false);
      const right = await hook('site', PUSH, { 'content-type': 'application/json', ...sign(PUSH, SECRETS.site!) });
      expect(right.status).toBe(202);
      expect(await right.json()).toEqual({ source: 'site', fetch: 'requested' });
      expect(readFileSync(triggerOf('site'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/);
    });
  }

  it('signs the bytes as sent, whatever the content type (no parsing, no re-serializing)', async () => {
    const bodies: Array<[string | undefined, string | Buffer]> = [
      ['application/json', '{ "spaced" :  true }'],
      ['application/json; charset=utf-8', '{"é": "ü"}'],
      ['application/x-www-form-urlencoded', `payload=${encodeURIComponent('{"ref":"refs/heads/main"}')}`],
      ['text/plain', 'anything'],
      ['application/octet-stream', Buffer.from([0, 1, 2, 255])],
      ['application/json', 'not json at all {'],
    ];
    for (const [type, body] of bodies) {
      const r = await hook('site', body, { ...(type ? { 'content-type': type } : {}), 'x-hub-signature-256': `sha256=${hmacHex(body, SECRETS.site!)}` });
      expect(r.status, `${type}: ${await r.clone().text()}`).toBe(202);
      rmSync(triggerOf('site'));
    }
    // No content type and no body at all: the signature of the empty body.
    const empty = await fetch(`${base}/api/v1/hooks/git/site`, { method: 'POST', headers: { 'x-left4me-signature': `sha256=${hmacHex('', SECRETS.site!)}` } });
    expect(empty.status).toBe(202);
  });

  it("accepts GitHub's ping", async () => {
    const body = '{"zen": "Keep it logically awesome.", "hook_id": 1}';
    const r = await hook('site', body, { 'content-type': 'application/json', 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${hmacHex(body, SECRETS.site!)}` });
    expect(r.status).toBe(202);
    expect(existsSync(triggerOf('site'))).toBe(true);
  });

  it('needs every signature a call carries to verify, and at least one', async () => {
    const good = { 'x-gitea-signature': hmacHex(PUSH, SECRETS.site!), 'x-hub-signature-256': `sha256=${hmacHex(PUSH, SECRETS.site!)}` };
    expect((await hook('site', PUSH, good)).status).toBe(202);
    rmSync(triggerOf('site'));
    const oneBad = { ...good, 'x-gitlab-token': 'guess' };
    expect((await hook('site', PUSH, oneBad)).status).toBe(401);
    const unsigned = await hook('site', PUSH, { 'content-type': 'application/json' });
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as { error: string }).error).toMatch(/^unsigned webhook/);
    // Malformed: the wrong prefix, upper-case prefix, a truncated or padded signature, the secret's prefix.
    const sig = hmacHex(PUSH, SECRETS.site!);
    const malformed: Array<Record<string, string>> = [
      { 'x-hub-signature-256': sig },
      { 'x-hub-signature-256': `sha1=${sig}` },
      { 'x-hub-signature-256': `sha256=${sig.slice(0, 63)}` },
      { 'x-hub-signature-256': `sha256=${sig}00` },
      { 'x-gitea-signature': `sha256=${sig}` },
      { 'x-gitlab-token': SECRETS.site!.slice(0, 10) },
      { 'x-gitlab-token': `${SECRETS.site!}x` },
      { 'x-left4me-signature': `sha256=${hmacHex(PUSH + ' ', SECRETS.site!)}` },
    ];
    for (const headers of malformed) expect((await hook('site', PUSH, headers)).status, JSON.stringify(headers)).toBe(401);
    expect(existsSync(triggerOf('site'))).toBe(false);
  });

  it('verifyHook compares hex case-insensitively and refuses a header sent twice', () => {
    const body = Buffer.from('x');
    const sig = hmacHex(body, 's');
    expect(verifyHook({ 'x-hub-signature-256': `sha256=${sig.toUpperCase()}` }, body, 's')).toEqual({ ok: true, formats: ['github'] });
    expect(verifyHook({ 'x-hub-signature-256': [`sha256=${sig}`, `sha256=${sig}`] }, body, 's')).toEqual({ ok: false, reason: 'bad-signature', formats: ['github'] });
  });
});

describe('what the route refuses', () => {
  it('answers 404, the same for an unknown name, a malformed one and a source without a usable secret', async () => {
    const dir = layout().webhookSecretsDir;
    writeFileSync(join(dir, 'empty'), '\n');
    writeFileSync(join(fx.root, 'outside'), 'a secret outside\n');
    symlinkSync(join(fx.root, 'outside'), join(dir, 'linked'));
    mkdirSync(join(dir, 'adir'));
    const answers = [];
    for (const name of ['nosuch', 'empty', 'linked', 'adir', 'UPPER', '-dash', 'a'.repeat(64), 'site%2F..', '.hidden']) {
      // Signed with what an attacker might guess: the symlink's target among them.
      const r = await hook(name, PUSH, { 'x-gitlab-token': 'a secret outside' });
      answers.push([name, r.status, await r.json()]);
    }
    expect(answers.map(([, ...rest]) => rest)).toEqual(Array(answers.length).fill([404, { error: 'no webhook here: unknown source, or no webhook secret for it' }]));
    expect(readdirSync(layout().triggersDir)).toEqual([]);
  });

  it('answers 413 past 1 MiB and writes nothing; 1 MiB itself is fine', async () => {
    const big = Buffer.alloc(HOOK_BODY_LIMIT + 1, 'a');
    const r = await hook('site', big, { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${hmacHex(big, SECRETS.site!)}` });
    expect(r.status).toBe(413);
    expect(existsSync(triggerOf('site'))).toBe(false);
    const max = big.subarray(0, HOOK_BODY_LIMIT);
    expect((await hook('site', max, { 'content-type': 'text/plain', 'x-hub-signature-256': `sha256=${hmacHex(max, SECRETS.site!)}` })).status).toBe(202);
  });

  it('answers 429 with Retry-After past 60 calls a minute per source, good or bad, and writes nothing then; other sources are not affected', async () => {
    for (let i = 0; i < 60; i++) expect((await hook('limited', PUSH, { 'x-gitlab-token': 'wrong' })).status).toBe(401);
    const limited = await hook('limited', PUSH, { 'x-gitlab-token': SECRETS.limited! });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(existsSync(triggerOf('limited'))).toBe(false);
    // An unknown name is limited the same way: a 429 tells nothing about which names exist.
    for (let i = 0; i < 60; i++) expect((await hook('unknown-x', PUSH, { 'x-gitlab-token': 'wrong' })).status).toBe(404);
    expect((await hook('unknown-x', PUSH, { 'x-gitlab-token': 'wrong' })).status).toBe(429);
    expect((await hook('spare', PUSH, { 'x-gitlab-token': SECRETS.spare! })).status).toBe(202);
  });

  it('answers 503 when it cannot write the trigger, and says nothing of the secret', async () => {
    rmSync(layout().triggersDir, { recursive: true });
    writeFileSync(layout().triggersDir, 'a file where the directory should be');
    try {
      const r = await hook('spare', PUSH, { 'x-gitlab-token': SECRETS.spare! });
      expect(r.status).toBe(503);
    } finally {
      rmSync(layout().triggersDir);
      mkdirSync(layout().triggersDir);
    }
  });
});

/** Every route with its methods, from Fastify's route tree. */
function allRoutes(tree: string): Array<[string, string[]]> {
  const stack: string[] = [];
  const out: Array<[string, string[]]> = [];
  for (const line of tree.split('\n')) {
    const m = /^([\s│├└─]*)([^\s(]+)(?: \(([^)]*)\))?/.exec(line);
    if (!m) continue;
    const depth = Math.floor(m[1]!.length / 4);
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    if (m[3]) out.push([path, m[3].split(', ')]);
  }
  return out;
}

describe('the exemption is this route only', () => {
  it('every other /api route still needs an account, and every other change a CSRF token and this site', async () => {
    const routes = allRoutes(app.printRoutes({ commonPrefix: false })).filter(([p]) => p.startsWith('/api/'));
    const unsafe = routes.flatMap(([path, methods]) => methods.filter((m) => !['GET', 'HEAD', 'OPTIONS'].includes(m)).map((m) => [m, path.replace(/:[A-Za-z]+/g, 'demo-1').replace('*', 'x')] as const));
    expect(unsafe.map(([m, p]) => `${m} ${p}`)).toEqual(expect.arrayContaining(['POST /api/v1/hooks/git/demo-1', 'POST /api/v1/instances', 'PUT /api/v1/instances/demo-1', 'POST /api/v1/instances/demo-1/rcon']));
    const browser = new Browser(base);
    expect((await browser.login('alice', PASSWORDS.alice)).status).toBe(200);
    const secretHeaders = { 'x-gitlab-token': SECRETS.site!, 'x-hub-signature-256': `sha256=${hmacHex('{}', SECRETS.site!)}` };
    for (const [method, path] of unsafe) {
      if (path === '/api/v1/hooks/git/demo-1') continue;
      const anonymous = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...secretHeaders }, body: '{}' });
      if (method === 'POST' && path === '/api/v1/session') expect(anonymous.status, `${method} ${path}`).not.toBe(202);
      else expect(anonymous.status, `${method} ${path} without an account`).toBe(401);
      // The login form takes no CSRF token (it is the one way to get one); the cross-site check still applies.
      if (!(method === 'POST' && path === '/api/v1/session')) {
        const noCsrf = await browser.request(method, path, { body: '{}', noCsrf: true, headers: secretHeaders });
        expect(noCsrf.status, `${method} ${path} without a CSRF token`).toBe(403);
      }
      const crossSite = await browser.request(method, path, { body: '{}', headers: { origin: 'https://evil.example', ...secretHeaders } });
      expect(crossSite.status, `${method} ${path} from another site`).toBe(403);
    }
    // Other methods on the hook's own path are not exempt either.
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const r = await fetch(`${base}/api/v1/hooks/git/site`, { method, headers: secretHeaders, ...(method === 'GET' ? {} : { body: '{}' }) });
      expect(r.status, method).toBe(401);
    }
    // Nor a path that merely starts like it.
    expect((await fetch(`${base}/api/v1/hooks/git/site/extra`, { method: 'POST', headers: secretHeaders, body: '{}' })).status).toBe(401);
    expect((await fetch(`${base}/api/v1/hooks/git`, { method: 'POST', headers: secretHeaders, body: '{}' })).status).toBe(401);
  });

  it('the hook itself needs no account, ignores a bad Bearer token and a foreign Origin: the signature decides', async () => {
    const r = await hook('site', PUSH, { authorization: 'Bearer not-a-token', origin: 'https://github.com', 'sec-fetch-site': 'cross-site', 'x-gitlab-token': SECRETS.site! });
    expect(r.status).toBe(202);
    // Still the API's headers: no cache keeps the answer.
    expect(r.headers.get('cache-control')).toBe('no-store');
  });
});

describe('secrets stay secret', () => {
  it('no answer and no log line carries a secret or a signature; accepted and refused calls are logged', () => {
    expect(seen.length).toBeGreaterThan(50);
    const log = logLines.join('');
    for (const secret of Object.values(SECRETS)) {
      for (const text of seen) expect(text).not.toContain(secret);
      expect(log).not.toContain(secret);
      expect(log).not.toContain(hmacHex(PUSH, secret));
    }
    expect(log).not.toContain('a secret outside');
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(expect.objectContaining({ hook: 'git', source: 'site', formats: ['github'], event: 'push', msg: 'webhook accepted: fetch requested' }));
    expect(lines).toContainEqual(expect.objectContaining({ hook: 'git', source: 'site', reason: 'bad-signature', msg: 'webhook refused' }));
    expect(lines).toContainEqual(expect.objectContaining({ source: 'empty', msg: expect.stringContaining('empty') }));
  });
});
