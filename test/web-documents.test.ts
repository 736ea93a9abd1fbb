// The documents API against a real controller in a private systemd: a user
// creates an instance over HTTP and it goes Ready; the instance actions are
// document edits the controller carries out (stop, start, restart); a second
// user can neither see nor command it; validate says what a change would do
// and the controller then does it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_INSTALLATION_ROOT } from '../controller/demo/game-server/installation.js';
import { buildWebApp } from '../controller/web/app.js';
import { UserStore } from '../controller/web/users.js';
import { BASE_DOCS, bootDemoHost, startController, waitFor, type DemoHost } from './support/demo-host.js';

const PORTS = { game: { min: 28930, max: 28949 }, client: { min: 29930, max: 29949 } };
let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>> | undefined;
let app: Awaited<ReturnType<typeof buildWebApp>> | undefined;
let base = '';
const webData = mkdtempSync(join(tmpdir(), 'left4me-web-it-'));
const tokens = { alice: '', bob: '' };

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  ctl = await startController(demo, { portRanges: PORTS });
  const users = new UserStore(webData);
  await users.add('alice', 'alice password 1', 'user');
  await users.add('bob', 'bobs password 12', 'user');
  tokens.alice = await users.createToken('alice');
  tokens.bob = await users.createToken('bob');
  app = await buildWebApp({
    stateDir: demo.stateDir,
    dataDir: join(demo.host.root, 'var/lib/left4me'),
    webDataDir: webData,
    // The controller's own load options, so the API's writer judges documents as the controller does.
    load: { portRanges: PORTS, installationRoots: [DEMO_INSTALLATION_ROOT], fsRoot: demo.host.root },
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await ctl?.stop();
  await demo?.stop();
  rmSync(webData, { recursive: true, force: true });
});

async function call(method: string, path: string, who: keyof typeof tokens, opts: { body?: string; ifMatch?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${tokens[who]}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/yaml';
  if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
  const r = await fetch(`${base}${path}`, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await r.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: r.status, etag: r.headers.get('etag'), json: (text ? JSON.parse(text) : undefined) as any };
}

const ready = async (name: string) => {
  const r = await call('GET', `/api/v1/instances/${name}`, 'alice');
  return r.json?.status?.ready === 'True' && r.json.status.upToDate === true ? r.json : undefined;
};

describe('left4me web documents on a real host', () => {
  it('a user creates an instance over HTTP; it goes Ready and is theirs alone', async () => {
    const r = await call('POST', '/api/v1/instances', 'alice', { body: 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: web-a}\nspec: {blueprint: coop}\n' });
    expect(r.status).toBe(201);
    const doc = await waitFor('web-a Ready', () => ready('web-a'), 60_000);
    expect(doc.document.metadata.owner).toBe('alice');
    expect(doc.status.port).toBeGreaterThanOrEqual(PORTS.game.min);
    expect((await demo.server('web-a')).activeState).toBe('active');
    expect((await call('GET', '/api/v1/instances/web-a', 'bob')).status).toBe(404);
    expect((await call('POST', '/api/v1/instances/web-a/stop', 'bob')).status).toBe(404);
    expect((await demo.server('web-a')).activeState).toBe('active');
  });

  it('stop, start and restart are document edits the controller carries out', async () => {
    expect((await call('POST', '/api/v1/instances/web-a/stop', 'alice')).status).toBe(202);
    expect(readFileSync(join(demo.stateDir, 'instances', 'web-a.yaml'), 'utf8')).toContain('state: stopped');
    await waitFor('web-a stopped', async () => (await demo.server('web-a')).activeState === 'inactive', 60_000);
    expect((await call('POST', '/api/v1/instances/web-a/start', 'alice')).status).toBe(202);
    const started = await waitFor('web-a running again', async () => ((await demo.server('web-a')).activeState === 'active' && (await ready('web-a')) ? demo.server('web-a') : undefined), 60_000);
    expect((await call('POST', '/api/v1/instances/web-a/restart', 'alice')).status).toBe(202);
    await waitFor('web-a restarted (a new process)', async () => {
      const now = await demo.server('web-a');
      return now.activeState === 'active' && now.mainPid !== undefined && now.mainPid !== started.mainPid;
    }, 60_000);
  });

  it('validate says an immediate-policy change restarts the server now, and after the write it does', async () => {
    const current = await call('GET', '/api/v1/instances/web-a', 'alice');
    const edited = `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: web-a, annotations: ${JSON.stringify(current.json.document.metadata.annotations)}}\nspec: {blueprint: coop, updatePolicy: immediate, cvars: {hostname: "renamed by the api"}}\n`;
    const dry = await call('POST', '/api/v1/validate', 'alice', { body: edited });
    expect(dry.json.effects).toEqual([{ instance: 'web-a', effect: 'restarts', message: 'restarts now with the new config (updatePolicy immediate)' }]);
    const before = await demo.server('web-a');
    const put = await call('PUT', '/api/v1/instances/web-a', 'alice', { body: edited, ifMatch: current.etag! });
    expect(put.status).toBe(200);
    await waitFor('web-a restarted with the new config', async () => {
      const now = await demo.server('web-a');
      return now.activeState === 'active' && now.mainPid !== before.mainPid && (await ready('web-a'));
    }, 60_000);
  });
});
