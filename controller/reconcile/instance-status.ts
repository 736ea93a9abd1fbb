import { ConditionType as C, Reason, setCondition, type Condition, type ConditionType } from '../status/conditions.js';
import type { DocumentStatus, StatusEvent } from '../status/store.js';

/** One condition to set, without its transition time. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * Applies condition updates to a status, computes Ready from them, and records
 * an event for every condition that flipped. Pure (now is an input).
 */
export function applyConditions(status: DocumentStatus, generation: string | undefined, updates: ConditionUpdate[], now: Date): DocumentStatus {
  const needs = READY_NEEDS[status.kind];
  let conditions = status.conditions;
  const events: StatusEvent[] = [];
  const apply = (u: ConditionUpdate) => {
    const r = setCondition(conditions, { ...u, observedGeneration: generation ?? '' }, now);
    conditions = r.list;
    if (!r.transitioned || (u.status === 'False' && (u.type === C.Stalled || u.type === C.RestartPending))) return;
    const type = u.status === 'True' || u.type === C.Healthy ? 'Normal' : 'Warning';
    // One happening, one event: Ready flipping for the reason a condition just gave says nothing new.
    if (u.type === C.Ready && events.some((e) => e.type === type && e.reason === u.reason)) return;
    events.push({ time: now.toISOString(), type, reason: u.reason, message: `${u.type}=${u.status}: ${u.message}` });
  };
  for (const u of updates) apply(u);
  apply(readyFrom(conditions, needs));
  return { ...status, ...(generation !== undefined ? { observedGeneration: generation } : {}), conditions, events: [...status.events, ...events] };
}

/** What each kind needs before it is Ready. */
const READY_NEEDS: Record<DocumentStatus['kind'], readonly ConditionType[]> = {
  Instance: [C.Valid, C.PortAssigned, C.OverlaysReady, C.Mounted, C.Running, C.Healthy],
  Overlay: [C.Valid, C.OverlaysReady],
  Blueprint: [C.Valid],
  Installation: [C.Valid, C.Installed],
};

/** Ready is True when every prerequisite holds and nothing is stalled or pending; else the first reason it is not. */
function readyFrom(conditions: Condition[], needs: readonly ConditionType[]): ConditionUpdate {
  const stalled = conditions.find((c) => c.type === C.Stalled);
  if (stalled) return { type: C.Ready, status: 'False', reason: stalled.reason, message: stalled.message };
  for (const t of needs) {
    const c = conditions.find((x) => x.type === t);
    if (!c || c.status !== 'True') return { type: C.Ready, status: 'False', reason: c?.reason ?? Reason.Progressing, message: c?.message ?? `${t} not yet known` };
  }
  const pending = conditions.find((c) => c.type === C.RestartPending);
  if (pending) return { type: C.Ready, status: 'True', reason: pending.reason, message: `running; ${pending.message}` };
  return { type: C.Ready, status: 'True', reason: Reason.Succeeded, message: needs.includes(C.Running) ? 'the server runs the current documents' : 'ready' };
}

/** A fresh status for a document seen for the first time. */
export function emptyStatus(kind: DocumentStatus['kind'], name: string): DocumentStatus {
  return { kind, name, conditions: [], events: [] };
}
