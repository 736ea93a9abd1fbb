import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAccounts } from '../../test/support/web-client.js';
import { packageRoot } from '../package-root.js';
import { ControllerCounters } from '../status/counters.js';
import { HistoryStore } from '../status/history.js';
import { StatusStore } from '../status/store.js';
import { buildWebApp } from './app.js';
import { UserStore } from './users.js';

// History and metrics over real HTTP, against files as the controller writes them.
const root = mkdtempSync(join(tmpdir(), 'left4me-web-hist-'));
const stateDir = join(root, 'state');
const dataDir = join(root, 'data');
const metricsTokenFile = join(root, 'metrics-token');
const METRICS_TOKEN = 'm'.repeat(20) + 'scraper-secret-0123456789';
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
const MIN = 60_000;
const now = Date.now();
const minute0 = Math.floor(now / MIN) * MIN;

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'instances', 'alice-1.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-1, owner: alice}\nspec: {blueprint: demo-coop}\n');
  await new StatusStore(join(dataDir, 'status')).write({
    kind: 'Instance',
    name: 'alice-1',
    conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'ok', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
    port: 27020,
    players: 1,
    maxPlayers: 8,
    unit: { activeState: 'active', subState: 'running' },
    events: [],
  });
  // Ten minutes of samples: players 0..9, 0.25 core busy, memory growing.
  const history = new HistoryStore(join(dataDir, 'history'));
  for (let m = 9; m >= 0; m -= 1) {
    const i = 9 - m;
    await history.append('alice-1', { t: minute0 - m * MIN + 1000, players: i, maxPlayers: 8, cpuNs: BigInt(i) * 15_000_000_000n, memory: 100_000_000 + i * 1_000_000 });
  }
  await history.close();
  const counters = new ControllerCounters(join(dataDir, 'status', 'metrics.json'));
  counters.pass();
  counters.reconciled('instance', true, 0.02);
  counters.reconciled('instance', true, 0.2);
  counters.built('overlay', false, 3);
  await counters.flush();
  writeFileSync(metricsTokenFile, `${METRICS_TOKEN}\n`, { mode: 0o600 });
  const users = new UserStore(join(root, 'web'));
  Object.assign(tokens, await testAccounts(users));
  app = await buildWebApp({ stateDir, dataDir, webDataDir: join(root, 'web'), metricsTokenFile });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

const get = (path: string, token?: string) => fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
type Answer = { name: string; since: number; step: number; sampleStep: number; points: Array<{ t: number; players: number | null; cpu: number | null; memory: number | null }> };

describe('GET /api/v1/instances/NAME/history', () => {
  it('gives the owner one point per minute by default: players, CPU in cores, memory', async () => {
    const r = await get('/api/v1/instances/alice-1/history', tokens.alice);
    expect(r.status).toBe(200);
    const a = (await r.json()) as Answer;
    expect(a).toMatchObject({ name: 'alice-1', step: MIN, sampleStep: MIN });
    expect(a.points).toHaveLength(10);
    expect(a.points.map((p) => p.players)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.points[0]!.cpu).toBeNull(); // no sample before the first: no rate
    expect(a.points.slice(1).every((p) => p.cpu === 0.25)).toBe(true);
    expect(a.points.at(-1)).toEqual({ t: minute0, players: 9, cpu: 0.25, memory: 109_000_000 });
  });

  it('downsamples by step and honours since', async () => {
    const a = (await (await get('/api/v1/instances/alice-1/history?step=5m&since=1h', tokens.admin)).json()) as Answer;
    expect(a.step).toBe(5 * MIN);
    expect(a.points.reduce((n, p) => n + (p.players === null ? 0 : 1), 0)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...a.points.map((p) => p.players ?? 0))).toBe(9);
    const since = minute0 - 2 * MIN;
    const b = (await (await get(`/api/v1/instances/alice-1/history?since=${new Date(since).toISOString()}`, tokens.admin)).json()) as Answer;
    expect(b.points.map((p) => p.players)).toEqual([7, 8, 9]);
  });

  it('never answers more than 1440 points: a long range gets a coarser step', async () => {
    const a = (await (await get('/api/v1/instances/alice-1/history?since=7d&step=1m', tokens.admin)).json()) as Answer;
    expect(a.step).toBe(7 * MIN);
    expect(a.points.length).toBeLessThanOrEqual(1440);
  });

  it('says what is wrong with since or step (400), and hides other users\' instances (404)', async () => {
    for (const q of ['since=yesterday', 'step=fast', 'step=0m', 'since=' + 'x'.repeat(100)]) {
      const r = await get(`/api/v1/instances/alice-1/history?${q}`, tokens.alice);
      expect(r.status, q).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/since|step/);
    }
    expect((await get('/api/v1/instances/alice-1/history', tokens.bob)).status).toBe(404);
    expect((await get('/api/v1/instances/__proto__/history', tokens.admin)).status).toBe(404);
    expect((await get('/api/v1/instances/..%2F..%2Fetc/history', tokens.admin)).status).toBe(404);
    expect((await get('/api/v1/instances/alice-1/history')).status).toBe(401);
  });

  it('an instance with no samples yet has an empty history', async () => {
    const a = (await (await get('/api/v1/instances/demo-1/history', tokens.bob)).json()) as Answer;
    expect(a.points).toEqual([]);
  });
});

describe('GET /metrics', () => {
  it('is not public: 401 without a token, 403 for a user, open to an admin and to the scraper token', async () => {
    const anon = await get('/metrics');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Bearer');
    expect((await get('/metrics', 'not-a-token')).status).toBe(401);
    expect((await get('/metrics', tokens.alice)).status).toBe(403);
    expect((await get('/metrics', tokens.admin)).status).toBe(200);
    const r = await get('/metrics', METRICS_TOKEN);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
  });

  it('shows instances by state, players, CPU and memory per instance, and the controller counters', async () => {
    const text = await (await get('/metrics', METRICS_TOKEN)).text();
    expect(text).toContain('left4me_instance_players{instance="alice-1",owner="alice"} 9');
    expect(text).toContain('left4me_instance_max_players{instance="alice-1",owner="alice"} 8');
    expect(text).toContain('left4me_instance_cpu_cores{instance="alice-1",owner="alice"} 0.25');
    expect(text).toContain('left4me_instance_memory_bytes{instance="alice-1",owner="alice"} 109000000');
    expect(text).toMatch(/^left4me_instances\{state="running",ready="True"\} 1$/m);
    expect(text).toMatch(/^left4me_instances\{state="running",ready="Unknown"\} 3$/m);
    expect(text).toContain('left4me_controller_reconciles_total{kind="instance",result="ok"} 2');
    expect(text).toContain('left4me_controller_reconcile_duration_seconds_bucket{kind="instance",le="0.025"} 1');
    expect(text).toContain('left4me_controller_reconcile_duration_seconds_bucket{kind="instance",le="+Inf"} 2');
    expect(text).toContain('left4me_controller_reconcile_duration_seconds_count{kind="instance"} 2');
    expect(text).toContain('left4me_controller_passes_total 1');
    expect(text).toContain('left4me_builds_total{kind="overlay",result="failed"} 1');
    expect(text).toContain('left4me_build_duration_seconds_sum{kind="overlay"} 3');
    expect(text).toMatch(/^left4me_web_process_resident_memory_bytes \d+/m);
  });

  it('counts web requests by route pattern and status, never by raw URL', async () => {
    for (const name of ['alice-1', 'nope-1', 'nope-2']) await get(`/api/v1/instances/${name}/history`, tokens.admin);
    await get('/no/such/page/' + 'z'.repeat(30));
    const text = await (await get('/metrics', tokens.admin)).text();
    expect(text).toMatch(/^left4me_web_requests_total\{method="GET",route="\/api\/v1\/instances\/:name\/history",code="404"\} [2-9]/m);
    expect(text).toMatch(/^left4me_web_requests_total\{method="GET",route="unmatched",code="404"\} [1-9]/m);
    expect(text).toMatch(/^left4me_web_request_duration_seconds_count\{method="GET",route="\/api\/v1\/instances\/:name\/history"\} \d+/m);
    expect(text).not.toContain('nope-1');
    expect(text).not.toContain('zzzz');
    for (const secret of [METRICS_TOKEN, tokens.admin.slice('l4m_000000000000_'.length), 'scrypt$']) expect(text).not.toContain(secret);
  });

  it('refuses to start with a world-readable or short scraper token', async () => {
    chmodSync(metricsTokenFile, 0o644);
    await expect(buildWebApp({ stateDir, dataDir, webDataDir: join(root, 'web'), metricsTokenFile })).rejects.toThrow(/world-readable/);
    writeFileSync(metricsTokenFile, 'short', { mode: 0o600 });
    chmodSync(metricsTokenFile, 0o600);
    await expect(buildWebApp({ stateDir, dataDir, webDataDir: join(root, 'web'), metricsTokenFile })).rejects.toThrow(/at least 32/);
  });
});
