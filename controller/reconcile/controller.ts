import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile, readdir, readlink, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { layerExists, writeLayer } from '../builds/layer-writer.js';
import type { RemoteFingerprint, StepRunner } from '../builds/pipeline.js';
import { onHost, type ControllerConfig } from '../config.js';
import type { Document } from '../documents/kinds.js';
import { loadState, type DesiredState, type InvalidDocument } from '../documents/loader.js';
import { formatProblem, type Problem } from '../documents/problems.js';
import { RconSecrets } from '../secrets.js';
import { writeFileAtomic } from '../status/atomic.js';
import { ConditionType as C, Reason } from '../status/conditions.js';
import { PortLeases, portFreeOnHost, type Lease, type LeaseConflict } from '../status/leases.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { SystemdError, type SystemdAdapter, type UnitState } from '../systemd/adapter.js';
import { escapeUnitPath } from '../systemd/escape.js';
import { instancePaths, mountUnitName, overlayBuildDir, renderServerTemplate, renderSlices, serverUnitName, SERVER_TEMPLATE_UNIT } from '../systemd/units.js';
import type { Probe, ServerProbe } from './a2s-probe.js';
import { BuildReconciler } from './build-reconciler.js';
import { changedKeys } from './changed-keys.js';
import { errorMessage } from './errors.js';
import { applyConditions, emptyStatus, withLease, type ConditionUpdate } from './instance-status.js';
import { HostJanitor } from './janitor.js';
import { planInstance, type Action, type InstanceObservation, type InstancePlan } from './plan.js';
import { WorkQueue, startResync, type ReconcileResult } from './queue.js';
import { Reloader } from './reloader.js';
import { resolveInstance, runsHere, type Blocked, type ResolvedInstance } from './resolve.js';
import { UnitCache } from './unit-cache.js';

/** What the controller knows about one instance before acting (see Controller.assess). */
export type Assessment =
  | { kind: 'invalid'; invalid: InvalidDocument; problems: Problem[] }
  | { kind: 'held'; files: string[] }
  | { kind: 'delete' }
  | { kind: 'conflict'; doc: Document<'Instance'>; lease: Lease | undefined; message: string }
  | { kind: 'blocked'; doc: Document<'Instance'>; lease: Lease; blocked: Blocked }
  | { kind: 'portBusy'; doc: Document<'Instance'>; lease: Lease; message: string }
  | { kind: 'planned'; doc: Document<'Instance'>; lease: Lease; resolved: ResolvedInstance; obs: InstanceObservation; probe: ServerProbe | undefined; plan: InstancePlan };

/** How the controller reaches the outside world; tests and the demo pass their own. */
export interface ControllerDeps {
  systemd: SystemdAdapter;
  log: Logger;
  probe: Probe;
  /** Clock, for tests. */
  now?: () => number;
  /** Build steps by source kind, replacing or adding to the production ones (tests). */
  steps?: Partial<Record<string, StepRunner>>;
  /** Remote fingerprints (workshop) that make part of a build id. */
  fingerprints?: Partial<Record<string, RemoteFingerprint>>;
  /** Whether a port is free on the host (default: a bind probe). */
  portFree?: (port: number) => Promise<boolean>;
}

/** How soon to probe a server again that does not answer A2S yet: just after a start, and later. */
const HEALTH_POLL_FAST_MS = 1_000;
const HEALTH_POLL_SLOW_MS = 30_000;
/** How often to look whether a port held by another program has been freed. */
const PORT_BUSY_POLL_MS = 2_000;

/** Debounce of state-directory events: editors write files in several steps. */
const WATCH_DEBOUNCE_MS = 20;

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
  private leaseConflicts = new Map<string, LeaseConflict[]>();
  private readonly units: UnitCache;
  private readonly reloader: Reloader;
  private readonly buildSide: BuildReconciler;
  private readonly janitor: HostJanitor;
  private watcher?: FSWatcher;
  private stopResync?: () => void;
  private unsubscribe: Array<() => void> = [];
  private reloadTimer?: NodeJS.Timeout;
  private loading?: Promise<void>;
  private readonly now: () => number;
  private uid?: { uid: number; gid: number };

  constructor(
    readonly cfg: ControllerConfig,
    private readonly deps: ControllerDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.store = new StatusStore(this.host(cfg.units.layout.statusDir));
    this.secrets = new RconSecrets(this.host(cfg.secretsDir));
    const runtimePrefix = escapeUnitPath(cfg.units.layout.runtimeDir);
    this.units = new UnitCache(deps.systemd, ['left4me-server@*.service', `${runtimePrefix}-*.mount`], cfg.resyncMs);
    this.reloader = new Reloader(() => deps.systemd.reload());
    this.buildSide = new BuildReconciler({
      cfg,
      systemd: deps.systemd,
      log: deps.log,
      store: this.store,
      now: this.now,
      enqueue: (key) => this.queue.add(key),
      ...(deps.steps ? { steps: deps.steps } : {}),
      ...(deps.fingerprints ? { fingerprints: deps.fingerprints } : {}),
    });
    this.janitor = new HostJanitor(cfg, deps.systemd, deps.log, this.now);
    this.queue = new WorkQueue((key) => this.reconcileKey(key), {
      concurrency: cfg.concurrency,
      onError: (key, err, retry) => deps.log.warn({ key, err: errorMessage(err), retryInMs: retry }, 'reconcile failed; will retry'),
    });
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
    this.leases = await PortLeases.open(join(this.host(this.cfg.units.layout.statusDir), 'leases.json'), this.cfg.portRanges.game, this.cfg.portRanges.client, this.deps.portFree ?? portFreeOnHost);
    this.unsubscribe.push(
      this.deps.systemd.onUnitChanged((unit) => {
        this.units.invalidate();
        const name = this.instanceOfUnit(unit);
        if (name) this.queue.add(`instance/${name}`);
      }),
      this.deps.systemd.onReconnected(() => {
        this.units.invalidate();
        this.enqueueAll();
      }),
    );
    // Housekeeping never keeps the controller from starting: whatever it cannot do is a warning.
    await this.janitor.sweepTemporaries().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'sweeping temporaries failed'));
    await this.janitor.sweepTrash().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'emptying the trash failed'));
    await this.buildSide.loadStatus();
    await this.installHostUnits();
    await this.loadDesired();
    if (opts.watch !== false) this.watchStateDir();
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

  /** Enqueues one key now, e.g. `installation/l4d2`. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // --- triggers ---------------------------------------------------------------

  private watchStateDir(): void {
    this.watcher = watch(this.cfg.stateDir, {
      ignoreInitial: true,
      // A link out of the state directory must not make root watch (or stat) a tree someone else chose.
      followSymlinks: false,
      // chokidar 5 matches no globs: watch the directory and filter here.
      ignored: (path: string) => /(^|\/)\.[^/]+$/.test(path),
      awaitWriteFinish: false,
      atomic: false,
    });
    this.watcher.on('all', (_event: string, path: string) => {
      if (/\.ya?ml$/.test(path) || !/\.[^/]+$/.test(path)) this.scheduleLoad(WATCH_DEBOUNCE_MS, 'changed');
    });
    this.watcher.on('error', (err: unknown) => this.deps.log.error({ err: errorMessage(err) }, 'state directory watch failed'));
  }

  private pendingScope: 'changed' | 'all' = 'changed';

  private scheduleLoad(delayMs: number, scope: 'changed' | 'all'): void {
    if (scope === 'all') this.pendingScope = 'all';
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      const s = this.pendingScope;
      this.pendingScope = 'changed';
      this.loadDesired(s).catch((err: unknown) => this.deps.log.error({ err: errorMessage(err) }, 'reading the state directory failed'));
    }, delayMs);
    this.reloadTimer.unref?.();
  }

  /**
   * Reads the documents and refreshes leases, then enqueues every key ('all':
   * start and resync) or only the keys whose inputs changed ('changed': an edit).
   */
  private loadDesired(scope: 'changed' | 'all' = 'all'): Promise<void> {
    const run = async () => {
      const state = await loadState(this.cfg.stateDir, { portRanges: this.cfg.portRanges });
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
    const conflicts = await this.leases!.reconcile(this.leaseRequests(state));
    this.leaseConflicts = new Map();
    for (const c of conflicts) this.leaseConflicts.set(c.name, [...(this.leaseConflicts.get(c.name) ?? []), c]);
  }

  private async enqueueAll(): Promise<void> {
    const state = this.desired;
    if (!state) return;
    const names = new Set<string>(state.instances.keys());
    for (const key of state.invalid.keys()) if (key.startsWith('instance/')) names.add(key.slice('instance/'.length));
    for (const name of await this.existingInstances()) names.add(name);
    for (const kind of ['installation', 'overlay', 'blueprint'] as const) {
      const docs = kind === 'installation' ? state.installations : kind === 'overlay' ? state.overlays : state.blueprints;
      for (const name of docs.keys()) this.queue.add(`${kind}/${name}`);
    }
    for (const name of [...names].sort()) this.queue.add(`instance/${name}`);
  }

  /** Instances this host has anything of: leases, status, units, directories. */
  private async existingInstances(): Promise<Set<string>> {
    const names = new Set<string>(this.leases?.all().keys() ?? []);
    for (const s of await this.store.list('Instance')) names.add(s.name);
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
    for (const [name, text] of files) await this.writeIfChanged(join(this.cfg.unitDir, name), text);
    await this.reloader.reload();
  }

  private async writeIfChanged(path: string, text: string, mode = 0o644): Promise<boolean> {
    const current = await readFile(this.host(path), 'utf8').catch(() => undefined);
    if (current === text) return false;
    await writeFileAtomic(this.host(path), text, mode);
    return true;
  }

  // --- reconcile ----------------------------------------------------------------

  private async reconcileKey(key: string): Promise<ReconcileResult> {
    const [kind, name] = key.split('/') as [string, string];
    const state = this.desired;
    if (!state) return;
    switch (kind) {
      case 'instance':
        return this.reconcileInstance(name, state);
      case 'overlay':
        return this.buildSide.reconcileOverlay(name, state);
      case 'blueprint':
        return this.buildSide.reconcileBlueprint(name, state);
      case 'installation':
        return this.buildSide.reconcileInstallation(name, state);
    }
  }

  /**
   * Everything about one instance short of acting: is it invalid, to delete,
   * in a port conflict, blocked by a dependency, or planned. Shared by the
   * reconcile and by `left4me diff`; with `dry`, nothing is written (no lease
   * is taken, no password created).
   */
  async assess(name: string, state: DesiredState, base: DocumentStatus, dry: boolean, leases: Map<string, Lease>, conflictsOf: Map<string, LeaseConflict[]>): Promise<Assessment> {
    const key = `instance/${name}`;
    const doc = state.instances.get(name);
    if (!doc || !runsHere(doc, this.cfg)) {
      const invalid = state.invalid.get(key);
      if (invalid) return { kind: 'invalid', invalid, problems: state.problems.filter((p) => p.kind === 'Instance' && p.name === name) };
      if (state.unreadableFiles.length > 0) return { kind: 'held', files: state.unreadableFiles };
      return { kind: 'delete' };
    }
    const lease = leases.get(name);
    const conflicts = conflictsOf.get(name);
    if (conflicts || !lease) return { kind: 'conflict', doc, lease, message: conflicts?.map((c) => c.message).join('; ') ?? 'no port lease' };
    const password = dry ? ((await this.secrets.peek(name)) ?? 'not-yet-generated') : await this.secrets.get(name);
    const resolved = resolveInstance(state, doc, lease, password, this.cfg, this.buildSide.readyBuilds());
    if ('blocked' in resolved) return { kind: 'blocked', doc, lease, blocked: resolved };
    // One A2S query of a running server serves both health and the whenEmpty rollout.
    const obs = await this.observe(resolved, base);
    let probe: ServerProbe | undefined;
    if (obs.service?.activeState === 'active') {
      probe = await this.deps.probe(lease.port);
      if (probe) obs.players = probe.players;
    }
    // A server that should run but does not, on a port something else holds: srcds would exit at once
    // (-strictportbind) and systemd restart it in a loop. Say who is in the way instead.
    const down = !obs.service || obs.service.activeState === 'failed' || obs.service.activeState === 'inactive' || obs.service.subState === 'auto-restart';
    if (resolved.intent.state === 'running' && down && !(await this.portFree(lease.port))) {
      return { kind: 'portBusy', doc, lease, message: `port ${lease.port} is in use by another program on this host (not a left4me server); free it or choose another spec.port` };
    }
    return { kind: 'planned', doc, lease, resolved, obs, probe, plan: planInstance(resolved.intent, obs, this.now()) };
  }

  /** `left4me diff`: what the next pass would do to each instance, without doing it. */
  async dryRun(): Promise<Array<{ name: string; assessment: Assessment }>> {
    const state = await loadState(this.cfg.stateDir, { portRanges: this.cfg.portRanges });
    await this.buildSide.loadStatus();
    this.leases ??= await PortLeases.open(join(this.host(this.cfg.units.layout.statusDir), 'leases.json'), this.cfg.portRanges.game, this.cfg.portRanges.client);
    const preview = this.leases.preview(this.leaseRequests(state));
    const conflicts = new Map<string, LeaseConflict[]>();
    for (const c of preview.conflicts) conflicts.set(c.name, [...(conflicts.get(c.name) ?? []), c]);
    const names = new Set<string>([...state.instances.keys(), ...(await this.existingInstances())]);
    for (const key of state.invalid.keys()) if (key.startsWith('instance/')) names.add(key.slice('instance/'.length));
    const out: Array<{ name: string; assessment: Assessment }> = [];
    for (const name of [...names].sort()) {
      const base = (await this.store.read('Instance', name)) ?? emptyStatus('Instance', name);
      out.push({ name, assessment: await this.assess(name, state, base, true, preview.leases, conflicts) });
    }
    return out;
  }

  private async reconcileInstance(name: string, state: DesiredState): Promise<ReconcileResult> {
    const prev = await this.store.read('Instance', name);
    const base = prev ?? emptyStatus('Instance', name);
    const now = new Date(this.now());
    const save = (s: DocumentStatus) => this.store.write(s, prev);
    const a = await this.assess(name, state, base, false, new Map(this.leases!.all()), this.leaseConflicts);
    const valid: ConditionUpdate = { type: C.Valid, status: 'True', reason: Reason.Valid, message: 'the document is valid' };

    switch (a.kind) {
      case 'invalid': {
        // Bad input never destroys anything: report, and leave the server as it is.
        const first = a.problems[0];
        await save(
          applyConditions(
            { ...base, lastError: { message: first?.message ?? 'invalid document', file: a.invalid.file, line: first?.line ?? a.invalid.line, time: now.toISOString() } },
            base.observedGeneration,
            [{ type: C.Valid, status: 'False', reason: Reason.Invalid, message: a.problems.map(formatProblem).join('; ') || `${a.invalid.file}:${a.invalid.line}: invalid` }],
            now,
          ),
        );
        return;
      }
      case 'held':
        this.deps.log.warn({ instance: name, files: a.files }, 'not deleting: some state files cannot be read, the instance may be defined there');
        return;
      case 'delete':
        return this.deleteInstance(name);
      case 'conflict':
        await save(portStalled(base, a, valid, now));
        return;
      case 'blocked': {
        // Waiting for a first build is progress; anything else needs a person.
        const stalled = a.blocked.reason !== 'Building';
        await save(
          applyConditions(withLease(base, a.lease), a.doc.generation, [
            valid,
            { type: C.PortAssigned, status: 'True', reason: Reason.Leased, message: `game port ${a.lease.port}, client port ${a.lease.clientPort}` },
            { type: C.OverlaysReady, status: 'False', reason: a.blocked.reason, message: a.blocked.message },
            { type: C.Stalled, status: stalled ? 'True' : 'False', reason: a.blocked.reason, message: `${a.blocked.message}; the server is left as it is` },
          ], now),
        );
        return;
      }
      case 'portBusy':
        await save(portStalled(base, a, valid, now));
        return { requeueAfterMs: PORT_BUSY_POLL_MS };
      case 'planned':
        break;
    }
    const { doc, lease, resolved, plan, probe } = a;
    const portAssigned: ConditionUpdate = { type: C.PortAssigned, status: 'True', reason: Reason.Leased, message: `game port ${lease.port}, client port ${lease.clientPort}` };

    // Act.
    let status: DocumentStatus = withLease(base, lease);
    const updates: ConditionUpdate[] = [valid, portAssigned, { type: C.Stalled, status: 'False', reason: Reason.Valid, message: '' }];
    let failure: unknown;
    try {
      for (const action of plan.actions) status = await this.execute(action, resolved, status);
      updates.push({ type: C.OverlaysReady, status: 'True', reason: Reason.Built, message: `${resolved.overlays.length} overlay${resolved.overlays.length === 1 ? '' : 's'} and the config layer are built` });
    } catch (err) {
      failure = err;
      this.units.invalidate();
    }

    // Status from what is there now.
    const units = await this.units.snapshot();
    const service = units.get(serverUnitName(name));
    const mount = units.get(resolved.mountUnit);
    const desiredRunning = resolved.intent.state === 'running';
    updates.push(mountCondition(mount, desiredRunning), runningCondition(service, desiredRunning, failure));
    // Health speaks of the server as it was before this pass acted; a server we just (re)started is probed on the next pass.
    const acted = plan.actions.some((a) => a.type === 'start' || a.type === 'stop');
    let healthRequeue: number | undefined;
    if (!desiredRunning) {
      updates.push({ type: C.Healthy, status: 'True', reason: Reason.Stopped, message: 'stopped, as desired' });
      const { players: _p, maxPlayers: _m, ...rest } = status;
      status = rest;
    } else if (probe && !acted) {
      updates.push({ type: C.Healthy, status: 'True', reason: Reason.Answering, message: `answers A2S: "${probe.name}" on ${probe.map}, ${probe.players}/${probe.maxPlayers} players` });
      status = { ...status, players: probe.players, maxPlayers: probe.maxPlayers };
    } else {
      updates.push({ type: C.Healthy, status: 'False', reason: Reason.NotAnswering, message: acted ? 'just started; waiting for the first A2S answer' : 'does not answer A2S queries on its game port' });
      const { players: _p, maxPlayers: _m, ...rest } = status;
      status = rest;
      // Look again soon after a start, then settle to a slower beat for a server that stays silent.
      const sinceStart = service?.activeState === 'active' && !acted ? now.getTime() - Date.parse(base.conditions.find((c) => c.type === C.Running)?.lastTransitionTime ?? now.toISOString()) : 0;
      healthRequeue = sinceStart < 60_000 ? HEALTH_POLL_FAST_MS : HEALTH_POLL_SLOW_MS;
    }
    if (plan.pending) {
      status = { ...status, restartPendingSince: new Date(plan.pending.since).toISOString() };
      updates.push({ type: C.RestartPending, status: 'True', reason: plan.pending.reason, message: plan.pending.message });
    } else {
      const { restartPendingSince: _r, ...rest } = status;
      status = rest;
      updates.push({ type: C.RestartPending, status: 'False', reason: Reason.Succeeded, message: '' });
    }
    if (failure) {
      status = { ...status, lastError: { message: errorMessage(failure), time: now.toISOString() } };
    }
    status = { ...status, unit: service ? { activeState: service.activeState, subState: service.subState, ...(service.mainPid ? { mainPid: service.mainPid } : {}) } : { activeState: 'inactive', subState: 'dead' } };
    await save(applyConditions(status, doc.generation, updates, now));
    if (failure) throw failure;
    const requeue = Math.min(plan.requeueAfterMs ?? Infinity, healthRequeue ?? Infinity);
    if (requeue !== Infinity) return { requeueAfterMs: requeue };
  }

  private async observe(r: ResolvedInstance, status: DocumentStatus): Promise<InstanceObservation> {
    const units = await this.units.snapshot();
    const service = units.get(serverUnitName(r.intent.name));
    const mount = units.get(r.mountUnit);
    const files = new Map<string, string | undefined>();
    await Promise.all([...r.intent.files.keys()].map(async (path) => files.set(path, await readFile(this.host(path), 'utf8').catch(() => undefined))));
    const paths = instancePaths(r.intent.name, this.cfg.units.layout);
    const dirs = [paths.configLayerDir(r.configLayer.build), paths.upperDir, paths.workDir, ...r.unitSpec.overlays.map((o) => overlayBuildDir(o, this.cfg.units.layout))];
    const present = await Promise.all(dirs.map((d) => layerExists(this.host(d))));
    return {
      ...(service && service.loadState !== 'not-found' ? { service: { activeState: service.activeState, subState: service.subState } } : {}),
      mounted: mount?.activeState === 'active',
      enabled: await this.isEnabled(r.intent.name),
      files,
      layersPresent: present.every(Boolean),
      ...(status.restartPendingSince ? { pendingSince: Date.parse(status.restartPendingSince) } : {}),
      ...(status.handledRestartAt ? { handledRestartAt: status.handledRestartAt } : {}),
      ...(status.handledResetAt ? { handledResetAt: status.handledResetAt } : {}),
    };
  }

  /** The [Install] link systemctl enable makes; read from disk, so a resync asks systemd nothing. */
  private enabledLink(name: string): string {
    return join(this.cfg.unitDir, 'multi-user.target.wants', serverUnitName(name));
  }

  private isEnabled(name: string): Promise<boolean> {
    return readlink(this.host(this.enabledLink(name))).then(() => true, () => false);
  }

  /** Enabling writes links where the unit files live: under /run on test hosts (runtime), /etc in production. */
  private get runtimeUnits(): boolean {
    return this.cfg.unitDir.startsWith('/run/');
  }

  private portFree(port: number): Promise<boolean> {
    return (this.deps.portFree ?? portFreeOnHost)(port);
  }

  private async gameUser(): Promise<{ uid: number; gid: number }> {
    if (this.uid) return this.uid;
    const passwd = await readFile(this.host('/etc/passwd'), 'utf8');
    const line = passwd.split('\n').find((l) => l.startsWith(`${this.cfg.units.layout.user}:`));
    if (!line) throw new Error(`user ${this.cfg.units.layout.user} does not exist on this host; create it (see deploy/)`);
    const [, , uid, gid] = line.split(':');
    return (this.uid = { uid: Number(uid), gid: Number(gid) });
  }

  private async execute(action: Action, r: ResolvedInstance, status: DocumentStatus): Promise<DocumentStatus> {
    const systemd = this.deps.systemd;
    const name = r.intent.name;
    const service = serverUnitName(name);
    const paths = instancePaths(name, this.cfg.units.layout);
    switch (action.type) {
      case 'writeLayers': {
        for (const ref of r.unitSpec.overlays) {
          if (!(await layerExists(this.host(overlayBuildDir(ref, this.cfg.units.layout))))) {
            // The ready build vanished from disk: rebuild it through the overlay's own key.
            this.queue.add(`overlay/${ref.overlay}`);
            throw new Error(`overlay ${ref.overlay} build ${ref.build} is missing on disk; rebuilding it`);
          }
        }
        const game = await this.gameUser();
        // server.cfg holds the RCON password: readable by the game group only.
        const files = new Map([...r.configLayer.files].map(([p, text]) => [p, { text, mode: 0o640 }]));
        await writeLayer(this.host(paths.configLayerDir(r.configLayer.build)), files, { uid: 0, gid: game.gid, dirMode: 0o750, fileMode: 0o640 });
        for (const d of [paths.upperDir, paths.workDir]) {
          await mkdir(this.host(d), { recursive: true, mode: 0o750 });
          await chown(this.host(d), game.uid, game.gid);
        }
        return status;
      }
      case 'writeFiles': {
        let unitChanged = false;
        for (const [path, text] of r.intent.files) {
          const changed = await this.writeIfChanged(path, text);
          if (changed && path.startsWith(`${this.cfg.unitDir}/`)) unitChanged = true;
        }
        if (unitChanged) await this.reloader.reload();
        return status;
      }
      case 'resetFailed':
        await systemd.resetFailed(service).catch(ignoreNoSuchUnit);
        return status;
      case 'enable':
        await systemd.enableUnitFiles([service], { runtime: this.runtimeUnits });
        return status;
      case 'disable':
        await systemd.disableUnitFiles([service], { runtime: this.runtimeUnits });
        return status;
      case 'start':
        this.units.invalidate();
        await systemd.start(service);
        return status;
      case 'stop':
        this.units.invalidate();
        await systemd.stop(service);
        return status;
      case 'unmount':
        this.units.invalidate();
        await systemd.stop(r.mountUnit);
        return status;
      case 'wipeWritableLayer': {
        await this.trash(name, [paths.upperDir, paths.workDir]);
        const game = await this.gameUser();
        for (const d of [paths.upperDir, paths.workDir]) {
          await mkdir(this.host(d), { recursive: true, mode: 0o750 });
          await chown(this.host(d), game.uid, game.gid);
        }
        return status;
      }
      case 'markHandled':
        return {
          ...status,
          ...(action.restartedAt !== undefined ? { handledRestartAt: action.restartedAt } : {}),
          ...(action.resetAt !== undefined ? { handledResetAt: action.resetAt } : {}),
        };
    }
  }

  /** Moves directories into the trash (kept for a while, not destroyed). */
  private async trash(name: string, dirs: string[]): Promise<void> {
    const dest = this.host(join(this.cfg.trashDir, `${name}-${new Date(this.now()).toISOString().replace(/[:.]/g, '')}-${randomBytes(3).toString('hex')}`));
    await mkdir(dest, { recursive: true, mode: 0o700 });
    for (const d of dirs) {
      const from = this.host(d);
      if (await stat(from).then(() => true, () => false)) await rename(from, join(dest, d.split('/').pop()!));
    }
  }

  /** Removes everything an instance had on this host, in an order that is safe to repeat after a crash. */
  private async deleteInstance(name: string): Promise<void> {
    const systemd = this.deps.systemd;
    const service = serverUnitName(name);
    const paths = instancePaths(name, this.cfg.units.layout);
    const mountUnit = mountUnitName(paths.runtimeDir);
    const units = await this.units.snapshot();
    const svc = units.get(service);
    if (svc && svc.activeState !== 'inactive' && svc.activeState !== 'failed') {
      this.units.invalidate();
      await systemd.stop(service);
    }
    const mnt = units.get(mountUnit);
    if (mnt && mnt.activeState !== 'inactive') {
      this.units.invalidate();
      await systemd.stop(mountUnit);
    }
    if (await this.isEnabled(name)) await systemd.disableUnitFiles([service], { runtime: this.runtimeUnits });
    const unitFile = this.host(join(this.cfg.unitDir, mountUnit));
    const hadUnit = await stat(unitFile).then(() => true, () => false);
    await rm(unitFile, { force: true });
    if (hadUnit) await this.reloader.reload();
    if (await stat(this.host(paths.dir)).then(() => true, () => false)) {
      await rm(this.host(paths.launchEnv), { force: true });
      await rm(this.host(join(paths.dir, 'config')), { recursive: true, force: true });
      await this.trash(name, [paths.upperDir, paths.workDir]);
      await rm(this.host(paths.dir), { recursive: true, force: true });
    }
    // The mountpoint goes only when empty: never recurse into what might still be a mounted stack.
    await rmdir(this.host(paths.runtimeDir)).catch(() => undefined);
    if (svc?.activeState === 'failed') await systemd.resetFailed(service).catch(ignoreNoSuchUnit);
    await this.leases!.release(name);
    await this.secrets.remove(name);
    await this.store.remove('Instance', name);
    this.deps.log.info({ instance: name }, 'instance deleted');
  }
}

/** Status of an instance that cannot have its port: PortAssigned=False and Stalled, with the reason. */
function portStalled(base: DocumentStatus, a: { doc: Document<'Instance'>; lease: Lease | undefined; message: string }, valid: ConditionUpdate, now: Date): DocumentStatus {
  return applyConditions(withLease(base, a.lease), a.doc.generation, [
    valid,
    { type: C.PortAssigned, status: 'False', reason: Reason.PortConflict, message: a.message },
    { type: C.Stalled, status: 'True', reason: Reason.PortConflict, message: a.message },
  ], now);
}

function mountCondition(mount: UnitState | undefined, desiredRunning: boolean): ConditionUpdate {
  if (mount?.activeState === 'active') return { type: C.Mounted, status: 'True', reason: Reason.Mounted, message: 'the overlay stack is mounted' };
  return { type: C.Mounted, status: desiredRunning ? 'False' : 'True', reason: desiredRunning ? Reason.NotMounted : Reason.Stopped, message: desiredRunning ? 'the overlay stack is not mounted' : 'not mounted while stopped' };
}

function runningCondition(service: UnitState | undefined, desiredRunning: boolean, failure: unknown): ConditionUpdate {
  const state = service?.activeState ?? 'inactive';
  if (!desiredRunning) {
    return state === 'inactive' || state === 'failed'
      ? { type: C.Running, status: 'True', reason: Reason.Stopped, message: 'stopped, as desired' }
      : { type: C.Running, status: 'False', reason: Reason.Progressing, message: `stopping (${state})` };
  }
  if (state === 'active') return { type: C.Running, status: 'True', reason: Reason.Running, message: `running (pid ${service?.mainPid ?? '?'})` };
  if (state === 'activating') return { type: C.Running, status: 'False', reason: Reason.Starting, message: 'starting' };
  return { type: C.Running, status: 'False', reason: Reason.Failed, message: failure ? errorMessage(failure) : `the server is ${state}${service?.result && service.result !== 'success' ? ` (${service.result})` : ''}` };
}

function ignoreNoSuchUnit(err: unknown): void {
  if (err instanceof SystemdError && err.code === 'call' && /NoSuchUnit|NotLoaded/.test(err.dbusName ?? '')) return;
  throw err;
}
