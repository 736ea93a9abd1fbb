// Condition types and reasons in one place (fluxcd api/v1/condition_types.go
// style). Ready is computed from the others; negative conditions such as
// Stalled and RestartPending exist only while true.

/** Condition types an instance (and, where noted, other kinds) can carry. */
export const ConditionType = {
  Valid: 'Valid',
  OverlaysReady: 'OverlaysReady',
  Installed: 'Installed',
  PortAssigned: 'PortAssigned',
  Mounted: 'Mounted',
  Running: 'Running',
  Healthy: 'Healthy',
  RestartPending: 'RestartPending',
  Stalled: 'Stalled',
  Ready: 'Ready',
} as const;
/** One of the condition types. */
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Reasons: CamelCase words that say why a condition has its status. */
export const Reason = {
  Valid: 'Valid',
  Invalid: 'Invalid',
  DependencyInvalid: 'DependencyInvalid',
  DependencyMissing: 'DependencyMissing',
  Leased: 'Leased',
  PortConflict: 'PortConflict',
  Built: 'Built',
  Building: 'Building',
  BuildFailed: 'BuildFailed',
  Installing: 'Installing',
  NotFound: 'NotFound',
  Mounted: 'Mounted',
  NotMounted: 'NotMounted',
  Running: 'Running',
  Stopped: 'Stopped',
  Starting: 'Starting',
  Failed: 'Failed',
  Answering: 'Answering',
  NotAnswering: 'NotAnswering',
  SpecChanged: 'SpecChanged',
  WaitingForEmpty: 'WaitingForEmpty',
  WaitingForManualRestart: 'WaitingForManualRestart',
  Progressing: 'Progressing',
  Succeeded: 'Succeeded',
  /** systemd stopped restarting a server that kept crashing (its start limit): not started again until a person acts. */
  CrashLoop: 'CrashLoop',
  /** Some state file could not be read: nothing is deleted until it can. */
  StateUnreadable: 'StateUnreadable',
} as const;

/** A Kubernetes-shaped condition. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: string;
  lastTransitionTime: string;
}

/** Conditions that only appear while true. */
const NEGATIVE: ReadonlySet<string> = new Set([ConditionType.Stalled, ConditionType.RestartPending]);

/**
 * Returns the condition list with `next` set. lastTransitionTime changes only
 * when the status flips; a negative condition set to False is removed.
 * Returns whether the status flipped (an event is due).
 */
export function setCondition(list: Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: Date): { list: Condition[]; transitioned: boolean } {
  const current = list.find((c) => c.type === next.type);
  const rest = list.filter((c) => c.type !== next.type);
  if (NEGATIVE.has(next.type) && next.status === 'False') {
    return { list: rest, transitioned: current !== undefined };
  }
  const transitioned = !current || current.status !== next.status;
  const lastTransitionTime = transitioned ? now.toISOString() : current.lastTransitionTime;
  return { list: sortConditions([...rest, { ...next, lastTransitionTime }]), transitioned };
}

const ORDER: string[] = Object.values(ConditionType);
function sortConditions(list: Condition[]): Condition[] {
  return list.sort((a, b) => ORDER.indexOf(a.type) - ORDER.indexOf(b.type));
}

/** Finds a condition by type. */
export function getCondition(list: Condition[], type: ConditionType): Condition | undefined {
  return list.find((c) => c.type === type);
}
