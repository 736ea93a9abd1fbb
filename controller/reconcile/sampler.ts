/**
 * The controller's clocks that are not reconciles: every history interval it
 * samples each running server (players over A2S, CPU and memory from
 * systemd's cgroup accounting) into the server's history ring, and every few
 * seconds it writes the controller's counters when they changed. Neither
 * changes the host or a status; a failed sample is a gap in the history.
 */
import type { Logger } from 'pino';
import { ControllerCounters } from '../status/counters.js';
import { HistoryStore } from '../status/history.js';
import type { StatusStore } from '../status/store.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import type { Probe } from '../game/a2s.js';
import { errorMessage } from './errors.js';

/** How often the counters file is brought up to date (when anything changed). */
const COUNTERS_FLUSH_MS = 5_000;

export interface SamplerDeps {
  systemd: SystemdAdapter;
  probe: Probe;
  store: StatusStore;
  history: HistoryStore;
  counters: ControllerCounters;
  log: Logger;
  now: () => number;
}

/** Samples running servers into their history and flushes the counters; start() once, stop() on the way out. */
export class Sampler {
  private historyTimer?: NodeJS.Timeout;
  private countersTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private started = false;

  constructor(private readonly deps: SamplerDeps) {}

  start(): void {
    this.stopped = false;
    this.started = true;
    this.scheduleSample();
    this.countersTimer = setInterval(() => void this.flushCounters(), COUNTERS_FLUSH_MS);
    this.countersTimer.unref?.();
  }

  /** Stops both clocks and writes the counters a last time; a sampler never started (diff, a dry run) writes nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.started) return;
    this.started = false;
    clearTimeout(this.historyTimer);
    clearInterval(this.countersTimer);
    await this.running;
    await this.flushCounters();
    await this.deps.history.close();
  }

  /**
   * Sleeps to the middle of the next step: each step gets one sample in its
   * own slot even when a sample runs late or the timer drifts.
   */
  private scheduleSample(): void {
    if (this.stopped) return;
    const step = this.deps.history.stepMs;
    const now = this.deps.now();
    const next = Math.floor(now / step) * step + step / 2;
    const delay = next > now ? next - now : next + step - now;
    this.historyTimer = setTimeout(() => {
      this.running = this.sampleOnce()
        .then(() => undefined, (err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'sampling the servers failed'))
        .finally(() => this.scheduleSample());
    }, delay);
    this.historyTimer.unref?.();
  }

  /** One sample of every running server; removes the history of instances that have no status any more (deleted). */
  async sampleOnce(): Promise<number> {
    const { store, systemd, probe, history } = this.deps;
    const statuses = await store.list('Instance');
    const running = statuses.filter((s) => s.unit?.activeState === 'active' && s.port !== undefined);
    const accounting = running.length ? await systemd.accounting(running.map((s) => `left4me-server@${s.name}.service`)) : new Map();
    let written = 0;
    await Promise.all(
      running.map(async (st) => {
        const acct = accounting.get(`left4me-server@${st.name}.service`);
        const info = await probe(st.port!).catch(() => undefined);
        await history.append(st.name, {
          t: this.deps.now(),
          ...(acct?.cpuNs !== undefined ? { cpuNs: acct.cpuNs } : {}),
          ...(acct?.memoryBytes !== undefined ? { memory: acct.memoryBytes } : {}),
          ...(info ? { players: info.players, maxPlayers: info.maxPlayers } : {}),
        });
        written += 1;
      }),
    );
    // A deleted instance's status goes with its last reconcile; its history follows here.
    const known = new Set(statuses.map((s) => s.name));
    for (const name of await history.names()) if (!known.has(name)) await history.remove(name);
    return written;
  }

  private async flushCounters(): Promise<void> {
    await this.deps.counters.flush().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'writing the counters failed'));
  }
}
