/**
 * `GET /metrics`: Prometheus text. Instance names are per user, so it is
 * not public: an admin (token, or session once sessions exist) or the
 * scraper's own bearer token (`metricsTokenFile`) may read it. Values the
 * controller owns are read from its files at scrape time: instances by
 * state and readiness, players, CPU and memory per instance (the newest
 * history sample), and the controller's counters.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Metric, Registry } from 'prom-client';
import { DURATION_BUCKETS, readCounters, type ControllerCountersFile, type Histogram } from '../../status/counters.js';
import { HistoryStore } from '../../status/history.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';

type Labels = Record<string, string>;
interface Sample {
  value: number;
  labels?: Labels;
  metricName?: string;
}

/** What one scrape read from the controller's files. */
interface Snapshot {
  instances: Array<{ name: string; owner: string; state: string; ready: string; players?: number; maxPlayers?: number; cpu?: number; memory?: number }>;
  counters?: ControllerCountersFile;
}

/** A metric whose values come from a snapshot the route reads first (prom-client's collect() cannot share one read). */
function fileMetric(registry: Registry, name: string, help: string, type: 'gauge' | 'counter' | 'histogram', values: () => Sample[]): void {
  registry.registerMetric({ name, help, type, get: async () => ({ name, help, type, values: values(), aggregator: 'sum' }) } as unknown as Metric);
}

function histogramSamples(h: Histogram, labels: Labels, name: string): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  DURATION_BUCKETS.forEach((le, i) => {
    cumulative += h.buckets[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(le) }, value: cumulative });
  });
  cumulative += h.buckets[DURATION_BUCKETS.length] ?? 0;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum }, { metricName: `${name}_count`, labels, value: h.count });
  return out;
}

/** The scraper's token from its file: root- or service-readable only, long enough to be a secret. */
function readMetricsToken(path: string): Buffer {
  const st = statSync(path);
  if (st.mode & 0o004) throw new Error(`${path}: the metrics token file is world-readable; chmod o-r it`);
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 32) throw new Error(`${path}: a metrics token needs at least 32 characters`);
  return createHash('sha256').update(token).digest();
}

export function metricsRoutes(app: FastifyInstance, ctx: WebContext, registry: Registry): void {
  const history = new HistoryStore(ctx.layout.historyDir);
  const scraperToken = ctx.opts.metricsTokenFile ? readMetricsToken(ctx.opts.metricsTokenFile) : undefined;
  let snap: Snapshot = { instances: [] };

  const perInstance = (pick: (i: Snapshot['instances'][number]) => number | undefined): Sample[] =>
    snap.instances.flatMap((i) => {
      const v = pick(i);
      return v === undefined ? [] : [{ labels: { instance: i.name, owner: i.owner }, value: v }];
    });
  fileMetric(registry, 'left4me_instances', 'Instances by desired state and Ready condition', 'gauge', () => {
    const counts = new Map<string, { labels: Labels; value: number }>();
    for (const i of snap.instances) {
      const key = `${i.state}\0${i.ready}`;
      const c = counts.get(key) ?? { labels: { state: i.state, ready: i.ready }, value: 0 };
      c.value += 1;
      counts.set(key, c);
    }
    return [...counts.values()];
  });
  fileMetric(registry, 'left4me_instance_players', 'Players on the server (newest sample, else the last A2S answer)', 'gauge', () => perInstance((i) => i.players));
  fileMetric(registry, 'left4me_instance_max_players', 'Player slots of the server', 'gauge', () => perInstance((i) => i.maxPlayers));
  fileMetric(registry, 'left4me_instance_cpu_cores', 'CPU use of the server in cores, between its two newest samples', 'gauge', () => perInstance((i) => i.cpu));
  fileMetric(registry, 'left4me_instance_memory_bytes', "Memory of the server's cgroup at its newest sample", 'gauge', () => perInstance((i) => i.memory));
  const c = () => snap.counters;
  fileMetric(registry, 'left4me_controller_reconciles_total', 'Reconciles by kind and result (since the controller started)', 'counter', () =>
    Object.entries(c()?.reconciles ?? {}).flatMap(([kind, r]) => [
      { labels: { kind, result: 'ok' }, value: r.ok },
      { labels: { kind, result: 'error' }, value: r.error },
    ]),
  );
  fileMetric(registry, 'left4me_controller_reconcile_duration_seconds', 'Reconcile durations by kind', 'histogram', () =>
    Object.entries(c()?.reconciles ?? {}).flatMap(([kind, r]) => histogramSamples(r.duration, { kind }, 'left4me_controller_reconcile_duration_seconds')),
  );
  fileMetric(registry, 'left4me_controller_passes_total', 'Full passes (start, resync, reconcile now)', 'counter', () => (c() ? [{ value: c()!.passes }] : []));
  fileMetric(registry, 'left4me_builds_total', 'Builds that ran, by kind and result', 'counter', () =>
    Object.entries(c()?.builds ?? {}).flatMap(([kind, b]) => [
      { labels: { kind, result: 'succeeded' }, value: b.succeeded },
      { labels: { kind, result: 'failed' }, value: b.failed },
    ]),
  );
  fileMetric(registry, 'left4me_build_duration_seconds', 'Build durations by kind', 'histogram', () =>
    Object.entries(c()?.builds ?? {}).flatMap(([kind, b]) => histogramSamples(b.duration, { kind }, 'left4me_build_duration_seconds')),
  );
  fileMetric(registry, 'left4me_controller_start_time_seconds', 'When the controller whose counters these are started', 'gauge', () => (c() ? [{ value: Date.parse(c()!.startedAt) / 1000 }] : []));
  fileMetric(registry, 'left4me_controller_counters_written_seconds', 'When the controller last wrote its counters', 'gauge', () => (c() ? [{ value: Date.parse(c()!.writtenAt) / 1000 }] : []));

  const authorize = (req: FastifyRequest): void => {
    if (req.user?.role === 'admin') return;
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    if (token && scraperToken && timingSafeEqual(createHash('sha256').update(token).digest(), scraperToken)) return;
    const user = token ? ctx.users.verifyToken(token) : undefined;
    if (user?.role === 'admin') return;
    if (user) throw new ApiError(403, 'only an admin or the metrics token may read /metrics');
    throw new ApiError(401, 'send an admin token or the metrics token: Authorization: Bearer <token>');
  };

  const read = async (): Promise<Snapshot> => {
    const state = await ctx.state.get();
    const now = Date.now();
    const instances = await Promise.all(
      [...state.instances.values()].map(async (d) => {
        const name = d.metadata.name;
        const [st, latest] = await Promise.all([ctx.status.read('Instance', name), history.latest(name, now)]);
        const s = latest?.sample;
        const players = s?.players ?? st?.players;
        const maxPlayers = s?.maxPlayers ?? st?.maxPlayers;
        return {
          name,
          owner: d.metadata.owner,
          state: d.spec.state,
          ready: st?.conditions.find((x) => x.type === 'Ready')?.status ?? 'Unknown',
          ...(players !== undefined ? { players } : {}),
          ...(maxPlayers !== undefined ? { maxPlayers } : {}),
          ...(latest?.cpu !== undefined ? { cpu: latest.cpu } : {}),
          ...(s?.memory !== undefined ? { memory: s.memory } : {}),
        };
      }),
    );
    const counters = readCounters(join(ctx.layout.statusDir, 'metrics.json'));
    return { instances, ...(counters ? { counters } : {}) };
  };

  // Scrapes one at a time: each renders the snapshot it read.
  let scraping: Promise<unknown> = Promise.resolve();
  app.get('/metrics', async (req, reply) => {
    try {
      authorize(req);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 401) reply.header('WWW-Authenticate', 'Bearer');
      throw err;
    }
    const run = scraping.then(async () => {
      snap = await read();
      return registry.metrics();
    });
    scraping = run.catch(() => undefined);
    const text = await run;
    return reply.type(registry.contentType).send(text);
  });
}
