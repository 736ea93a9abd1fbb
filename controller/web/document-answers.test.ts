// A document's answer is serialized through its kind's schema from schemas/:
// every field a schema knows must come back whole, for every kind and every
// overlay source type (the example tree has them all).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../documents/kinds.js';
import { documentsOf, loadState } from '../documents/loader.js';
import { packageRoot } from '../package-root.js';
import { buildWebApp } from './app.js';
import { UserStore } from './users.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-web-answers-'));
const stateDir = join(root, 'state');
const load = { installationRoots: ['/srv/left4me/installations'] };
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let token = '';

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example'), stateDir, { recursive: true, filter: (src) => !src.includes(`${join('state.example', 'demo')}`) });
  const users = new UserStore(join(root, 'web'));
  await users.add('admin', 'an admin password', 'admin');
  token = await users.createToken('admin');
  app = await buildWebApp({ stateDir, dataDir: join(root, 'data'), webDataDir: join(root, 'web'), load });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

describe('document answers', () => {
  it('carry every document of the example tree whole through its kind schema', async () => {
    const state = await loadState(stateDir, load);
    expect(state.problems).toEqual([]);
    let seen = 0;
    for (const kind of KINDS) {
      for (const doc of documentsOf(state, kind).values()) {
        const r = await fetch(`${base}/api/v1/${kind.toLowerCase()}s/${doc.metadata.name}`, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(200);
        const body = (await r.json()) as { document: unknown };
        expect(body.document, `${kind} ${doc.metadata.name}`).toEqual(JSON.parse(JSON.stringify({ apiVersion: doc.apiVersion, kind: doc.kind, metadata: doc.metadata, spec: doc.spec })));
        seen++;
      }
    }
    expect(seen).toBeGreaterThanOrEqual(10);
  });
});
