// One concern: the load benchmark of issue 14 — a private host with 100
// running demo game servers, the controller as its own daemon, the web unit
// as production runs it, 50 people following the live feed and one person
// working in the dashboard — reported as ratios against the same host quiet.
//
// Rows (each against a baseline measured in the same run, on the same host):
// - API latency p50/p99 per call kind while 50 SSE clients follow the feed
//   and the scripted user's changes ripple through, against the same calls on
//   the quiet host (no SSE clients; reads with nothing changing, each write
//   alone with the host settled before the next);
// - a stop or start through the API → its event on all 50 clients, against
//   the same on the quiet host with one client; and the last client against
//   the first (what the fan-out costs);
// - controller and web CPU per minute under that load, against the same
//   processes over the idle host (100 servers running, no clients, no calls);
// - the web service's RSS after the load, against its RSS when idle.
//
// The run fails (load-checks.ts) when a client misses, repeats or reorders
// an event or misses a stop or start, ends with another view than the API,
// a call answers an error, or a server restarts that nobody changed (or one
// that was changed does not).
import type { ChildProcess } from 'node:child_process';
import { BASE_DOCS, bootDemoHost, instanceDoc, spawnController, waitFor, type DemoHost } from '../support/demo-host.js';
import { addWebUser, installWebUnit, startWebUnit, webBinds, webMainPid } from '../support/web-host.js';
import { openSse, type SseClient, type SseEvent } from '../support/sse-client.js';
import { Browser } from '../support/web-client.js';
import { cpuMs, percentile, perMinute, rssMiB } from './measure.js';
import { feedProblems, firstShowing, prng, restartProblems, shows, shuffled, viewProblems, type Change, type ChangeKind, type Feed, type Stamped, type Summary } from './load-checks.js';
import type { BenchResult } from './report.js';

const N = Number(process.env.LEFT4ME_BENCH_INSTANCES ?? 100);
const CLIENTS = Number(process.env.LEFT4ME_BENCH_SSE ?? 50);
const ACTIONS = Number(process.env.LEFT4ME_BENCH_ACTIONS ?? 200);
const SEED = Number(process.env.LEFT4ME_BENCH_SEED ?? 14);
/** One action every PACE_MS: a fast person in the dashboard. */
const PACE_MS = 200;
/**
 * The idle window over which CPU is measured with nothing to do: one period
 * of the controller's resync (60 s ± 10%), its beat when nothing happens; a
 * shorter window holds a resync or not by chance (30 against 690 ms/min).
 */
const IDLE_MS = Number(process.env.LEFT4ME_BENCH_IDLE_MS ?? 60_000);
/** Read calls of each kind in the quiet baseline, and writes of each kind (each alone, the host settled after it). */
const BASELINE_READS = 60;
const BASELINE_WRITES = Number(process.env.LEFT4ME_BENCH_BASELINE_WRITES ?? 4);
// Ports of this suite (see the table in test/support/demo-host.ts).
const GAME_PORTS = '30100-30199';
const CLIENT_PORTS = '31100-31199';
const WEB_PORT = 30200;

const names = Array.from({ length: N }, (_, i) => `l${i}`);
const PASSWORD = 'load bench password';

type ReadKind = 'list' | 'get' | 'log';
type CallKind = ReadKind | ChangeKind;
const READS: readonly ReadKind[] = ['list', 'get', 'log'];
const CHANGES: readonly ChangeKind[] = ['edit', 'restart', 'stop', 'start'];
const CALL_NAMES: Record<CallKind, string> = {
  list: 'GET /api/v1/instances',
  get: 'GET /api/v1/instances/NAME',
  log: 'GET /api/v1/instances/NAME/log?tail=50',
  edit: 'PUT /api/v1/instances/NAME (a cvar)',
  restart: 'POST /api/v1/instances/NAME/restart',
  stop: 'POST /api/v1/instances/NAME/stop',
  start: 'POST /api/v1/instances/NAME/start',
};
/** How often the scripted user picks each kind (start only while something is stopped; else a stop). */
const MIX: ReadonlyArray<[CallKind, number]> = [
  ['list', 25],
  ['get', 20],
  ['log', 15],
  ['edit', 15],
  ['restart', 10],
  ['stop', 8],
  ['start', 7],
];

/** An SSE client of one account, logged in as the dashboard logs in. */
interface Follower extends Feed {
  sse: SseClient;
}

/** The API calls of a person, timed; any answer other than the expected one is kept as an error. */
class Caller {
  readonly samples = new Map<CallKind, number[]>();
  readonly errors: string[] = [];

  constructor(private readonly browser: Browser) {}

  async call(kind: CallKind, method: string, path: string, expect: number, body?: unknown, headers?: Record<string, string>): Promise<Response | undefined> {
    const t = performance.now();
    let r: Response;
    try {
      r = await this.browser.request(method, path, { body, headers });
      await r.clone().arrayBuffer();
    } catch (err) {
      this.errors.push(`${method} ${path}: ${String(err)}`);
      return undefined;
    }
    const ms = performance.now() - t;
    if (r.status !== expect) {
      this.errors.push(`${method} ${path} answered ${r.status} (expected ${expect}): ${(await r.text()).slice(0, 300)}`);
      return undefined;
    }
    let list = this.samples.get(kind);
    if (!list) this.samples.set(kind, (list = []));
    list.push(ms);
    return r;
  }

  list() {
    return this.call('list', 'GET', '/api/v1/instances', 200);
  }
  get(name: string) {
    return this.call('get', 'GET', `/api/v1/instances/${name}`, 200);
  }
  log(name: string) {
    return this.call('log', 'GET', `/api/v1/instances/${name}/log?tail=50`, 200);
  }
  /** The dashboard's document editor: read the document, change one cvar, save it with the ETag it read. */
  async edit(name: string, value: string): Promise<boolean> {
    const got = await this.get(name);
    if (!got) return false;
    const { document, etag } = (await got.json()) as { document: { spec: { cvars?: Record<string, unknown> } }; etag: string };
    const edited = { ...document, spec: { ...document.spec, cvars: { ...document.spec.cvars, hostname: value } } };
    return (await this.call('edit', 'PUT', `/api/v1/instances/${name}`, 200, edited, { 'if-match': etag })) !== undefined;
  }
  async action(kind: 'restart' | 'stop' | 'start', name: string): Promise<boolean> {
    return (await this.call(kind, 'POST', `/api/v1/instances/${name}/${kind}`, 202)) !== undefined;
  }
}

/** The instances as the API lists them: name → ready/unit. */
async function listed(caller: Browser): Promise<Map<string, { ready: string; unit?: string; reason?: string; message?: string }>> {
  const r = await caller.request('GET', '/api/v1/instances');
  if (r.status !== 200) throw new Error(`GET /api/v1/instances answered ${r.status}`);
  const { items } = (await r.json()) as { items: Array<{ name: string; ready: string; reason?: string; message?: string; unit?: string }> };
  return new Map(items.map((i) => [i.name, { ready: i.ready, unit: i.unit, ...(i.ready !== 'True' ? { reason: i.reason, message: i.message } : {}) }]));
}

/** Every instance settled (the running ones Ready with an active unit, the stopped ones inactive); else throws naming those that are not. */
async function settled(caller: Browser, stopped: ReadonlySet<string>): Promise<true> {
  const view = await listed(caller);
  const unsettled = names.filter((n) => {
    const v = view.get(n);
    return !(stopped.has(n) ? v?.unit === 'inactive' : v?.ready === 'True' && v.unit === 'active');
  });
  if (unsettled.length > 0) throw new Error(`not settled: ${unsettled.slice(0, 8).map((n) => `${n} (${stopped.has(n) ? 'stopped' : 'running'}: ${JSON.stringify(view.get(n))})`).join(', ')}${unsettled.length > 8 ? ` and ${unsettled.length - 8} more` : ''}`);
  return true;
}

/** InvocationID of every server unit (systemd's own record of a (re)start). */
async function invocations(demo: DemoHost): Promise<Map<string, string>> {
  const units = names.map((n) => `left4me-server@${n}.service`);
  const r = await demo.host.exec('systemctl', ['show', '-p', 'Id,InvocationID', ...units]);
  if (r.code !== 0) throw new Error(`systemctl show failed: ${r.stderr}`);
  const out = new Map<string, string>();
  for (const block of r.stdout.trim().split('\n\n')) {
    const p = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    out.set(String(p.Id).replace(/^left4me-server@(.*)\.service$/, '$1'), String(p.InvocationID));
  }
  return out;
}

/** CPU (ms) of both processes over `fn`, with its wall time. */
async function cpuOver(pids: { controller: number; web: number }, fn: () => Promise<void>): Promise<{ wallMs: number; controllerMs: number; webMs: number }> {
  const c0 = await cpuMs(pids.controller);
  const w0 = await cpuMs(pids.web);
  const t = performance.now();
  await fn();
  const wallMs = performance.now() - t;
  return { wallMs, controllerMs: (await cpuMs(pids.controller)) - c0, webMs: (await cpuMs(pids.web)) - w0 };
}

export async function benchLoad(): Promise<BenchResult[]> {
  const started = performance.now();
  const log = (m: string) => process.stderr.write(`load: [${((performance.now() - started) / 1000).toFixed(0)} s] ${m}\n`);
  const demo = await bootDemoHost({ binds: webBinds() });
  let controller: ChildProcess | undefined;
  let controllerErr = '';
  const followers: Follower[] = [];
  const streams: SseClient[] = [];
  try {
    await installWebUnit(demo.host, WEB_PORT);
    await demo.write('base.yaml', BASE_DOCS);
    for (const n of names) await demo.write(`instances/${n}.yaml`, instanceDoc(n, ['updatePolicy: immediate']));
    controller = spawnController(demo, ['--port-range', GAME_PORTS, '--client-port-range', CLIENT_PORTS]);
    controller.stderr!.on('data', (d: Buffer) => (controllerErr = (controllerErr + d.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) => controller!.once('exit', (code) => reject(new Error(`the controller exited (${code}): ${controllerErr}`))));
    exited.catch(() => undefined);
    await addWebUser(demo.host, 'admin', PASSWORD, true);
    await startWebUnit(demo.host, WEB_PORT);
    const base = `http://127.0.0.1:${WEB_PORT}`;
    const admin = new Browser(base);
    if ((await admin.login('admin', PASSWORD)).status !== 200) throw new Error('the admin could not log in');
    const stopped = new Set<string>();
    await Promise.race([exited, waitFor(`${N} servers Ready`, () => settled(admin, stopped), 300_000, 1000)]);
    const pids = { controller: controller.pid!, web: (await webMainPid(demo.host)) ?? 0 };
    if (!pids.web) throw new Error('the web unit runs no main process');
    log(`${N} servers Ready after ${((performance.now() - started) / 1000).toFixed(0)} s`);

    // Idle: 100 servers running, no clients, no calls. The controller still probes health and the web still rescans.
    await new Promise((r) => setTimeout(r, 3000)); // the last health probes of the converge
    const idle = await cpuOver(pids, () => new Promise((r) => setTimeout(r, IDLE_MS)));
    const idleRss = await rssMiB(pids.web);
    log('idle measured');

    // Baseline: the same calls on the quiet host. Reads in turns (so a burst from elsewhere on the machine falls on all kinds alike) ...
    const quiet = new Caller(admin);
    const pickBase = prng(SEED ^ 0x5eed);
    const someName = (r: () => number) => names[Math.floor(r() * N)]!;
    for (let i = 0; i < BASELINE_READS; i++) {
      await quiet.list();
      await quiet.get(someName(pickBase));
      await quiet.log(someName(pickBase));
    }
    // ... and each write alone, the host settled before the next (a restart's ripples are the load, not the baseline).
    // The first round warms the write paths (JIT, the writer) and is not counted.
    // One client follows the feed here (the admin's own dashboard), for the quiet time from a stop or start to its event.
    const warmUp = new Caller(admin);
    const quietEvents: Stamped[] = [];
    const quietFeed = await openSse(`${base}/api/v1/events`, { cookie: admin.cookie!, accept: 'text/event-stream' }, (e: SseEvent) => quietEvents.push({ ...e, data: e.data as Summary, at: performance.now() }));
    streams.push(quietFeed);
    const quietFollower: Follower = { name: 'admin', sse: quietFeed, events: quietEvents };
    const quietToEvent: number[] = [];
    const timeToEvent = async (kind: 'stop' | 'start', name: string, sentAt: number) => {
      const c: Change = { kind, name, sentAt, shows: shows(kind) };
      const e = await waitFor(`the ${kind} of ${name} on the feed`, async () => firstShowing(quietFollower, c, c.shows!), 30_000, 20);
      quietToEvent.push(e.at - sentAt);
    };
    for (let i = 0; i <= BASELINE_WRITES; i++) {
      const caller = i === 0 ? warmUp : quiet;
      const n = names[N - 1 - (i % N)]!;
      await caller.edit(n, `baseline ${i}`);
      await waitFor(`${n} settled after an edit`, () => settled(admin, stopped), 60_000, 200);
      await caller.action('restart', n);
      await waitFor(`${n} settled after a restart`, () => settled(admin, stopped), 60_000, 200);
      let sentAt = performance.now();
      await caller.action('stop', n);
      stopped.add(n);
      await waitFor(`${n} stopped`, () => settled(admin, stopped), 60_000, 200);
      if (i > 0) await timeToEvent('stop', n, sentAt);
      sentAt = performance.now();
      await caller.action('start', n);
      stopped.delete(n);
      await waitFor(`${n} started`, () => settled(admin, stopped), 60_000, 200);
      if (i > 0) await timeToEvent('start', n, sentAt);
    }
    quietFeed.close();
    const quietErrors = [...warmUp.errors, ...quiet.errors];
    if (quietErrors.length > 0) throw new Error(`the quiet host answered errors:\n${quietErrors.join('\n')}`);
    log(`baseline measured`);

    // 50 people with the dashboard open: an account each (the service caps streams per account), logged in, following the feed.
    for (let i = 0; i < CLIENTS; i++) {
      const r = await admin.request('POST', '/api/v1/users', { body: { name: `viewer${i}`, password: PASSWORD, role: 'user' } });
      if (r.status !== 201) throw new Error(`creating viewer${i} answered ${r.status}: ${await r.text()}`);
    }
    for (let i = 0; i < CLIENTS; i++) {
      const b = new Browser(base);
      if ((await b.login(`viewer${i}`, PASSWORD)).status !== 200) throw new Error(`viewer${i} could not log in`);
      const events: Stamped[] = [];
      const sse = await openSse(`${base}/api/v1/events`, { cookie: b.cookie!, accept: 'text/event-stream' }, (e: SseEvent) => events.push({ ...e, data: e.data as Summary, at: performance.now() }));
      if (sse.status !== 200) throw new Error(`viewer${i}'s event stream answered ${sse.status}`);
      followers.push({ name: `viewer${i}`, sse, events });
    }
    log(`${followers.length} clients follow the feed`);
    await waitFor('every client’s snapshot', async () => followers.every((f) => f.events.some((e) => e.event === 'snapshot')), 30_000, 100);
    const before = await invocations(demo);
    // The scripted user: ACTIONS seeded actions, one every PACE_MS (the next waits for the page when a call takes longer).
    const user = new Caller(admin);
    const rand = prng(SEED);
    const pool = shuffled(names, rand);
    const changes: Change[] = [];
    const restarted = new Set<string>();
    const stoppedAt = new Map<string, number>();
    let lastList = new Map<string, { unit?: string }>();
    const weights = MIX.reduce((s, [, w]) => s + w, 0);
    const loadStart = performance.now();
    const load = await cpuOver(pids, async () => {
      for (let k = 0; k < ACTIONS; k++) {
        const due = loadStart + k * PACE_MS;
        if (performance.now() < due) await new Promise((r) => setTimeout(r, due - performance.now()));
        let roll = rand() * weights;
        let kind = MIX.find(([, w]) => (roll -= w) < 0)![0];
        // A person starts a server the list showed stopped, a while after stopping it (so the stop is there to be seen).
        const startable = [...stopped].filter((n) => lastList.get(n)?.unit === 'inactive' && performance.now() - stoppedAt.get(n)! >= 2000);
        if (kind === 'start' && startable.length === 0) kind = 'stop';
        // A change goes to a server nobody changed yet (so what the feed shows is this change's doing); reads go anywhere.
        if ((kind === 'edit' || kind === 'restart' || kind === 'stop') && pool.length === 0) kind = 'list';
        const target = kind === 'start' ? startable[Math.floor(rand() * startable.length)]! : kind === 'edit' || kind === 'restart' || kind === 'stop' ? pool.pop()! : someName(rand);
        const sentAt = performance.now();
        let ok = true;
        if (kind === 'list') {
          const r = await user.list();
          if (r) lastList = new Map(((await r.json()) as { items: Array<{ name: string; unit?: string }> }).items.map((i) => [i.name, { unit: i.unit }]));
        }
        else if (kind === 'get') await user.get(target);
        else if (kind === 'log') await user.log(target);
        else if (kind === 'edit') ok = await user.edit(target, `load ${k}`);
        else ok = await user.action(kind, target);
        if (!ok || !CHANGES.includes(kind as ChangeKind)) continue;
        changes.push({ kind: kind as ChangeKind, name: target, sentAt, shows: shows(kind as ChangeKind) });
        if (kind === 'stop') {
          stopped.add(target);
          stoppedAt.set(target, sentAt);
        }
        if (kind === 'start') stopped.delete(target);
        if (kind !== 'stop') restarted.add(target);
      }
      // The load lasts until the host has carried out every change and every client has seen each.
      await waitFor('every change carried out', () => settled(admin, stopped), 120_000, 250);
      await waitFor('every client to see every change', async () => feedProblems(followers, changes).length === 0, 60_000, 250).catch(() => undefined);
    });
    const loadRss = await rssMiB(pids.web);
    log(`${ACTIONS} actions (${changes.length} changes) in ${(load.wallMs / 1000).toFixed(1)} s`);

    // Correctness: nothing lost on the way to any client, no error, the right servers restarted.
    const problems = [...user.errors.map((e) => `API error: ${e}`), ...feedProblems(followers, changes)];
    problems.push(...viewProblems(followers, await listed(admin)));
    problems.push(...restartProblems(before, await invocations(demo), restarted, stopped));
    for (const k of [...READS, ...CHANGES]) if (!(user.samples.get(k)?.length && quiet.samples.get(k)?.length)) problems.push(`no samples of ${k} (the script or the baseline did not call it)`);
    if (problems.length > 0) throw new Error(`the load run failed its checks (seed ${SEED}):\n${problems.slice(0, 40).join('\n')}`);

    // Fan-out: from sending a stop or start to its event on each client.
    const toAll: number[] = [];
    const toFirst: number[] = [];
    for (const c of changes) {
      if (!c.shows) continue;
      const arrivals = followers.map((f) => firstShowing(f, c, c.shows!)!.at - c.sentAt);
      toAll.push(Math.max(...arrivals));
      toFirst.push(Math.min(...arrivals));
    }
    // How many edits and restarts the feed showed as they passed (Ready=False): informative, not a check (see `shows`).
    const passing = changes.filter((c) => !c.shows);
    const shown = passing.filter((c) => firstShowing(followers[0]!, c, (x) => x.ready === 'False')).length;
    log(`the feed showed ${shown} of ${passing.length} edits and restarts passing through Ready=False`);
    if (toAll.length === 0) throw new Error('the script made no stop or start: no fan-out to measure');

    const results: BenchResult[] = [];
    const under = `${N} servers, ${followers.length} SSE clients, a change every ~${Math.round((ACTIONS * PACE_MS) / 1000 / Math.max(1, changes.length) * 10) / 10} s`;
    for (const k of [...READS, ...CHANGES]) {
      const load = user.samples.get(k)!;
      const base = quiet.samples.get(k)!;
      for (const p of [50, 99]) {
        results.push({ name: `load: ${CALL_NAMES[k]} p${p} (${load.length} calls), ${under}`, value: percentile(load, p), unit: 'ms', baseline: percentile(base, p), baselineName: `same call, quiet host, p${p} of ${base.length}` });
      }
    }
    for (const p of [50, 99]) {
      results.push({ name: `load: a stop or start through the API → its event on all ${followers.length} clients, p${p} of ${toAll.length}`, value: percentile(toAll, p), unit: 'ms', baseline: percentile(quietToEvent, p), baselineName: `same on the quiet host → its event on one client, p${p} of ${quietToEvent.length}` });
    }
    results.push({ name: `load: the same → its event on the last of ${followers.length} clients, p99`, value: percentile(toAll, 99), unit: 'ms', baseline: percentile(toFirst, 99), baselineName: 'its event on the first client, p99 (the fan-out)' });
    results.push({ name: `load: controller CPU per minute under the load above`, value: perMinute(load.controllerMs, load.wallMs), unit: 'ms', baseline: perMinute(idle.controllerMs, idle.wallMs), baselineName: `${N} servers idle, no clients` });
    results.push({ name: `load: web service CPU per minute under the load above`, value: perMinute(load.webMs, load.wallMs), unit: 'ms', baseline: perMinute(idle.webMs, idle.wallMs), baselineName: `${N} servers idle, no clients` });
    results.push({ name: `load: web service RSS after the load above`, value: loadRss, unit: 'MiB', baseline: idleRss, baselineName: 'same process, idle' });
    log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return results;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\ncontroller's last words (stderr): ${controllerErr.trim() || '(none)'}`, { cause: err });
  } finally {
    for (const f of followers) f.sse.close();
    for (const st of streams) st.close();
    if (controller && controller.exitCode === null && controller.signalCode === null) {
      const gone = new Promise((r) => controller!.once('exit', r));
      controller.kill('SIGTERM');
      await gone;
    }
    await demo.stop();
  }
}
