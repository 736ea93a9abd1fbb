import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSource } from '../../test/support/source-layout.js';
import { testAccounts } from '../../test/support/web-client.js';
import { hostLayout } from '../host/layout.js';
import { packageRoot } from '../package-root.js';
import { buildWebApp } from './app.js';
import { UserStore } from './users.js';

// Documents from a git source through the API over real HTTP: the source's
// layout made by hand beside the demo's state tree (as the sync leaves it),
// every answer read over loopback, and the state tree checked untouched after
// each refused write.
const root = mkdtempSync(join(tmpdir(), 'left4me-web-sources-'));
const stateDir = join(root, 'state');
const dataDir = join(root, 'data');
const layout = hostLayout(dataDir);
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let commit = '';
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
type Who = keyof typeof tokens;

const instance = (name: string, ...spec: string[]) => ['apiVersion: left4me/v1', 'kind: Instance', 'metadata:', `  name: ${name}`, 'spec:', '  blueprint: demo-coop', ...spec.map((l) => `  ${l}`)].join('\n') + '\n';

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  commit = writeSource(layout, 'fleet', {
    files: { 'servers/eu-1.yaml': instance('eu-1', 'port: 27050'), 'servers/broken.yaml': instance('broken', 'port: 99999') },
    path: 'servers',
    url: 'https://git.example.org/fleet.git',
  });
  Object.assign(tokens, await testAccounts(new UserStore(join(root, 'web'))));
  app = await buildWebApp({ stateDir, dataDir, webDataDir: join(root, 'web') });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

async function call(method: string, path: string, who: Who, opts: { body?: string; ifMatch?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${tokens[who]}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/yaml';
  if (opts.ifMatch !== undefined) headers['if-match'] = opts.ifMatch;
  const r = await fetch(`${base}${path}`, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await r.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: r.status, etag: r.headers.get('etag'), json: (text ? JSON.parse(text) : undefined) as any };
}

/** Every file of the state tree with its text. */
function tree(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(stateDir, { recursive: true, withFileTypes: true })) if (e.isFile()) out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name), 'utf8');
  return out;
}

const managed = (name: string) => ({ status: 403, json: { error: `instance/${name} is managed by git source fleet: change the repository` } });

describe('documents from a git source through the API', () => {
  it('answers carry the origin: the document, the list, an invalid one with its problems at source@commit:path', async () => {
    const one = await call('GET', '/api/v1/instances/eu-1', 'admin');
    expect(one.status).toBe(200);
    expect(one.json.origin).toEqual({ source: 'fleet', commit, file: 'servers/eu-1.yaml' });
    expect(one.json.document.spec.port).toBe(27050);
    const local = await call('GET', '/api/v1/instances/demo-1', 'admin');
    expect(local.json.origin).toBeUndefined();
    const list = await call('GET', '/api/v1/instances', 'admin');
    const items = list.json.items as Array<{ name: string; origin?: { source: string } }>;
    expect(items.find((i) => i.name === 'eu-1')?.origin).toEqual({ source: 'fleet', commit, file: 'servers/eu-1.yaml' });
    expect(items.find((i) => i.name === 'broken')?.origin?.source).toBe('fleet');
    expect(items.find((i) => i.name === 'demo-1')?.origin).toBeUndefined();
    const broken = await call('GET', '/api/v1/instances/broken', 'admin');
    expect(broken.json).toMatchObject({ valid: false, origin: { source: 'fleet', file: 'servers/broken.yaml' } });
    expect(broken.json.problems).toEqual([
      { file: `fleet@${commit.slice(0, 7)}:servers/broken.yaml`, line: 7, col: 9, kind: 'Instance', name: 'broken', pointer: '/spec/port', message: 'must be <= 65535 (got 99999)', origin: { source: 'fleet', commit, file: 'servers/broken.yaml' } },
    ]);
  });

  it('PUT, DELETE and actions on a managed document are 403 with the message apply gives; nothing is written', async () => {
    const before = tree();
    const { etag } = await call('GET', '/api/v1/instances/eu-1', 'admin');
    expect(await call('PUT', '/api/v1/instances/eu-1', 'admin', { body: instance('eu-1', 'port: 27051'), ifMatch: etag! })).toMatchObject(managed('eu-1'));
    expect(await call('DELETE', '/api/v1/instances/eu-1', 'admin', { ifMatch: etag! })).toMatchObject(managed('eu-1'));
    expect(await call('POST', '/api/v1/instances/eu-1/restart', 'admin', { ifMatch: etag! })).toMatchObject(managed('eu-1'));
    // An invalid document from git is the repository's too.
    const broken = await call('GET', '/api/v1/instances/broken', 'admin');
    expect(await call('DELETE', '/api/v1/instances/broken', 'admin', { ifMatch: broken.etag! })).toMatchObject(managed('broken'));
    expect(tree()).toEqual(before);
  });

  it('POST of a new document whose name a source serves is 403, for admins and users alike; other names are written', async () => {
    const before = tree();
    expect(await call('POST', '/api/v1/instances', 'admin', { body: instance('eu-1') })).toMatchObject(managed('eu-1'));
    expect(await call('POST', '/api/v1/instances', 'alice', { body: instance('eu-1') })).toMatchObject(managed('eu-1'));
    expect(await call('POST', '/api/v1/validate', 'admin', { body: instance('broken') })).toMatchObject(managed('broken'));
    expect(tree()).toEqual(before);
    const created = await call('POST', '/api/v1/instances', 'admin', { body: instance('local-1') });
    expect(created.status).toBe(201);
    expect(created.json.origin).toBeUndefined();
  });

  it('GET /api/v1/sources gives every logged-in user the sources status, and nothing beyond its schema', async () => {
    const problem = { file: 'x.yaml', line: 3, col: 5, kind: 'Instance' as const, name: 'x', pointer: '/spec/port', message: 'must be <= 65535' };
    writeSource(layout, 'other', {
      files: {},
      status: {
        ref: { tag: 'v1' },
        lastError: { at: '2026-01-01T00:00:00.000Z', reason: 'invalid', message: 'does not validate', problems: [problem], commit: { commit: 'a'.repeat(40), author: 'A <a@example.org>', date: '2026-01-01T00:00:00.000Z', subject: 'x' } },
        // A field no schema lists never leaves, whatever the file holds.
        ...({ credentials: 'hunter2' } as object),
      },
    });
    const r = await call('GET', '/api/v1/sources', 'bob');
    expect(r.status).toBe(200);
    expect(r.json.items).toHaveLength(2);
    expect(r.json.items[0]).toMatchObject({ name: 'fleet', url: 'https://git.example.org/fleet.git', ref: { branch: 'main' }, path: 'servers', serving: { commit }, lastError: null });
    expect(r.json.items[1]).toMatchObject({ name: 'other', ref: { tag: 'v1' }, lastError: { reason: 'invalid', problems: [problem], commit: { commit: 'a'.repeat(40) } } });
    expect(JSON.stringify(r.json)).not.toContain('hunter2');
    expect((await fetch(`${base}/api/v1/sources`)).status).toBe(401);
  });

  it('a flip of the source to a new commit is seen by the next request, without a restart', async () => {
    const next = writeSource(layout, 'fleet', { files: { 'servers/eu-1.yaml': instance('eu-1', 'port: 27060') }, path: 'servers', url: 'https://git.example.org/fleet.git' });
    const one = await call('GET', '/api/v1/instances/eu-1', 'admin');
    expect(one.json.document.spec.port).toBe(27060);
    expect(one.json.origin.commit).toBe(next);
    expect((await call('GET', '/api/v1/instances/broken', 'admin')).status).toBe(404);
    // The name is free once no source serves it.
    writeFileSync(join(stateDir, 'instances', 'broken.yaml'), instance('broken'));
    expect((await call('GET', '/api/v1/instances/broken', 'admin')).json.origin).toBeUndefined();
  });
});
