// One concern: the controller daemon — what triggers a pass, and running keys through the queue.
// The reconcile room: documents → desired → observe → plan (pure) → execute →
// status. This file is the daemon around it: triggers (state-directory
// watch, systemd's unit signals, jittered resync, SIGHUP) enqueue keys such
// as `instance/versus-1`; a deduplicating work queue (queue.ts) runs each key
// alone through its kind's reconciler — instance/ for servers, build-
// reconciler.ts for overlays, installations and blueprints — each one
// skeleton of small steps that end in an outcome (outcome.ts) and write
// status once. plan.ts is pure; executors are a table (instance/executors.ts).
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RemoteFingerprint, StepRunner } from '../builds/pipeline.js';
import { documentLoadOptions, installationRootProblem, keptDirectories, onHost, type ControllerConfig } from '../config.js';
import { loadState, type DesiredState, type LoadOptions } from '../documents/loader.js';
import { formatProblem } from '../documents/problems.js';
import { watchTree, type TreeWatch } from '../documents/watch.js';
import { RconSecrets } from '../secrets.js';
import { readActiveSources } from '../sources/active.js';
import { PortLeases, portFreeOnHost } from '../status/leases.js';
import { StatusStore } from '../status/store.js';
import { ControllerCounters } from '../status/counters.js';
import { HistoryStore } from '../status/history.js';
import { Sampler } from './sampler.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { escapeUnitPath } from '../systemd/escape.js';
import { renderServerTemplate, renderSlices, SERVER_TEMPLATE_UNIT } from '../systemd/units.js';
import type { Probe } from '../game/a2s.js';
import { ServerAccounts } from './accounts.js';
import { BuildReconciler } from './build-reconciler.js';
import { changedKeys } from './changed-keys.js';
import { errorMessage } from './errors.js';
import { GitSources, type GitSourcesDeps } from './git-sources.js';
import { writeIfChanged, type InstanceHost } from './instance/host.js';
import { InstanceReconciler, type Prepared } from './instance/reconciler.js';
import { ElapsedClock } from './elapsed.js';
import { HostJanitor } from './janitor.js';
import { portLeaseRecovery, uidLeaseRecovery } from './lease-recovery.js';
import { isOutcome, type Stalled, type Waiting } from './outcome.js';
import { WorkQueue, startResync, type ReconcileResult } from './queue.js';
import { Reloader } from './reloader.js';
import { runsHere } from './resolve.js';
import { UnitCache } from './unit-cache.js';

/** How the controller reaches the outside world; tests and the demo pass their own. */
export interface ControllerDeps {
  systemd: SystemdAdapter;
  log: Logger;
  probe: Probe;
  /** The wall clock, for tests. */
  now?: () => number;
  /** The monotonic clock (default performance.now), for tests: what timed waits count in (elapsed.ts). */
  monotonic?: () => number;
  /** Build steps by source kind, replacing or adding to the production ones (tests). */
  steps?: Partial<Record<string, StepRunner>>;
  /** Remote fingerprints (workshop) that make part of a build id. */
  fingerprints?: Partial<Record<string, RemoteFingerprint>>;
  /** Whether a port is free on the host (default: a bind probe). */
  portFree?: (port: number) => Promise<boolean>;
  /** Test seams of the git sync (an ssh stand-in, caps). */
  gitSync?: GitSourcesDeps['sync'];
}

/** Debounce of state-directory events: editors write files in several steps. */
const WATCH_DEBOUNCE_MS = 20;
/** A failed load (e.g. a lease write on a full disk) is tried again after this, doubling per failure up to the max. */
const LOAD_RETRY_MIN_MS = 500;
const LOAD_RETRY_MAX_MS = 30_000;

/**
 * The reconciler: turns the documents in the state directory into running
 * servers and keeps them so. Level-triggered: every trigger enqueues keys, a
 * reconcile reads everything it needs. Owns the work queue, the watcher and
 * the status store; never stops a game server when it stops itself.
 */
export class Controller {
  private desired?: DesiredState;
  private readonly queue: WorkQueue;
  private readonly store: StatusStore;
  private readonly secrets: RconSecrets;
  private leases?: PortLeases;
  private leaseConflicts = new Map<string, Array<{ message: string }>>();
  private readonly accounts: ServerAccounts;
  private readonly units: UnitCache;
  private readonly reloader: Reloader;
  private readonly buildSide: BuildReconciler;
  private readonly janitor: HostJanitor;
  private watcher?: TreeWatch;
  private stopResync?: () => void;
  /** The git sources of controller.yaml (none: nothing runs). */
  private gitSources?: GitSources;
  private unsubscribe: Array<() => void> = [];
  private reloadTimer?: NodeJS.Timeout;
  private loading?: Promise<void>;
  /** Loads failed in a row (a lease write on a full disk): the next try waits longer. */
  private loadFailures = 0;
  private readonly now: () => number;
  /** Ages of the timed waits (pending restarts, trash entries, overlay refreshes), on the monotonic clock. */
  private readonly elapsed: ElapsedClock;
  private readonly instances: InstanceReconciler;
  /** Counts for /metrics (written to the status directory) and the history sampler. */
  readonly metrics: ControllerCounters;
  private readonly sampler: Sampler;

  constructor(
    readonly cfg: ControllerConfig,
    private readonly deps: ControllerDeps,
  ) {
    const unsafeRoots = installationRootProblem(cfg.installationRoots, keptDirectories(cfg));
    if (unsafeRoots) throw new Error(unsafeRoots);
    this.now = deps.now ?? Date.now;
    this.elapsed = new ElapsedClock(this.now, deps.monotonic);
    this.store = new StatusStore(this.host(cfg.units.layout.statusDir));
    this.secrets = new RconSecrets(this.host(cfg.secretsDir));
    this.metrics = new ControllerCounters(join(this.host(cfg.units.layout.statusDir), 'metrics.json'), this.now);
    const history = new HistoryStore(this.host(cfg.units.layout.historyDir), { stepMs: cfg.historyIntervalMs });
    this.sampler = new Sampler({ systemd: deps.systemd, probe: deps.probe, store: this.store, history, counters: this.metrics, log: deps.log, now: this.now });
    const runtimePrefix = escapeUnitPath(cfg.units.layout.runtimeDir);
    this.units = new UnitCache(deps.systemd, ['left4me-server@*.service', `${runtimePrefix}-*.mount`], cfg.resyncMs);
    this.reloader = new Reloader(() => deps.systemd.reload());
    this.buildSide = new BuildReconciler({
      cfg,
      systemd: deps.systemd,
      log: deps.log,
      store: this.store,
      now: this.now,
      elapsed: this.elapsed,
      enqueue: (key) => this.queue.add(key),
      built: (kind, ok, seconds) => this.metrics.built(kind, ok, seconds),
      ...(deps.steps ? { steps: deps.steps } : {}),
      ...(deps.fingerprints ? { fingerprints: deps.fingerprints } : {}),
    });
    this.janitor = new HostJanitor(cfg, deps.systemd, deps.log, this.now, this.elapsed);
    this.accounts = new ServerAccounts(cfg, uidLeaseRecovery(cfg, deps.log));
    const instanceHost: InstanceHost = {
      cfg,
      systemd: deps.systemd,
      log: deps.log,
      probe: deps.probe,
      units: this.units,
      reloader: this.reloader,
      secrets: this.secrets,
      store: this.store,
      accounts: this.accounts,
      leases: () => this.leases!,
      readyBuilds: () => this.buildSide.readyBuilds(),
      enqueue: (key) => this.queue.add(key),
      now: this.now,
      elapsed: this.elapsed,
      portFree: (port) => (deps.portFree ?? portFreeOnHost)(port),
    };
    this.instances = new InstanceReconciler(instanceHost);
    this.queue = new WorkQueue((key) => this.metrics.timed(key, () => this.reconcileKey(key)), {
      concurrency: cfg.concurrency,
      onError: (key, err, retry) => deps.log.warn({ key, err: errorMessage(err), retryInMs: retry }, 'reconcile failed; will retry'),
    });
  }

  /**
   * How a pass reads the desired state: the controller's judgement, and the
   * git sources in force now (read each pass: a readdir and two small reads
   * per source), so a flipped `current` is seen by the next load.
   */
  private async loadOptions(): Promise<LoadOptions> {
    const active = await readActiveSources(this.cfg.units.layout, this.cfg.fsRoot);
    return { ...documentLoadOptions(this.cfg), sources: active.roots, sourceProblems: active.problems };
  }

  private host(path: string): string {
    return onHost(this.cfg, path);
  }

  /** D-Bus list calls and reloads made so far (for the benchmark). */
  get counters(): { unitLists: number; reloads: number } {
    return { unitLists: this.units.refreshes, reloads: this.reloader.count };
  }

  /** Starts: installs the host units, reads the state directory, reconciles everything, then watches. */
  async start(opts: { watch?: boolean; resync?: boolean } = {}): Promise<void> {
    // A lease file lost to a torn disk or an edit is rebuilt from the servers' own files, not a crash loop.
    this.leases = await PortLeases.open(join(this.host(this.cfg.units.layout.statusDir), 'leases.json'), this.cfg.portRanges.game, this.cfg.portRanges.client, this.deps.portFree ?? portFreeOnHost, portLeaseRecovery(this.cfg, this.deps.log));
    await this.accounts.open();
    // RCON passwords readable by root and the web account's group (its console and player list), root-only on
    // a host without that group. Every start: a host set up before the web service gets it, one that dropped it loses it.
    const webGid = await this.accounts.webGroupId();
    if (webGid === undefined) this.deps.log.warn({ group: this.cfg.units.layout.webGroup }, "the web account's group does not exist; RCON passwords stay readable by root only");
    await this.secrets.protect(webGid);
    this.unsubscribe.push(
      this.deps.systemd.onUnitChanged((unit) => {
        this.units.invalidate();
        const name = this.instanceOfUnit(unit);
        if (name) this.queue.add(`instance/${name}`);
      }),
      // A restarted system bus: what was in flight failed with `disconnected` and retries with backoff; the
      // adapter reconnects by itself (backoff 50 ms to 2 s). Signals were missed meanwhile, so everything is read again.
      this.deps.systemd.onDisconnected((err) => this.deps.log.warn({ err: err.message }, 'lost the connection to the system bus; reconnecting')),
      this.deps.systemd.onReconnected(() => {
        this.deps.log.warn('reconnected to the system bus; resyncing everything');
        this.units.invalidate();
        this.enqueueAll();
      }),
    );
    // Housekeeping never keeps the controller from starting: whatever it cannot do is a warning.
    await this.janitor.sweepTemporaries().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'sweeping temporaries failed'));
    await this.janitor.sweepTrash().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'emptying the trash failed'));
    await this.buildSide.loadStatus();
    await this.installHostUnits();
    // Git sources start before the first load: what they served before a restart is on disk and serves at once;
    // a flip to a newer commit reloads. `--once` (no watch) fetches each source once, awaited, for its one pass.
    this.gitSources = new GitSources(this.cfg, {
      log: this.deps.log,
      loadOptions: () => this.loadOptions(),
      served: (name, commit) => {
        this.deps.log.info({ source: name, commit }, 'git source serves a new commit');
        this.scheduleLoad(0, 'changed');
      },
      ...(webGid !== undefined ? { webGid } : {}),
      ...(this.deps.gitSync ? { sync: this.deps.gitSync } : {}),
    });
    await this.gitSources.start({ poll: opts.watch !== false });
    // Watching starts before the first read: an edit made while it reads is then a watch event, not a miss
    // until the next resync (chokidar's first walk must have ended for that: watchStateDir waits for it).
    if (opts.watch !== false) await this.watchStateDir();
    await this.loadDesired();
    if (opts.watch !== false) this.sampler.start();
    if (opts.resync !== false) {
      this.stopResync = startResync(() => {
        this.units.invalidate();
        this.scheduleLoad(0, 'all');
        this.janitor.sweepTrash().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'emptying the trash failed'));
        this.janitor.sweepWorkshopCache().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'cleaning the workshop cache failed'));
      }, this.cfg.resyncMs);
    }
  }

  /**
   * Stops reconciling. Game servers keep running: systemd owns them. Waits
   * for running reconciles at most `graceMs`: a Steam install can take hours,
   * and its sandbox unit is swept at the next start anyway.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopResync?.();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    for (const u of this.unsubscribe) u();
    await this.gitSources?.stop();
    await this.sampler.stop();
    await this.watcher?.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.queue.stop(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }

  /** Reloads the documents and reconciles every key, resolving when the queue is idle (tests, bench, `diff`). */
  async reconcileAll(): Promise<void> {
    this.units.invalidate();
    await this.loadDesired();
    await this.queue.idle();
  }

  /** "Reconcile now": re-reads the documents and systemd and enqueues every key (SIGHUP, `left4me reconcile`). */
  resyncNow(): void {
    this.units.invalidate();
    this.scheduleLoad(0, 'all');
  }

  /** Fetches a git source now, as its webhook would; resolves with what the attempt did. */
  fetchSource(name: string) {
    if (!this.gitSources) throw new Error('the controller has not started');
    return this.gitSources.fetchNow(name);
  }

  /** Enqueues one key now, e.g. `installation/l4d2`. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // --- triggers ---------------------------------------------------------------

  /** Watches the state directory; resolves once chokidar has walked it, so no edit made after start() returns goes unseen. */
  private watchStateDir(): Promise<void> {
    const documentish = (path: string) => /\.ya?ml$/.test(path) || !/\.[^/]+$/.test(path);
    this.watcher = watchTree(
      this.cfg.stateDir,
      // chokidar 5 matches no globs: watch the directory and filter here.
      { ignored: (path: string) => /(^|\/)\.[^/]+$/.test(path) },
      {
        change: (path, event) => {
          this.deps.log.debug({ event, path }, 'state directory changed');
          if (path === undefined) this.scheduleLoad(0, 'changed');
          else if (documentish(path)) this.scheduleLoad(WATCH_DEBOUNCE_MS, 'changed');
        },
        // A watch that fails is logged; the periodic resync still reads the tree, so start goes on.
        error: (err) => this.deps.log.error({ err: errorMessage(err) }, 'state directory watch failed'),
      },
    );
    return this.watcher.ready;
  }

  private pendingScope: 'changed' | 'all' = 'changed';

  private scheduleLoad(delayMs: number, scope: 'changed' | 'all'): void {
    if (scope === 'all') this.pendingScope = 'all';
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      const s = this.pendingScope;
      this.pendingScope = 'changed';
      this.deps.log.debug({ scope: s }, 'reading the documents');
      this.loadDesired(s).then(
        () => {
          this.loadFailures = 0;
        },
        (err: unknown) => {
          // Tried again by itself, as a full pass: the edit that triggered this load may be half applied (its
          // documents read, its leases not written), so only reading everything again is sure to see it.
          const retryInMs = Math.min(LOAD_RETRY_MIN_MS * 2 ** this.loadFailures++, LOAD_RETRY_MAX_MS);
          this.deps.log.error({ err: errorMessage(err), retryInMs }, 'reading the state directory failed; will retry');
          this.scheduleLoad(retryInMs, 'all');
        },
      );
    }, delayMs);
    this.reloadTimer.unref?.();
  }

  /**
   * Reads the documents and refreshes leases, then enqueues every key ('all':
   * start and resync) or only the keys whose inputs changed ('changed': an edit).
   */
  private loadDesired(scope: 'changed' | 'all' = 'all'): Promise<void> {
    const run = async () => {
      const state = await loadState(this.cfg.stateDir, await this.loadOptions());
      const before = this.desired;
      if (scope === 'all' || !before) {
        for (const p of state.problems) this.deps.log.warn({ problem: formatProblem(p) }, 'invalid document');
      }
      this.desired = state;
      if (scope === 'all') {
        // Garbage collection rides on the full passes (start, resync, reconcile now), not on every edit.
        await this.buildSide.collectUnused(state).catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'collecting unused builds failed'));
      }
      const conflictsBefore = JSON.stringify([...this.leaseConflicts]);
      await this.refreshLeases(state);
      if (scope === 'all' || !before) return this.enqueueAll();
      const keys = changedKeys(before, state);
      // A lease conflict that appeared or cleared concerns instances whose own documents did not change.
      if (JSON.stringify([...this.leaseConflicts]) !== conflictsBefore) for (const name of state.instances.keys()) keys.add(`instance/${name}`);
      // A deletion held back while some state file could not be read (it might define the instance) waits for
      // that to change; no document of the instance changes then, so its key is added here.
      if (JSON.stringify(before.unreadableFiles) !== JSON.stringify(state.unreadableFiles)) {
        for (const name of await this.existingInstances()) if (!state.instances.has(name)) keys.add(`instance/${name}`);
      }
      for (const key of [...keys].sort()) this.queue.add(key);
    };
    // Serialise loads: a watch event during a load runs one more afterwards.
    const next = (this.loading ?? Promise.resolve()).catch(() => undefined).then(run);
    this.loading = next;
    return next;
  }

  private leaseRequests(state: DesiredState) {
    return [...state.instances.values()]
      .filter((d) => runsHere(d, this.cfg))
      .map((d) => ({ name: d.metadata.name, ...(d.spec.port !== undefined ? { port: d.spec.port } : {}), ...(d.spec.clientPort !== undefined ? { clientPort: d.spec.clientPort } : {}) }));
  }

  private async refreshLeases(state: DesiredState): Promise<void> {
    const requests = this.leaseRequests(state);
    const conflicts = [...(await this.leases!.reconcile(requests)), ...(await this.accounts.reconcile(requests.map((r) => r.name)))];
    this.leaseConflicts = new Map();
    for (const c of conflicts) this.leaseConflicts.set(c.name, [...(this.leaseConflicts.get(c.name) ?? []), c]);
  }

  private async enqueueAll(): Promise<void> {
    const state = this.desired;
    if (!state) return;
    this.metrics.pass();
    const names = new Set<string>(state.instances.keys());
    for (const key of state.invalid.keys()) if (key.startsWith('instance/')) names.add(key.slice('instance/'.length));
    for (const name of await this.existingInstances()) names.add(name);
    for (const kind of ['installation', 'overlay', 'blueprint'] as const) {
      const docs = kind === 'installation' ? state.installations : kind === 'overlay' ? state.overlays : state.blueprints;
      for (const name of docs.keys()) this.queue.add(`${kind}/${name}`);
    }
    for (const name of [...names].sort()) this.queue.add(`instance/${name}`);
  }

  /**
   * Instances this host has anything of: leases, status, RCON passwords, units, directories. Each of them, so
   * that a deletion killed between its steps is finished whichever traces it had already removed.
   */
  private async existingInstances(): Promise<Set<string>> {
    const names = new Set<string>([...(this.leases?.all().keys() ?? []), ...this.accounts.all().keys()]);
    // An unreadable secrets file is reported on every instance (and never rewritten): it names nothing here.
    for (const n of await this.secrets.names().catch(() => [] as string[])) names.add(n);
    // Names only: a full pass reads each instance's status in its own reconcile anyway.
    for (const n of await this.store.names('Instance')) names.add(n);
    try {
      for (const unit of (await this.units.snapshot()).keys()) {
        const name = this.instanceOfUnit(unit);
        if (name) names.add(name);
      }
    } catch (err) {
      this.deps.log.warn({ err: errorMessage(err) }, 'cannot list units');
    }
    try {
      for (const d of await readdir(this.host(this.cfg.units.layout.instancesDir))) if (/^[a-z0-9][a-z0-9-]{0,62}$/.test(d)) names.add(d);
    } catch {
      // no instances directory yet
    }
    return names;
  }

  private instanceOfUnit(unit: string): string | undefined {
    const m = /^left4me-server@([a-z0-9][a-z0-9-]{0,62})\.service$/.exec(unit);
    if (m) return m[1];
    const prefix = `${escapeUnitPath(this.cfg.units.layout.runtimeDir)}-`;
    if (unit.startsWith(prefix) && unit.endsWith('.mount')) return unit.slice(prefix.length, -'.mount'.length).replace(/\\x2d/g, '-');
    return undefined;
  }

  // --- host units ---------------------------------------------------------------

  /**
   * Writes the template and slices, then reloads systemd once, changed or not:
   * a controller killed between writing a unit file and reloading must not
   * leave systemd running a stale definition.
   */
  private async installHostUnits(): Promise<void> {
    const files = new Map(renderSlices(this.cfg.units));
    files.set(SERVER_TEMPLATE_UNIT, renderServerTemplate(this.cfg.units));
    for (const [name, text] of files) await writeIfChanged(this, join(this.cfg.unitDir, name), text);
    await this.reloader.reload();
  }

  // --- reconcile ----------------------------------------------------------------

  private async reconcileKey(key: string): Promise<ReconcileResult> {
    const [kind, name] = key.split('/') as [string, string];
    const state = this.desired;
    if (!state) return;
    switch (kind) {
      case 'instance':
        return this.instances.reconcile(name, { state, leases: new Map(this.leases!.all()), uids: this.accounts.all(), conflicts: this.leaseConflicts });
      case 'overlay':
        return this.buildSide.reconcileOverlay(name, state);
      case 'blueprint':
        return this.buildSide.reconcileBlueprint(name, state);
      case 'installation':
        return this.buildSide.reconcileInstallation(name, state);
    }
  }

  /** `left4me diff`: what the next pass would do to each instance, without doing it. */
  async dryRun(): Promise<Array<{ name: string; next: Prepared | Stalled | Waiting }>> {
    const state = await loadState(this.cfg.stateDir, await this.loadOptions());
    await this.buildSide.loadStatus();
    this.leases ??= await PortLeases.open(join(this.host(this.cfg.units.layout.statusDir), 'leases.json'), this.cfg.portRanges.game, this.cfg.portRanges.client);
    const preview = this.leases.preview(this.leaseRequests(state));
    const uids = (await this.accounts.load()).preview(this.leaseRequests(state).map((r) => r.name));
    const conflicts = new Map<string, Array<{ message: string }>>();
    for (const c of [...preview.conflicts, ...uids.conflicts]) conflicts.set(c.name, [...(conflicts.get(c.name) ?? []), c]);
    const names = new Set<string>([...state.instances.keys(), ...(await this.existingInstances())]);
    for (const key of state.invalid.keys()) if (key.startsWith('instance/')) names.add(key.slice('instance/'.length));
    const out: Array<{ name: string; next: Prepared | Stalled | Waiting }> = [];
    for (const name of [...names].sort()) {
      try {
        out.push({ name, next: await this.instances.dryRun(name, { state, leases: preview.leases, uids: uids.leases, conflicts }) });
      } catch (err) {
        if (!isOutcome(err)) throw err;
        out.push({ name, next: err });
      }
    }
    return out;
  }
}
