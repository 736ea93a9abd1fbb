/**
 * Conditions of an instance as the host shows them after a pass: Mounted,
 * Running and Healthy, read from systemd's unit states and the A2S probe.
 * Pure: unit states in, condition updates out.
 */
import { ConditionType as C, Reason } from '../../status/conditions.js';
import type { UnitState } from '../../systemd/adapter.js';
import type { ServerProbe } from '../../game/a2s.js';
import { errorMessage } from '../errors.js';
import type { ConditionUpdate } from '../instance-status.js';

/** Mounted: the overlay stack is mounted while the server should run. */
export function mountCondition(mount: UnitState | undefined, desiredRunning: boolean): ConditionUpdate {
  if (mount?.activeState === 'active') return { type: C.Mounted, status: 'True', reason: Reason.Mounted, message: 'the overlay stack is mounted' };
  return desiredRunning
    ? { type: C.Mounted, status: 'False', reason: Reason.NotMounted, message: 'the overlay stack is not mounted' }
    : { type: C.Mounted, status: 'True', reason: Reason.Stopped, message: 'not mounted while stopped' };
}

/** Running: the server unit is in the state the document asks for. */
export function runningCondition(service: UnitState | undefined, desiredRunning: boolean, failure: unknown): ConditionUpdate {
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

/** Healthy, and the player counts to keep: from an A2S answer of a server this pass did not just (re)start. */
export function healthCondition(desiredRunning: boolean, probe: ServerProbe | undefined, acted: boolean): { update: ConditionUpdate; players?: { players: number; maxPlayers: number; map: string } } {
  if (!desiredRunning) return { update: { type: C.Healthy, status: 'True', reason: Reason.Stopped, message: 'stopped, as desired' } };
  if (probe && !acted) {
    return {
      update: { type: C.Healthy, status: 'True', reason: Reason.Answering, message: `answers A2S: "${probe.name}" on ${probe.map}, ${probe.players}/${probe.maxPlayers} players` },
      // The map as the server says it (its own text: cut to a length a map name has, escaped wherever shown).
      players: { players: probe.players, maxPlayers: probe.maxPlayers, map: probe.map.slice(0, 64) },
    };
  }
  return { update: { type: C.Healthy, status: 'False', reason: Reason.NotAnswering, message: acted ? 'just started; waiting for the first A2S answer' : 'does not answer A2S queries on its game port' } };
}
