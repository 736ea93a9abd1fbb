/**
 * The doctor's vocabulary: one finding per check, ok / warning / problem,
 * with what was seen and what to do. Pure data.
 */

/** `problem`: left4me or srcds will not work (doctor exits 1); `warning`: works, but worse or soon not. */
export type CheckStatus = 'ok' | 'warning' | 'problem';

/** One check's finding. */
export interface CheckResult {
  /** Stable id, e.g. `systemd`, `ports` (the json output's key for scripts). */
  id: string;
  /** What was checked, for people. */
  title: string;
  status: CheckStatus;
  /** What was seen. */
  detail: string;
  /** What to do: the Debian package to install or the command to run; absent when ok. */
  fix?: string;
}

const RANK: Record<CheckStatus, number> = { ok: 0, warning: 1, problem: 2 };

/** The worse of statuses (problem over warning over ok). */
export function worst(...statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok');
}

/** A result; `fix` dropped when the status is ok. */
export function result(id: string, title: string, status: CheckStatus, detail: string, fix?: string): CheckResult {
  return { id, title, status, detail, ...(status !== 'ok' && fix ? { fix } : {}) };
}
