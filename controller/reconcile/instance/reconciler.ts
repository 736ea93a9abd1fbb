/**
 * The instance reconciler: one skeleton (Flux's source-controller shape) —
 * read the status, the deletion branch, then an ordered list of small steps
 * with one signature, and the status written once, in `finally`. A step ends
 * the pass early by throwing an outcome (outcome.ts): Stalled when a human
 * must act, Waiting when something is not there yet; anything else it throws
 * is transient and backs off.
 *
 * The steps up to the plan are shared with `left4me diff` (a dry run: no
 * lease taken, no password created, nothing written).
 */
import type { Document } from '../../documents/kinds.js';
import type { DesiredState } from '../../documents/loader.js';
import { formatProblem, shownFile } from '../../documents/problems.js';
import { ConditionType as C, Reason } from '../../status/conditions.js';
import type { Lease } from '../../status/leases.js';
import { instancePaths, launchEnvPort, serverUnitName } from '../../systemd/units.js';
import type { ServerProbe } from '../../game/a2s.js';
import { errorMessage } from '../errors.js';
import { isOutcome, resultOf, Stalled, Waiting } from '../outcome.js';
import { planInstance, type InstanceObservation, type InstancePlan } from '../plan.js';
import type { ReconcileResult } from '../queue.js';
import { resolveInstance, runsHere, type ResolvedInstance } from '../resolve.js';
import { StatusBuilder } from '../status-builder.js';
import { deleteInstance } from './deletion.js';
import { EXECUTORS } from './executors.js';
import type { InstanceHost } from './host.js';
import { observeInstance, pendingKey } from './observe.js';
import { serverLogTail } from './log-tail.js';
import { healthCondition, mountCondition, runningCondition } from './observed.js';

/** How soon to probe a server again that does not answer A2S yet: just after a start, and later. */
const HEALTH_POLL_FAST_MS = 1_000;
const HEALTH_POLL_SLOW_MS = 30_000;
/** How often to look whether a port held by another program has been freed. */
const PORT_BUSY_POLL_MS = 2_000;

/** What a pass reads besides the host: the documents and the port leases. */
export interface InstanceInputs {
  state: DesiredState;
  leases: ReadonlyMap<string, Lease>;
  /** Server uid leases by instance name. */
  uids: ReadonlyMap<string, number>;
  conflicts: ReadonlyMap<string, Array<{ message: string }>>;
}

/** One pass over one instance: what the steps have found so far. */
export interface InstancePass {
  readonly name: string;
  readonly inputs: InstanceInputs;
  /** A dry run (`left4me diff`): nothing is written, no password created. */
  readonly dry: boolean;
  doc?: Document<'Instance'>;
  lease?: Lease;
  uid?: number;
  resolved?: ResolvedInstance;
  obs?: InstanceObservation;
  probe?: ServerProbe;
  plan?: InstancePlan;
  /** When to look again, if the plan or health asks for it. */
  requeueAfterMs?: number;
  /** An action that failed (recorded with what the host shows, then rethrown). */
  failure?: unknown;
}

/** A planned pass: every field the steps up to the plan fill in. */
export type PlannedPass = InstancePass & Required<Pick<InstancePass, 'doc' | 'lease' | 'resolved' | 'obs' | 'plan'>>;

/** What the next pass would do to an instance: delete it, or carry out a plan. */
export type Prepared = { kind: 'delete' } | ({ kind: 'plan' } & PlannedPass);

/** One step: reads the pass and the host, fills in the pass, records conditions; throws an outcome to stop. */
type Step = (x: InstanceHost, pass: InstancePass, status: StatusBuilder) => Promise<void>;

/** Owns nothing: reconciles instances through the host parts it is given. */
export class InstanceReconciler {
  constructor(private readonly x: InstanceHost) {}

  /** One pass: converge the instance and record its status once. */
  async reconcile(name: string, inputs: InstanceInputs): Promise<ReconcileResult> {
    const prev = await this.x.store.read('Instance', name);
    const status = new StatusBuilder(prev, 'Instance', name, new Date(this.x.now()));
    const pass: InstancePass = { name, inputs, dry: false };
    let write = true;
    try {
      if (deletionBranch(this.x, pass) === 'delete') {
        write = false;
        await deleteInstance(this.x, name);
        return;
      }
      for (const step of [...PREPARE, ...ACT]) await step(this.x, pass, status);
      return pass.requeueAfterMs !== undefined ? { requeueAfterMs: pass.requeueAfterMs } : undefined;
    } catch (err) {
      if (err instanceof Stalled) status.stalled(err);
      else if (err instanceof Waiting && err.reason === Reason.StateUnreadable) {
        write = false;
        this.x.log.warn({ instance: name, files: inputs.state.unreadableFiles }, err.message);
      }
      else if (!isOutcome(err)) status.patch({ lastError: { message: errorMessage(err), time: status.now.toISOString() } });
      return resultOf(err);
    } finally {
      if (write) await this.x.store.write(status.build(), prev);
    }
  }

  /** The steps up to the plan, changing nothing (`left4me diff`). Throws Stalled or Waiting for what blocks it. */
  async dryRun(name: string, inputs: InstanceInputs): Promise<Prepared> {
    const pass: InstancePass = { name, inputs, dry: true };
    if (deletionBranch(this.x, pass) === 'delete') return { kind: 'delete' };
    const scratch = new StatusBuilder(await this.x.store.read('Instance', name), 'Instance', name, new Date(this.x.now()));
    for (const step of PREPARE) await step(this.x, pass, scratch);
    return { kind: 'plan', ...(pass as PlannedPass) };
  }
}

/**
 * The deletion branch: an instance whose document is gone from this host is
 * deleted — unless the document is there but invalid (Stalled: bad input never
 * destroys anything), or some state file could not be read (it may be there).
 */
function deletionBranch(x: InstanceHost, pass: InstancePass): 'delete' | 'present' {
  const { state } = pass.inputs;
  const doc = state.instances.get(pass.name);
  if (doc && runsHere(doc, x.cfg)) return 'present';
  if (doc) return 'delete'; // it runs on another node now
  if (state.invalid.has(`instance/${pass.name}`)) return 'present';
  if (state.unreadableFiles.length > 0) {
    throw new Waiting(Reason.StateUnreadable, `not deleted while ${state.unreadableFiles.length} state file(s) cannot be read (${state.unreadableFiles.join(', ')}); the instance may be defined there`);
  }
  return 'delete';
}

/** Valid: the document passed validation. Stalled (Invalid) with file:line when not; the server is left as it is. */
const checkValid: Step = async (_x, pass, status) => {
  const { state } = pass.inputs;
  const invalid = state.invalid.get(`instance/${pass.name}`);
  if (invalid) {
    const problems = state.problems.filter((p) => p.kind === 'Instance' && p.name === pass.name);
    const message = problems.map(formatProblem).join('; ') || `${shownFile(invalid)}:${invalid.line}: invalid`;
    status.set({ type: C.Valid, status: 'False', reason: Reason.Invalid, message });
    throw new Stalled(Reason.Invalid, `${message}; the server is left as it is`, undefined, { file: shownFile(invalid), line: problems[0]?.line ?? invalid.line });
  }
  pass.doc = state.instances.get(pass.name)!;
  status.generation = pass.doc.generation;
  status.set({ type: C.Valid, status: 'True', reason: Reason.Valid, message: 'the document is valid' });
};

/** PortAssigned: the instance holds its game and client port leases and its server uid. Stalled (PortConflict) when it cannot. */
const leasePort: Step = async (_x, pass, status) => {
  const lease = pass.inputs.leases.get(pass.name);
  const uid = pass.inputs.uids.get(pass.name);
  const conflicts = pass.inputs.conflicts.get(pass.name);
  status.patch({ port: lease?.port, clientPort: lease?.clientPort, uid });
  if (conflicts || !lease || uid === undefined) {
    const message = conflicts?.map((c) => c.message).join('; ') ?? (lease ? 'no server uid lease' : 'no port lease');
    status.set({ type: C.PortAssigned, status: 'False', reason: Reason.PortConflict, message });
    throw new Stalled(Reason.PortConflict, message);
  }
  pass.lease = lease;
  pass.uid = uid;
  status.set({ type: C.PortAssigned, status: 'True', reason: Reason.Leased, message: `game port ${lease.port}, client port ${lease.clientPort}` });
};

/**
 * OverlaysReady (False while blocked): the blueprint, overlays, installation
 * and their ready builds. Waiting while a first build runs (the build
 * enqueues the instance when done); Stalled when a dependency is invalid,
 * missing or failed, or the documents together cannot be rendered on this
 * host (Valid=False, blaming the blueprint's file:line).
 */
const resolveDependencies: Step = async (x, pass, status) => {
  const password = pass.dry ? ((await x.secrets.peek(pass.name)) ?? 'not-yet-generated') : await x.secrets.get(pass.name);
  const resolved = resolveInstance(pass.inputs.state, pass.doc!, pass.lease!, password, x.cfg, x.readyBuilds(), pass.uid!);
  if ('blocked' in resolved) {
    // Documents valid one by one that cannot run together here (a stack too tall to mount): the author must act.
    if (resolved.reason === 'Invalid') status.set({ type: C.Valid, status: 'False', reason: Reason.Invalid, message: resolved.message });
    status.set({ type: C.OverlaysReady, status: 'False', reason: resolved.reason, message: resolved.message });
    if (resolved.reason === 'Building') {
      status.notStalled();
      throw new Waiting(resolved.reason, resolved.message);
    }
    throw new Stalled(resolved.reason, `${resolved.message}; the server is left as it is`, undefined, resolved.source);
  }
  pass.resolved = resolved;
};

/** What is there: units, files, layers — and one A2S query of a running server, which serves both health and the whenEmpty rollout. */
const observeHost: Step = async (x, pass, status) => {
  pass.obs = await observeInstance(x, pass.resolved!, status.current);
  if (pass.obs.service?.activeState === 'active') {
    // Ask the port the server runs on: after a port change it keeps the old one until its restart.
    const running = launchEnvPort(pass.obs.files.get(instancePaths(pass.name, x.cfg.units.layout).launchEnv));
    pass.probe = await x.probe(running ?? pass.lease!.port);
    if (pass.probe) pass.obs.players = pass.probe.players;
  }
};

/**
 * A server that should run but does not, on a port something else holds,
 * would exit at once (-strictportbind) and systemd restart it in a loop.
 * Stalled (PortConflict) naming who is in the way; looked at again soon.
 */
const checkPortFree: Step = async (x, pass, status) => {
  const svc = pass.obs!.service;
  const down = !svc || svc.activeState === 'failed' || svc.activeState === 'inactive' || svc.subState === 'auto-restart';
  if (pass.resolved!.intent.state === 'running' && down && !(await x.portFree(pass.lease!.port))) {
    const message = `port ${pass.lease!.port} is in use by another program on this host (not a left4me server); free it or choose another spec.port`;
    status.set({ type: C.PortAssigned, status: 'False', reason: Reason.PortConflict, message });
    throw new Stalled(Reason.PortConflict, message, PORT_BUSY_POLL_MS);
  }
};

/** The plan (pure): desired × observed → actions. */
const planChanges: Step = async (x, pass) => {
  pass.plan = planInstance(pass.resolved!.intent, pass.obs!, x.now());
};

/**
 * Carries out the plan, action by action (executors.ts). OverlaysReady when
 * all succeeded; a failure is recorded by recordObserved and rethrown there,
 * after the status shows what the host looks like now.
 */
const applyPlan: Step = async (x, pass, status) => {
  status.notStalled();
  try {
    for (const action of pass.plan!.actions) await EXECUTORS[action.type](x, pass.resolved!);
    const n = pass.resolved!.overlays.length;
    status.set({ type: C.OverlaysReady, status: 'True', reason: Reason.Built, message: `${n} overlay${n === 1 ? '' : 's'} and the config layer are built` });
    if (pass.plan!.handled) status.patch({ handledRestartAt: pass.plan!.handled.restartedAt ?? status.current.handledRestartAt, handledResetAt: pass.plan!.handled.resetAt ?? status.current.handledResetAt });
  } catch (err) {
    x.units.invalidate();
    pass.failure = err;
  }
};

/** Mounted, Running, Healthy and RestartPending, from what systemd and A2S say after the plan ran; rethrows a failed action. */
const recordObserved: Step = async (x, pass, status) => {
  const { resolved, plan, probe } = pass as PlannedPass;
  const failure = pass.failure;
  const units = await x.units.snapshot();
  const service = units.get(serverUnitName(pass.name));
  const desiredRunning = resolved.intent.state === 'running';
  status.set(mountCondition(units.get(resolved.mountUnit), desiredRunning), runningCondition(service, desiredRunning, failure));
  // Health speaks of the server as it was before this pass acted; a server just (re)started is probed next pass.
  const acted = plan.actions.some((a) => a.type === 'start' || a.type === 'stop');
  const health = healthCondition(desiredRunning, probe, acted);
  status.set(health.update).patch({ players: health.players?.players, maxPlayers: health.players?.maxPlayers, map: health.players?.map });
  let requeue = plan.requeueAfterMs ?? Infinity;
  if (desiredRunning && health.update.status === 'False') {
    // Look again soon after a start, then settle to a slower beat for a server that stays silent.
    const runningSince = Date.parse(status.current.conditions.find((c) => c.type === C.Running)?.lastTransitionTime ?? status.now.toISOString());
    const sinceStart = service?.activeState === 'active' && !acted ? status.now.getTime() - runningSince : 0;
    // A start dated in the future (the wall clock was stepped back) is not "just started": a day of fast polls is not wanted.
    requeue = Math.min(requeue, sinceStart >= 0 && sinceStart < 60_000 ? HEALTH_POLL_FAST_MS : HEALTH_POLL_SLOW_MS);
  }
  if (plan.pending) {
    // A wait that began in this pass starts its monotonic age now (observe.ts pendingSince).
    x.elapsed.age(pendingKey(pass.name), plan.pending.since);
    status.patch({ restartPendingSince: new Date(plan.pending.since).toISOString() });
    status.set({ type: C.RestartPending, status: 'True', reason: plan.pending.reason, message: plan.pending.message });
  } else {
    x.elapsed.forget(pendingKey(pass.name));
    status.patch({ restartPendingSince: undefined });
    status.set({ type: C.RestartPending, status: 'False', reason: Reason.Succeeded, message: '' });
  }
  status.patch({ unit: service ? { activeState: service.activeState, subState: service.subState, ...(service.mainPid ? { mainPid: service.mainPid } : {}) } : { activeState: 'inactive', subState: 'dead' } });
  if (failure) throw failure;
  if (plan.crashLoop) throw await crashLoopStall(x, pass.name);
  if (requeue !== Infinity) pass.requeueAfterMs = requeue;
};

/** Stalled (CrashLoop): systemd stopped restarting the server; what it said last, and what a person can do. */
async function crashLoopStall(x: InstanceHost, name: string): Promise<Stalled> {
  const s = x.cfg.units.server;
  const tail = await serverLogTail(x.cfg, serverUnitName(name));
  const lines = tail.length > 0 ? `; last log lines: ${tail.join(' | ')}` : `; no log lines (see journalctl --namespace=left4me -u ${serverUnitName(name)})`;
  return new Stalled(
    Reason.CrashLoop,
    `the server exited ${s.startLimitBurst} times within ${s.startLimitIntervalSec}s and systemd stopped restarting it; fix the cause, then set the left4me/restartedAt annotation (or change the documents) to start it again${lines}`,
  );
}

const PREPARE: readonly Step[] = [checkValid, leasePort, resolveDependencies, observeHost, checkPortFree, planChanges];
const ACT: readonly Step[] = [applyPlan, recordObserved];
