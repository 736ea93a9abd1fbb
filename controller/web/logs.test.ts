import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAccounts } from '../../test/support/web-client.js';
import { openSse } from '../../test/support/sse-client.js';
import { packageRoot } from '../package-root.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { buildWebApp } from './app.js';
import { UserStore } from './users.js';

// The log routes over real HTTP. Server logs come from a journalctl stand-in
// (argv and pid recorded; the real journal is test/web-logs.test.ts's), build
// logs from real files under the data directory.
const root = mkdtempSync(join(tmpdir(), 'left4me-logs-'));
const stateDir = join(root, 'state');
const dataDir = join(root, 'data');
const entries = join(root, 'journal.jsonl');
const record = join(root, 'journalctl-runs');
const status = new StatusStore(join(dataDir, 'status'));
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let cursor = 0;

function journal(unit: string, message: string | number[]): void {
  cursor++;
  appendFileSync(entries, `${JSON.stringify({ __CURSOR: `s=abc;i=${cursor};b=def`, __REALTIME_TIMESTAMP: String(1_700_000_000_000_000 + cursor * 1_000_000), _SYSTEMD_UNIT: unit, MESSAGE: message, _PID: '4242', _UID: '1879048192' })}\n`);
}

function buildStatus(kind: 'Overlay' | 'Installation', name: string, log: string, extra: Partial<DocumentStatus> = {}): DocumentStatus {
  return { kind, name, conditions: [], build: { ready: 'b1', wanted: 'b1', generation: 'g', checkedAt: '2026-01-01T00:00:00.000Z', result: 'Succeeded', log }, events: [], ...extra };
}

const get = (path: string, who: keyof typeof tokens) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${tokens[who]}` } });
const sse = (path: string, who: keyof typeof tokens, headers: Record<string, string> = {}) => openSse(`${base}${path}`, { authorization: `Bearer ${tokens[who]}`, ...headers });

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'instances', 'alice-1.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-1, owner: alice}\nspec: {blueprint: demo-coop}\n');
  writeFileSync(join(stateDir, 'overlays', 'alice-maps.yaml'), 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: alice-maps, owner: alice}\nspec:\n  sources:\n    - files:\n        - {path: left4dead2/addons/a.vpk, content: "a"}\n');
  mkdirSync(record);
  writeFileSync(entries, '');
  for (let i = 1; i <= 300; i++) journal('left4me-server@alice-1.service', `line ${i}`);
  journal('left4me-server@demo-1.service', 'demo-1 is not alice-1');
  journal('left4me-server@alice-1.service', '<script>alert(1)</script>');
  journal('left4me-server@alice-1.service', [0x68, 0xff, 0x69]);
  const users = new UserStore(join(root, 'web'));
  Object.assign(tokens, await testAccounts(users));
  app = await buildWebApp({
    stateDir,
    dataDir,
    webDataDir: join(root, 'web'),
    live: { journalctl: [process.execPath, join(packageRoot(), 'test', 'support', 'journalctl-stand-in.mjs'), entries, record], logFollowers: 8, buildLogPollMs: 50 },
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

const runs = () => readdirSync(record).filter((f) => f.endsWith('.json')).map((f) => ({ pid: Number(f.slice(0, -5)), args: JSON.parse(readFileSync(join(record, f), 'utf8')) as string[] }));
const stopped = () => (existsSync(join(record, 'stopped')) ? readFileSync(join(record, 'stopped'), 'utf8').split('\n').filter(Boolean).map(Number) : []);

describe('GET /api/v1/instances/NAME/log', () => {
  it('answers the last lines (default 200) as JSON data, from the server namespace and unit only', async () => {
    const r = await get('/api/v1/instances/alice-1/log', 'alice');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await r.text();
    const { lines } = JSON.parse(text) as { lines: Array<{ time: string; message: string }> };
    expect(lines).toHaveLength(200);
    expect(lines.at(-3)!.message).toBe('line 300');
    // Server text is data: markup arrives as a JSON string, bytes that are not UTF-8 are replaced.
    expect(lines.at(-2)!.message).toBe('<script>alert(1)</script>');
    expect(lines.at(-1)!.message).toBe('h\ufffdi');
    expect(lines[0]).toEqual({ time: new Date((1_700_000_000_000_000 + 103 * 1_000_000) / 1000).toISOString(), message: 'line 103' });
    expect(text).not.toContain('demo-1 is not alice-1');
    // Only time and message leave: no pid, uid or cursor internals.
    for (const secret of ['4242', '1879048192', '__CURSOR']) expect(text).not.toContain(secret);
    const run = runs().find((x) => x.args.includes('left4me-server@alice-1.service'))!;
    expect(run.args).toEqual(['--namespace=left4me', '-u', 'left4me-server@alice-1.service', '-o', 'json', '--no-pager', '--quiet', '-n', '200']);
  });

  it('takes ?tail=N up to 5000 and refuses more', async () => {
    const r = await get('/api/v1/instances/alice-1/log?tail=5', 'admin');
    expect(((await r.json()) as { lines: unknown[] }).lines).toHaveLength(5);
    for (const bad of ['0', '5001', 'abc', '-1']) expect((await get(`/api/v1/instances/alice-1/log?tail=${bad}`, 'admin')).status).toBe(400);
  });

  it("is the owner's or an admin's: another user gets 404 for a user's server, 403 for a system one", async () => {
    expect((await get('/api/v1/instances/alice-1/log', 'bob')).status).toBe(404);
    expect((await get('/api/v1/instances/demo-1/log', 'bob')).status).toBe(403);
    expect((await get('/api/v1/instances/demo-1/log', 'admin')).status).toBe(200);
    expect((await get('/api/v1/instances/__proto__/log', 'admin')).status).toBe(404);
    expect((await get('/api/v1/instances/..%2F..%2Fetc/log', 'admin')).status).toBe(404);
  });

  it('follows: the tail first, then new lines as SSE with cursors as ids; a reconnect resumes after the last cursor', async () => {
    const s = await sse('/api/v1/instances/alice-1/log?follow=1&tail=2', 'alice');
    expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await s.waitFor('the tail', (e) => (e.data as { message: string }).message === 'h\ufffdi');
    journal('left4me-server@alice-1.service', 'a new line');
    const nl = await s.waitFor('the new line', (e) => (e.data as { message: string }).message === 'a new line');
    expect(s.events.map((e) => (e.data as { message: string }).message)).toEqual(['<script>alert(1)</script>', 'h\ufffdi', 'a new line']);
    expect(nl.event).toBe('line');
    const pid = runs().find((x) => x.args.includes('--follow') && x.args.includes('2'))!.pid;
    s.close();
    // The client went: its journalctl is stopped.
    const deadline = Date.now() + 10_000;
    while (!stopped().includes(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(stopped()).toContain(pid);
    journal('left4me-server@alice-1.service', 'while away');
    const again = await sse('/api/v1/instances/alice-1/log?follow=1', 'alice', { 'last-event-id': nl.id! });
    await again.waitFor('the missed line', (e) => (e.data as { message: string }).message === 'while away');
    expect(again.events.map((e) => (e.data as { message: string }).message)).toEqual(['while away']);
    again.close();
  });

  it('answers 503 when journalctl fails, without handing on what it said', async () => {
    const r = await get('/api/v1/instances/demo-2/log', 'admin');
    expect(r.status).toBe(503);
    const text = await r.text();
    expect(JSON.parse(text)).toEqual({ error: 'the server log could not be read; the service log has the details' });
    expect(text).not.toContain('permission denied');
  });

  it('bounds followers: one account holds a quarter of them (429)', async () => {
    const held = [await sse('/api/v1/instances/demo-1/log?follow=1', 'admin'), await sse('/api/v1/instances/demo-1/log?follow=1', 'admin')];
    for (const h of held) await h.waitFor('the tail', () => true);
    const over = await get('/api/v1/instances/demo-1/log?follow=1', 'admin');
    expect(over.status).toBe(429);
    for (const h of held) h.close();
  });
});

describe('GET /api/v1/{overlays,installations}/NAME/build-log', () => {
  beforeAll(async () => {
    mkdirSync(join(dataDir, 'logs', 'overlays', 'alice-maps'), { recursive: true });
    writeFileSync(join(dataDir, 'logs', 'overlays', 'alice-maps', 'b1.log'), Array.from({ length: 300 }, (_, i) => `build line ${i + 1}`).join('\n') + '\npartial');
    await status.write(buildStatus('Overlay', 'alice-maps', 'logs/overlays/alice-maps/b1.log'));
    mkdirSync(join(dataDir, 'logs', 'installations', 'demo'), { recursive: true });
    writeFileSync(join(dataDir, 'logs', 'installations', 'demo', 'b1.log'), 'steamcmd login as someone\n');
    await status.write(buildStatus('Installation', 'demo', 'logs/installations/demo/b1.log'));
  });

  it('answers the last lines as plain text, never HTML', async () => {
    const r = await get('/api/v1/overlays/alice-maps/build-log?tail=3', 'alice');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await r.text()).toBe('build line 299\nbuild line 300\npartial\n');
  });

  it("keeps a user's overlay log from other users (404) and installation logs for admins (403)", async () => {
    expect((await get('/api/v1/overlays/alice-maps/build-log', 'bob')).status).toBe(404);
    expect((await get('/api/v1/installations/demo/build-log', 'alice')).status).toBe(403);
    const r = await get('/api/v1/installations/demo/build-log', 'admin');
    expect(await r.text()).toBe('steamcmd login as someone\n');
    expect((await get('/api/v1/overlays/demo-base/build-log', 'alice')).status).toBe(404);
  });

  it('refuses a log path that leaves the logs directory or passes a symbolic link', async () => {
    writeFileSync(join(root, 'outside.log'), 'SECRET outside\n');
    mkdirSync(join(dataDir, 'logs', 'overlays', 'demo-rates'), { recursive: true });
    symlinkSync(join(root, 'outside.log'), join(dataDir, 'logs', 'overlays', 'demo-rates', 'b1.log'));
    symlinkSync(root, join(dataDir, 'logs', 'overlays', 'demo-config'));
    for (const [name, log] of [
      ['demo-base', 'logs/../../outside.log'],
      ['demo-base', '/etc/passwd'],
      ['demo-base', 'status/overlay/demo-base.json'],
      ['demo-rates', 'logs/overlays/demo-rates/b1.log'],
      ['demo-config', 'logs/overlays/demo-config/outside.log'],
    ] as const) {
      await status.write(buildStatus('Overlay', name, log));
      const r = await get(`/api/v1/overlays/${name}/build-log`, 'admin');
      const text = await r.text();
      expect(r.status, `${name}: ${log}`).toBe(500);
      expect(text).not.toContain('SECRET');
      expect(text).not.toContain('root:');
    }
  });

  it('follows a running install as SSE and ends when the status says it is over', async () => {
    const log = join(dataDir, 'logs', 'installations', 'demo', 'b2.log');
    writeFileSync(log, 'start\n');
    await status.write(buildStatus('Installation', 'demo', 'logs/installations/demo/b1.log', { progress: { pass: 0, passes: 0, platform: '', state: 'starting', percent: 0 } }));
    const s = await sse('/api/v1/installations/demo/build-log?follow=1&build=b2', 'admin');
    await s.waitFor('start', (e) => (e.data as { message: string }).message === 'start');
    appendFileSync(log, 'downloading 50%\nhalf a li');
    await s.waitFor('progress', (e) => (e.data as { message: string }).message === 'downloading 50%');
    appendFileSync(log, 'ne\ninstalled');
    await status.write(buildStatus('Installation', 'demo', 'logs/installations/demo/b2.log'));
    await s.waitFor('the end', (e) => e.event === 'end');
    await s.ended;
    expect(s.events.map((e) => (e.data as { message?: string }).message ?? e.event)).toEqual(['start', 'downloading 50%', 'half a line', 'installed', 'end']);
  });

  it("follows an overlay build the status says is running, from its log's first line, and ends when the build is recorded", async () => {
    mkdirSync(join(dataDir, 'logs', 'overlays', 'alice-maps'), { recursive: true });
    const log = join(dataDir, 'logs', 'overlays', 'alice-maps', 'b9.log');
    writeFileSync(log, 'fetching\n');
    // The newest finished build is b1; the controller says b9 is being built now.
    await status.write(buildStatus('Overlay', 'alice-maps', 'logs/overlays/alice-maps/b1.log', { building: { build: 'b9', log: 'logs/overlays/alice-maps/b9.log', since: new Date().toISOString() } }));
    const s = await sse('/api/v1/overlays/alice-maps/build-log?follow=1', 'alice');
    await s.waitFor('fetching', (e) => (e.data as { message: string }).message === 'fetching');
    appendFileSync(log, 'build b9 ready\n');
    await s.waitFor('ready line', (e) => (e.data as { message: string }).message === 'build b9 ready');
    await status.write(buildStatus('Overlay', 'alice-maps', 'logs/overlays/alice-maps/b9.log'));
    await s.waitFor('the end', (e) => e.event === 'end');
    await s.ended;
  });

  it('answers 404 for what has no log yet, 400 for a hostile build id', async () => {
    expect((await get('/api/v1/overlays/demo-base/build-log?build=nope', 'admin')).status).toBe(404);
    expect((await get('/api/v1/installations/demo/build-log?build=..%2F..%2Fx', 'admin')).status).toBe(400);
    expect((await get('/api/v1/overlays/alice-maps/build-log?build=.hidden', 'admin')).status).toBe(400);
  });
});
