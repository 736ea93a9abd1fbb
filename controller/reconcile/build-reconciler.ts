// One concern: building what documents name — overlay builds and installations, their queue, status and collection.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import { EgressGuard } from '../builds/egress.js';
import { layerExists } from '../builds/layer-writer.js';
import { BuildFailedError, collectUnusedBuilds, OverlayPipeline, referencedLowerDirs, type RemoteFingerprint, type StepRunner } from '../builds/pipeline.js';
import { installFromSteam } from '../builds/steamcmd.js';
import { PRODUCTION_FINGERPRINTS, PRODUCTION_STEPS } from '../builds/steps.js';
import { removeTree } from '../fs/remove-tree.js';
import { readSmallFile } from '../fs/small-file.js';
import { onHost, type ControllerConfig } from '../config.js';
import { instancesUsing } from '../documents/dependencies.js';
import { parseDuration } from '../documents/duration.js';
import { specHash } from '../documents/hash.js';
import type { Document } from '../documents/kinds.js';
import { documentsOf, type DesiredState } from '../documents/loader.js';
import { formatProblem, shownFile } from '../documents/problems.js';
import { ConditionType as C, Reason } from '../status/conditions.js';
import type { DocumentStatus, StatusStore } from '../status/store.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { errorMessage } from './errors.js';
import { ThrottledWrites } from './progress-writes.js';
import { resultOf, Stalled } from './outcome.js';
import type { ReconcileResult } from './queue.js';
import type { ReadyBuilds } from './resolve.js';
import { StatusBuilder } from './status-builder.js';
import { ElapsedClock } from './elapsed.js';

const execFileAsync = promisify(execFile);

/** A running overlay build's progress reaches its status at most this often (and at every new step). */
const BUILD_PROGRESS_WRITE_MS = 500;

/** How soon to look again at a directory installation that is not there yet. */
const MISSING_INSTALLATION_POLL_MS = 30_000;

/** What the build side needs from the controller around it. */
export interface BuildReconcilerDeps {
  cfg: ControllerConfig;
  systemd: SystemdAdapter;
  log: Logger;
  store: StatusStore;
  now: () => number;
  /** Ages of overlay refresh intervals on the monotonic clock (elapsed.ts); a private one when not given. */
  elapsed?: ElapsedClock;
  /** Enqueues a key (instances that stack a new build). */
  enqueue: (key: string) => void;
  steps?: Partial<Record<string, StepRunner>>;
  fingerprints?: Partial<Record<string, RemoteFingerprint>>;
  /** Told when a build ran to its end (not when an existing one was reused): for the controller's counters. */
  built?: (kind: 'overlay' | 'installation', ok: boolean, seconds: number) => void;
}

/**
 * Reconciles what instances are built from: overlays (through the build
 * pipeline), installations (directory trees, or steamcmd builds) and
 * blueprints (validity). Owns the ready-build tables instances resolve
 * against, and removes builds nothing uses.
 */
export class BuildReconciler {
  private readonly pipeline: OverlayPipeline;
  /** Builds at once, overlays and Steam installations together: one bound for every build sandbox. */
  private readonly slots: PQueue;
  /** Ready build and last build failure per overlay (mirrors the overlay statuses). */
  private readonly builds = new Map<string, { ready?: string; failure?: string }>();
  /** The same for Steam installations. */
  private readonly installs = new Map<string, { ready?: string; failure?: string }>();
  /** Installation builds being made now (never collected). */
  private readonly installing = new Set<string>();
  private readonly cfg: ControllerConfig;
  private readonly store: StatusStore;
  private readonly now: () => number;
  private readonly elapsed: ElapsedClock;

  constructor(private readonly deps: BuildReconcilerDeps) {
    this.cfg = deps.cfg;
    this.store = deps.store;
    this.now = deps.now;
    this.elapsed = deps.elapsed ?? new ElapsedClock(deps.now);
    const l = this.cfg.units.layout;
    this.slots = new PQueue({ concurrency: this.cfg.buildConcurrency });
    this.pipeline = new OverlayPipeline(
      { overlaysDir: this.host(l.overlaysDir), overlaysHostDir: l.overlaysDir, cacheDir: this.host(l.cacheDir), logsDir: this.host(join(l.logsDir, 'overlays')) },
      { ...PRODUCTION_STEPS, ...deps.steps },
      { ...PRODUCTION_FINGERPRINTS, ...deps.fingerprints },
      { systemd: deps.systemd, steamApiBase: this.cfg.steamApiBase, maxDownloadBytes: this.cfg.maxDownloadBytes, maxArchiveBytes: this.cfg.maxArchiveBytes, maxBuildBytes: this.cfg.maxBuildBytes, egress: new EgressGuard(this.cfg.allowedDownloadNetworks), layout: l, now: this.now },
      this.slots,
    );
  }

  private host(path: string): string {
    return onHost(this.cfg, path);
  }

  /** Reads the ready build and last failure of every overlay from the status store. */
  async loadStatus(): Promise<void> {
    for (const [kind, map] of [['Overlay', this.builds], ['Installation', this.installs]] as const) {
      for (const st of await this.store.list(kind)) {
        map.set(st.name, { ...(st.build?.ready ? { ready: st.build.ready } : {}), ...(st.build?.result === 'Failed' ? { failure: st.lastError?.message ?? 'build failed' } : {}) });
      }
    }
  }

  /** Blueprints: Valid (and so Ready), from the documents alone. */
  reconcileBlueprint(name: string, state: DesiredState): Promise<ReconcileResult> {
    return this.skeleton('Blueprint', name, state, async () => undefined);
  }

  /**
   * The build side's one skeleton: read the status, the invalid-document
   * branch (Valid=False and Stalled with file:line; the builds instances use
   * are left alone), the kind's own steps, and the status written once, in
   * `finally`. A deleted document has nothing to write: its builds go at the
   * next collection pass.
   */
  private async skeleton<K extends 'Overlay' | 'Installation' | 'Blueprint'>(
    kind: K,
    name: string,
    state: DesiredState,
    steps: (doc: Document<K>, status: StatusBuilder) => Promise<ReconcileResult>,
  ): Promise<ReconcileResult> {
    const doc = documentsOf(state, kind).get(name);
    const invalid = state.invalid.get(`${kind.toLowerCase()}/${name}`);
    if (!doc && !invalid) return;
    const prev = await this.store.read(kind, name);
    const status = new StatusBuilder(prev, kind, name, new Date(this.now()));
    try {
      if (!doc) {
        const problems = state.problems.filter((p) => p.kind === kind && p.name === name);
        const message = problems.map(formatProblem).join('; ') || `${shownFile(invalid!)}:${invalid!.line}: invalid`;
        status.set({ type: C.Valid, status: 'False', reason: Reason.Invalid, message });
        throw new Stalled(Reason.Invalid, `${message}; the builds in use are left as they are`, undefined, { file: shownFile(invalid!), line: problems[0]?.line ?? invalid!.line });
      }
      status.generation = doc.generation;
      status.set({ type: C.Valid, status: 'True', reason: Reason.Valid, message: 'the document is valid' }).notStalled();
      return await steps(doc, status);
    } catch (err) {
      if (err instanceof Stalled) status.stalled(err);
      return resultOf(err);
    } finally {
      await this.store.write(status.build(), prev);
    }
  }

  /**
   * Overlays: make sure the build the spec (and remote content) calls for
   * exists. A failed build leaves the previous ready build in use. Sets Valid
   * and OverlaysReady; a new ready build re-enqueues the instances stacking it.
   */
  reconcileOverlay(name: string, state: DesiredState): Promise<ReconcileResult> {
    return this.skeleton('Overlay', name, state, (doc, status) => this.ensureOverlayBuild(doc, state, status));
  }

  /** OverlaysReady: the wanted build exists (built now or reused); False (BuildFailed) naming the build instances keep. */
  private async ensureOverlayBuild(doc: Document<'Overlay'>, state: DesiredState, status: StatusBuilder): Promise<ReconcileResult> {
    const name = doc.metadata.name;
    const now = status.now.getTime();
    const refreshMs = doc.spec.refresh ? parseDuration(doc.spec.refresh) : undefined;
    const cached = status.prev?.build;
    // The refresh interval is time waited since the last check (elapsed.ts): a step of the wall clock neither checks
    // early nor skips a check for as long as the step.
    const refreshKey = `refresh/${name}`;
    const checkedAge = cached ? this.elapsed.age(refreshKey, Date.parse(cached.checkedAt)) : 0;
    const due = !cached || cached.generation !== doc.generation || (refreshMs !== undefined && checkedAge >= refreshMs);
    let failure: unknown;
    let wanted = cached?.wanted;
    let checkedAt = cached?.checkedAt ?? new Date(now).toISOString();
    try {
      if (due || !wanted) {
        wanted = await this.pipeline.buildId(doc, AbortSignal.timeout(60_000));
        checkedAt = new Date(now).toISOString();
        this.elapsed.begin(refreshKey);
      }
      const buildStarted = performance.now();
      if (!(await layerExists(this.pipeline.dir(name, wanted)))) {
        // A build is about to run: say so now, so its log can be followed while it is written (the web's build-log).
        status.patch({ building: { build: wanted, log: join('logs', 'overlays', name, `${wanted}.log`), since: new Date(now).toISOString() } });
        // Not ready at this generation until its build is: an earlier build's OverlaysReady must not make Ready
        // True for a spec whose build has not run (someone waiting for Ready would see a change land too soon).
        status.set({ type: C.OverlaysReady, status: 'False', reason: Reason.Building, message: `building ${wanted}${cached?.ready ? `; instances keep build ${cached.ready}` : ''}` });
        await this.store.write(status.build(), status.prev);
      }
      // Where the build is goes into `building.step` while it runs; every write of it lands before the final status.
      const progress = new ThrottledWrites(() => status.build(), (snap) => this.store.write(snap), BUILD_PROGRESS_WRITE_MS);
      let step = 0;
      const outcome = await this.pipeline
        .ensure(doc, wanted, (p) => {
          const building = status.current.building;
          if (!building) return;
          status.patch({ building: { ...building, step: p } });
          progress.request(p.step !== step);
          step = p.step;
        })
        .catch((err: unknown) => {
          this.deps.built?.('overlay', false, (performance.now() - buildStarted) / 1000);
          throw err;
        })
        .finally(() => progress.settle());
      if (!outcome.reused) this.deps.built?.('overlay', true, (performance.now() - buildStarted) / 1000);
      const relLog = join('logs', 'overlays', name, `${wanted}.log`);
      status.patch({ build: { ready: wanted, wanted, generation: doc.generation, checkedAt, result: 'Succeeded', log: relLog }, building: undefined, lastError: undefined });
      // "(built now)" stays until another build is ready: a restarted controller finding the same build must not rewrite the status.
      const said = status.prev?.conditions.find((c) => c.type === C.OverlaysReady);
      const kept = outcome.reused && cached?.ready === wanted && said?.status === 'True' && said.message.startsWith(`build ${wanted} is ready`);
      status.set({ type: C.OverlaysReady, status: 'True', reason: Reason.Built, message: kept ? said.message : `build ${wanted} is ready${outcome.reused ? '' : ' (built now)'}` });
    } catch (err) {
      failure = err;
      const ready = cached?.ready;
      const relLog = join('logs', 'overlays', name, `${wanted ?? 'unknown'}.log`);
      const tail = err instanceof BuildFailedError ? err.tail : undefined;
      status.patch({
        build: { ...(ready ? { ready } : {}), wanted: wanted ?? 'unknown', generation: doc.generation, checkedAt, result: 'Failed', log: relLog, ...(tail ? { tail } : {}) },
        building: undefined,
        lastError: { message: errorMessage(err), time: new Date(now).toISOString() },
      });
      status.set({
        type: C.OverlaysReady,
        // Not ready: the newest build failed, even while instances keep a previous one (the message says which).
        status: 'False',
        reason: Reason.BuildFailed,
        message: `${errorMessage(err)}${ready ? `; instances keep build ${ready}` : ''} (left4me logs overlay ${name})`,
      });
    }
    const before = this.builds.get(name)?.ready;
    const ready = status.current.build?.ready;
    this.builds.set(name, { ...(ready ? { ready } : {}), ...(failure ? { failure: errorMessage(failure) } : {}) });
    if (ready !== before || failure) {
      for (const inst of instancesUsing(state, { kind: 'overlay', name })) this.deps.enqueue(`instance/${inst}`);
    }
    if (failure) throw failure;
    if (refreshMs !== undefined) return { requeueAfterMs: Math.max(1000, refreshMs - this.elapsed.age(refreshKey, Date.parse(checkedAt))) };
    return undefined;
  }

  /** The ready builds instances resolve against. */
  readyBuilds(): ReadyBuilds {
    return {
      ready: (o) => this.builds.get(o)?.ready,
      failure: (o) => this.builds.get(o)?.failure,
      installation: (n) => this.installs.get(n) ?? {},
    };
  }

  /**
   * Installations. `directory`: Installed when the tree holds srcds_run.
   * `steam`: steamcmd (in its sandbox) installs into a new build directory —
   * a copy of the ready build, so only changes download — renamed into place
   * when done; a mounted build is never updated in place. A failed install
   * keeps the ready build; a new ready build re-enqueues the instances on it.
   */
  reconcileInstallation(name: string, state: DesiredState): Promise<ReconcileResult> {
    return this.skeleton('Installation', name, state, (doc, status) =>
      doc.spec.source === 'directory' ? this.checkDirectoryInstallation(doc, status) : this.ensureSteamInstallation(doc, state, status),
    );
  }

  /** Installed: the directory holds srcds_run; looked at again while it does not. */
  private async checkDirectoryInstallation(doc: Document<'Installation'>, status: StatusBuilder): Promise<ReconcileResult> {
    const ok = await stat(this.host(join(doc.spec.path!, 'srcds_run'))).then(() => true, () => false);
    status.set(
      ok
        ? { type: C.Installed, status: 'True', reason: Reason.Succeeded, message: `uses the tree at ${doc.spec.path}` }
        : { type: C.Installed, status: 'False', reason: Reason.NotFound, message: `${doc.spec.path}/srcds_run does not exist: install the game there or fix spec.path` },
    );
    return ok ? undefined : { requeueAfterMs: MISSING_INSTALLATION_POLL_MS };
  }

  /** Installed: the wanted Steam build exists (steamcmd ran into a copy of the ready one); progress is written while it runs. */
  private async ensureSteamInstallation(doc: Document<'Installation'>, state: DesiredState, status: StatusBuilder): Promise<ReconcileResult> {
    const name = doc.metadata.name;
    const now = status.now.getTime();
    const prev = status.prev;
    const layout = this.cfg.units.layout;
    const refreshMs = doc.spec.refresh ? parseDuration(doc.spec.refresh) : undefined;
    const wanted = refreshMs ? specHash([doc.generation, Math.floor(now / refreshMs)]) : doc.generation;
    const base = join(layout.installationDir, name);
    const relLog = join('logs', 'installations', name, `${wanted}.log`);
    const log = this.host(join(this.cfg.units.layout.dataDir, relLog));
    const readyBefore = prev?.build?.ready;
    let failure: unknown;
    if (!(await layerExists(this.host(join(base, wanted))))) {
      this.installing.add(wanted);
      const buildStarted = performance.now();
      const tmpName = `.tmp-${randomBytes(6).toString('hex')}`;
      const tmp = join(base, tmpName);
      // steamcmd prints the Steam account name: these logs are root's alone, directory and file.
      const logsDir = this.host(join(this.cfg.units.layout.logsDir, 'installations'));
      for (const dir of [logsDir, dirname(log)]) {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await chmod(dir, 0o700);
      }
      closeSync(openSync(log, 'a', 0o600));
      await chmod(log, 0o600);
      const write = (line: string) => appendFileSync(log, `${new Date(this.now()).toISOString()} ${line}\n`);
      let lastProgress = -Infinity;
      // Progress writes go one after another, and all land before the final status (never after it).
      let progressWrites: Promise<unknown> = Promise.resolve();
      try {
        await mkdir(this.host(base), { recursive: true, mode: 0o755 });
        if (readyBefore && (await layerExists(this.host(join(base, readyBefore))))) {
          write(`copying build ${readyBefore} so steamcmd only fetches what changed`);
          await execFileAsync('cp', ['-a', '--reflink=auto', '--', this.host(join(base, readyBefore)), this.host(tmp)]);
        }
        // While steamcmd runs, the status shows it (and its progress below): written now, not only at the end.
        status.patch({ progress: { pass: 0, passes: 0, platform: '', state: 'starting', percent: 0 } });
        // Not installed at this generation until steamcmd is done (Ready would otherwise say the update landed).
        status.set({ type: C.Installed, status: 'False', reason: Reason.Installing, message: `steamcmd is installing build ${wanted}${readyBefore ? `; instances keep build ${readyBefore}` : ''}` });
        await this.store.write(status.build(), prev);
        await this.slots.add(() => installFromSteam(doc, {
          systemd: this.deps.systemd,
          fsRoot: this.cfg.fsRoot,
          layout,
          installDir: tmp,
          log: write,
          onProgress: (p) => {
            // Progress is status, written at most once a second.
            if (performance.now() - lastProgress < 1000) return; // monotonic: a clock stepped back must not mute progress
            lastProgress = performance.now();
            status.patch({ progress: { pass: p.pass, passes: p.passes, platform: p.platform, state: p.state, percent: p.percent } });
            const snapshot = status.build();
            progressWrites = progressWrites.then(() => this.store.write(snapshot)).catch(() => undefined);
          },
        }));
        await progressWrites;
        await rename(this.host(tmp), this.host(join(base, wanted)));
        write(`build ${wanted} installed`);
        this.deps.built?.('installation', true, (performance.now() - buildStarted) / 1000);
      } catch (err) {
        failure = err;
        this.deps.built?.('installation', false, (performance.now() - buildStarted) / 1000);
        await progressWrites;
        write(`build ${wanted} FAILED: ${errorMessage(err)}`);
        await removeTree(this.host(tmp)).catch(() => undefined);
      }
    }
    const ready = failure ? readyBefore : wanted;
    this.installing.delete(wanted);
    status.patch({
      progress: undefined,
      build: { ...(ready ? { ready } : {}), wanted, generation: doc.generation, checkedAt: new Date(now).toISOString(), result: failure ? 'Failed' : 'Succeeded', log: relLog },
      lastError: failure ? { message: errorMessage(failure), time: new Date(now).toISOString() } : undefined,
    });
    status.set(
      failure
        ? { type: C.Installed, status: 'False', reason: Reason.BuildFailed, message: `${errorMessage(failure)}${ready ? `; instances keep build ${ready}` : ''} (left4me logs installation ${name})` }
        : { type: C.Installed, status: 'True', reason: Reason.Succeeded, message: `build ${wanted} is installed` },
    );
    this.installs.set(name, { ...(ready ? { ready } : {}), ...(failure ? { failure: errorMessage(failure) } : {}) });
    if (ready !== readyBefore || failure) {
      for (const inst of instancesUsing(state, { kind: 'installation', name })) this.deps.enqueue(`instance/${inst}`);
    }
    if (failure) throw failure;
    if (refreshMs !== undefined) return { requeueAfterMs: Math.max(1000, (Math.floor(now / refreshMs) + 1) * refreshMs - now) };
    return undefined;
  }

  /**
   * One garbage-collection pass (per resync): removes overlay builds, also of
   * deleted overlays, and builds of Steam installations that are neither
   * ready, being built, nor named by a mount unit on disk. Reads the unit
   * files once for the whole pass.
   */
  async collectUnused(state: DesiredState): Promise<string[]> {
    // Refresh ages of overlays the documents no longer have go with them (the full pass is when they are known).
    this.elapsed.forgetExcept('refresh/', new Set([...state.overlays.keys()].map((n) => `refresh/${n}`)));
    const referenced = referencedLowerDirs(await this.mountUnitTexts());
    const l = this.cfg.units.layout;
    const removed: string[] = [];
    const names = await readdir(this.host(l.overlaysDir)).catch(() => [] as string[]);
    for (const name of names.filter((n) => !n.startsWith('.'))) {
      // A deleted overlay keeps nothing but what a mounted stack still names.
      const ready = state.overlays.has(name) ? this.builds.get(name)?.ready : undefined;
      for (const b of await this.pipeline.collect(name, new Set(ready ? [ready] : []), referenced)) removed.push(join(l.overlaysDir, name, b));
    }
    // Only Steam installations of the documents: a directory installation may lie anywhere, even in here.
    for (const inst of state.installations.values()) {
      if (inst.spec.source !== 'steam') continue;
      const name = inst.metadata.name;
      const keep = new Set([this.installs.get(name)?.ready, ...this.installing].filter((b): b is string => !!b));
      const base = join(l.installationDir, name);
      for (const b of await collectUnusedBuilds(this.host(base), base, keep, referenced)) removed.push(join(base, b));
    }
    if (removed.length > 0) this.deps.log.info({ removed }, 'removed unused builds');
    return removed;
  }

  private async mountUnitTexts(): Promise<string[]> {
    const texts: string[] = [];
    try {
      for (const f of await readdir(this.host(this.cfg.unitDir))) {
        if (f.endsWith('.mount')) texts.push(readSmallFile(this.host(join(this.cfg.unitDir, f))) ?? '');
      }
    } catch {
      // no unit directory yet
    }
    return texts;
  }
}
