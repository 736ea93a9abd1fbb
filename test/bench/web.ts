// The web service under load, as its own process (`left4me web`): p99 of
// `GET /api/v1/instances` at 100 instances while 50 SSE clients follow
// `/api/v1/events`, against `/healthz` asked the same way in the same run
// (what fastify and loopback HTTP cost with no work behind them); and the
// service's RSS, against a bare fastify process answering one route.
import { spawn, type ChildProcess } from 'node:child_process';
import { request, type ClientRequest } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../controller/package-root.js';
import { StatusStore } from '../../controller/status/store.js';
import { UserStore } from '../../controller/web/users.js';
import type { BenchResult } from './report.js';

const INSTANCES = 100;
const SSE_CLIENTS = 50;
const REQUESTS = 2000;
const CONCURRENCY = 4;

/** A state tree of INSTANCES instances with Ready status files (also the dashboard's bench host, ui.ts). */
export async function writeHost(root: string): Promise<void> {
  const state = join(root, 'state');
  await mkdir(join(state, 'instances'), { recursive: true });
  await mkdir(join(root, 'installations', 'demo'), { recursive: true });
  await writeFile(join(state, 'base.yaml'), [
    `apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: demo}\nspec: {source: directory, path: ${join(root, 'installations', 'demo')}}\n`,
    'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: coop}\nspec: {installation: demo, map: c1m1_hotel, maxPlayers: 8}\n',
  ].join('---\n'));
  const status = new StatusStore(join(root, 'data', 'status'));
  for (let i = 0; i < INSTANCES; i++) {
    const name = `i${i}`;
    await writeFile(join(state, 'instances', `${name}.yaml`), `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: ${name}, owner: ${i % 2 ? 'alice' : 'system'}}\nspec: {blueprint: coop}\n`);
    await status.write({
      kind: 'Instance',
      name,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'the server runs the current documents', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
      port: 27015 + i,
      clientPort: 26900 + i,
      players: i % 9,
      maxPlayers: 8,
      unit: { activeState: 'active', subState: 'running' },
      events: [],
    });
  }
}

/** Starts a process and resolves with its URL once it prints `listening on URL`. */
export function startListening(cmd: string, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before listening: ${out}`)));
  });
}

async function rssMiB(pid: number): Promise<number> {
  return Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** Latencies (ms) of `count` GETs of `path`, `CONCURRENCY` at a time, each reading the whole answer. */
async function latencies(url: string, path: string, token: string, count: number): Promise<number[]> {
  const samples: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const t = performance.now();
      const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${path} answered ${r.status}`);
      samples.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return samples;
}

const p99 = (samples: number[]): number => [...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.99)]!;

/** Opens an SSE stream and resolves once its first bytes arrived; the request stays open until destroyed. */
function openStream(url: string, token: string): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`/api/v1/events answered ${res.statusCode}`));
      res.once('data', () => resolve(req));
      res.on('data', () => undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function benchWeb(): Promise<BenchResult[]> {
  const root = await mkdtemp(join(tmpdir(), 'left4me-bench-web-'));
  const children: ChildProcess[] = [];
  const streams: ClientRequest[] = [];
  try {
    await writeHost(root);
    const users = new UserStore(join(root, 'web'));
    await users.add('admin', 'bench admin password', 'admin');
    const token = await users.createToken('admin');
    const bin = join(packageRoot(), 'controller', 'bin', 'left4me.js');
    const web = await startListening(bin, ['web', '--listen', '127.0.0.1:0', '--state', join(root, 'state'), '--data-dir', join(root, 'data'), '--web-data-dir', join(root, 'web'), '--installation-root', join(root, 'installations')]);
    children.push(web.child);
    const listed = ((await (await fetch(`${web.url}/api/v1/instances`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: unknown[] }).items.length;
    if (listed !== INSTANCES) throw new Error(`the bench host lists ${listed} instances, not ${INSTANCES}: its documents are not valid`);
    // One account per client, as 50 people with the dashboard open would be (the service caps streams per account).
    const sseClients = Number(process.env.LEFT4ME_BENCH_SSE ?? SSE_CLIENTS);
    for (let i = 0; i < sseClients; i++) {
      await users.add(`viewer${i}`, 'bench viewer password', 'user');
      streams.push(await openStream(web.url, await users.createToken(`viewer${i}`)));
    }
    // Warm the JIT and the state view, then measure the baseline and the list in turns.
    await latencies(web.url, '/healthz', token, 300);
    await latencies(web.url, '/api/v1/instances', token, 300);
    // In alternating rounds, so a burst of load from elsewhere on the machine falls on both.
    const healthSamples: number[] = [];
    const listSamples: number[] = [];
    for (let round = 0; round < 10; round++) {
      healthSamples.push(...(await latencies(web.url, '/healthz', token, REQUESTS / 10)));
      listSamples.push(...(await latencies(web.url, '/api/v1/instances', token, REQUESTS / 10)));
    }
    const health = p99(healthSamples);
    const list = p99(listSamples);
    const rss = await rssMiB(web.child.pid!);

    // The floor for memory: the same Node with fastify answering one route, nothing else loaded.
    const bare = await startListening(process.execPath, ['--max-semi-space-size=4', '--input-type=module', '-e', "const f = (await import('fastify')).default(); f.get('/', async () => ({ ok: true })); console.log('listening on ' + await f.listen({ host: '127.0.0.1', port: 0 }));"]);
    children.push(bare.child);
    for (let i = 0; i < 300; i++) await (await fetch(bare.url)).arrayBuffer();
    const bareRss = await rssMiB(bare.child.pid!);
    return [
      { name: `web: GET /api/v1/instances p99, ${INSTANCES} instances, ${streams.length} SSE clients`, value: list, unit: 'ms', baseline: health, baselineName: 'GET /healthz p99, same process' },
      { name: `web: service RSS after the load above`, value: rss, unit: 'MiB', baseline: bareRss, baselineName: 'bare fastify process' },
    ];
  } finally {
    for (const s of streams) s.destroy();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    await rm(root, { recursive: true, force: true });
  }
}
