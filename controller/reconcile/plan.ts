// plan(): desired × observed → actions, for one instance. Pure: no I/O, no
// clock (now is an input), so every rollout rule is a table test.
//
// Files on disk always describe what runs: a running server's mount unit and
// launch.env are replaced only at the moment it is (re)started. So "does the
// running server match the documents?" is a text comparison, and a crash of
// the controller between any two steps is repaired by the next pass.

/** What the documents want for one instance, fully resolved (ports leased, builds named). */
export interface InstanceIntent {
  name: string;
  state: 'running' | 'stopped';
  updatePolicy: 'whenEmpty' | 'immediate' | 'manual';
  maxUpdateDelayMs: number;
  /** How often a whenEmpty rollout asks for the player count again (default EMPTY_POLL_MS). */
  emptyPollMs?: number;
  /** Annotations: imperative triggers, acted on once per value. */
  restartedAt?: string;
  resetAt?: string;
  /** Files (path → text) that describe this instance: its mount unit, User= drop-in and launch.env. */
  files: Map<string, string>;
}

/** What is there for one instance. */
export interface InstanceObservation {
  /** The server unit, if systemd knows it; `gaveUp`: failed because systemd's start limit ended a crash loop. */
  service?: { activeState: string; subState: string; gaveUp?: boolean };
  /** Whether the overlay is mounted at the instance's runtime dir. */
  mounted: boolean;
  /** Whether the server unit is enabled (started at boot, without waiting for the controller). */
  enabled: boolean;
  /** Current text of each of the intent's files (undefined = missing). */
  files: Map<string, string | undefined>;
  /** Whether the config layer and every overlay build the intent names exist on disk. */
  layersPresent: boolean;
  /** Players connected, when a rollout decision needed it (undefined = unknown or not asked). */
  players?: number;
  /** From status: when a pending restart began waiting, and the annotations already acted on. */
  pendingSince?: number;
  handledRestartAt?: string;
  handledResetAt?: string;
}

/** One step for the executors; each checks before it acts, so replaying a plan is harmless. */
export type Action =
  | { type: 'writeLayers' }
  | { type: 'writeFiles' }
  | { type: 'resetFailed' }
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'unmount' }
  | { type: 'wipeWritableLayer' }
  | { type: 'enable' }
  | { type: 'disable' };

/** Why a running server was not restarted yet. */
export interface Pending {
  reason: 'WaitingForEmpty' | 'WaitingForManualRestart';
  message: string;
  since: number;
}

/** The plan for one instance. */
export interface InstancePlan {
  actions: Action[];
  /** A restart is needed but waits (RestartPending). */
  pending?: Pending;
  /** Look again after this long (waiting for players to leave, or for a start to finish). */
  requeueAfterMs?: number;
  /** Whether the plan needs the player count to decide (the observer then asks A2S and plans again). */
  needsPlayers?: boolean;
  /** The restartedAt/resetAt annotation values this plan acts on; recorded in status once every action succeeded. */
  handled?: { restartedAt?: string; resetAt?: string };
  /** systemd gave up on a crash-looping server (start limit hit) and nothing changed since: left failed, reported Stalled. */
  crashLoop?: boolean;
}

/** How often a whenEmpty rollout looks at the player count again. */
export const EMPTY_POLL_MS = 15_000;
/** How soon to look again at a unit that is starting or stopping. */
export const TRANSITION_POLL_MS = 1_000;

const ACTIVE = new Set(['active', 'reloading']);
const TRANSITIONING = new Set(['activating', 'deactivating']);

function filesMatch(intent: InstanceIntent, obs: InstanceObservation): boolean {
  for (const [name, text] of intent.files) if (obs.files.get(name) !== text) return false;
  return true;
}

/** Plans one instance that should exist. */
export function planInstance(intent: InstanceIntent, obs: InstanceObservation, now: number): InstancePlan {
  const actions: Action[] = [];
  if (!obs.layersPresent) actions.push({ type: 'writeLayers' });
  const upToDate = filesMatch(intent, obs);
  const state = obs.service?.activeState ?? 'inactive';
  const resetRequested = intent.resetAt !== undefined && intent.resetAt !== obs.handledResetAt;
  const restartRequested = intent.restartedAt !== undefined && intent.restartedAt !== obs.handledRestartAt;
  const handled = resetRequested || restartRequested
    ? { handled: { ...(intent.restartedAt !== undefined ? { restartedAt: intent.restartedAt } : {}), ...(intent.resetAt !== undefined ? { resetAt: intent.resetAt } : {}) } }
    : {};

  if (TRANSITIONING.has(state)) {
    return { actions, requeueAfterMs: TRANSITION_POLL_MS };
  }

  if (intent.state === 'stopped') {
    if (obs.enabled) actions.push({ type: 'disable' });
    if (ACTIVE.has(state)) actions.push({ type: 'stop' });
    if (obs.mounted) actions.push({ type: 'unmount' });
    if (resetRequested) actions.push({ type: 'wipeWritableLayer' });
    if (!upToDate) actions.push({ type: 'writeFiles' });
    return { actions, ...handled };
  }
  // Desired running: enabled too, so a reboot brings the server back before the controller is up.
  // Enabling comes last: it is for the next boot, and a start must not wait for it.
  const plan = planRunning(intent, obs, now, actions, state, upToDate, resetRequested, restartRequested, handled);
  return obs.enabled ? plan : { ...plan, actions: [...plan.actions, { type: 'enable' }] };
}

/** Plans an instance that should run (enabling aside). */
function planRunning(
  intent: InstanceIntent,
  obs: InstanceObservation,
  now: number,
  actions: Action[],
  state: string,
  upToDate: boolean,
  resetRequested: boolean,
  restartRequested: boolean,
  handled: Pick<InstancePlan, 'handled'>,
): InstancePlan {
  // A crash loop that systemd's start limit ended stays down until a person acts: a restart (or reset)
  // annotation, or documents that change what the server runs. Starting it again would only loop again.
  if (state === 'failed' && obs.service?.gaveUp && upToDate && !resetRequested && !restartRequested) {
    return { actions, crashLoop: true };
  }
  // Server not running: bring it up with the current files.
  if (!ACTIVE.has(state)) {
    if (obs.mounted && (!upToDate || resetRequested)) actions.push({ type: 'unmount' });
    if (resetRequested) actions.push({ type: 'wipeWritableLayer' });
    if (!upToDate) actions.push({ type: 'writeFiles' });
    if (state === 'failed') actions.push({ type: 'resetFailed' });
    actions.push({ type: 'start' });
    return { actions, ...handled };
  }

  // Running. A human asked for a reset or restart: do it now, whatever the policy.
  const restart = (wipe: boolean): InstancePlan => ({
    actions: [
      ...actions,
      { type: 'stop' },
      { type: 'unmount' },
      ...(wipe ? [{ type: 'wipeWritableLayer' } as const] : []),
      ...(upToDate ? [] : [{ type: 'writeFiles' } as const]),
      { type: 'start' },
    ],
    ...handled,
  });
  if (resetRequested) return restart(true);
  if (restartRequested) return restart(false);
  if (upToDate) return { actions };

  // Running with an outdated config: the update policy decides when.
  const since = obs.pendingSince ?? now;
  switch (intent.updatePolicy) {
    case 'immediate':
      return restart(false);
    case 'manual':
      return {
        actions,
        pending: { reason: 'WaitingForManualRestart', message: 'the documents changed; set the left4me/restartedAt annotation to apply them', since },
      };
    case 'whenEmpty': {
      const waited = now - since;
      if (waited >= intent.maxUpdateDelayMs) return restart(false);
      if (obs.players === undefined) {
        return { actions, needsPlayers: true, requeueAfterMs: intent.emptyPollMs ?? EMPTY_POLL_MS, pending: { reason: 'WaitingForEmpty', message: 'the server does not say how many players are connected (no A2S answer); waiting', since } };
      }
      if (obs.players === 0) return restart(false);
      const left = intent.maxUpdateDelayMs - waited;
      return {
        actions,
        pending: {
          reason: 'WaitingForEmpty',
          message: `${obs.players} player${obs.players === 1 ? '' : 's'} connected; restarting when the server is empty or in ${formatMs(left)}, whichever comes first`,
          since,
        },
        requeueAfterMs: Math.min(intent.emptyPollMs ?? EMPTY_POLL_MS, left),
      };
    }
  }
}

function formatMs(ms: number): string {
  const m = Math.ceil(ms / 60_000);
  return m >= 120 ? `${Math.round(m / 60)}h` : `${m}m`;
}
