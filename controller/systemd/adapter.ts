// Our own small interface to systemd. The controller depends on this file
// only; the D-Bus library behind it (dbus-next, unmaintained) stays in
// dbus-adapter.ts and its dbus-*.ts helpers, so it can be replaced without
// touching a reconciler.

/** One unit as systemd reports it at the moment of the read. */
export interface UnitState {
  name: string;
  description: string;
  /** `loaded`, `not-found`, `masked`, `error`, `bad-setting`, … */
  loadState: string;
  /** `active`, `inactive`, `failed`, `activating`, `deactivating`, `reloading`. */
  activeState: string;
  /** Type-specific state: `running`, `dead`, `exited`, `auto-restart`, `mounted`, … */
  subState: string;
  /** Services only: pid of the main process in systemd's pid namespace, 0 when none. */
  mainPid?: number;
  /** Services only: outcome of the last run: `success`, `exit-code`, `signal`, `core-dump`, `timeout`, … */
  result?: string;
  /** Services only: automatic restarts (Restart=) since the last start asked for; kept while the unit is failed. */
  nRestarts?: number;
  /** The unit's pending job, if any. */
  job?: { id: number; type: string };
}

/** A service's cgroup accounting as systemd reports it; a field is absent when systemd does not account it. */
export interface UnitAccounting {
  /** CPU time of the unit's cgroup since it started, ns (CPUUsageNSec). */
  cpuNs?: bigint;
  /** Memory of the unit's cgroup now, bytes (MemoryCurrent). */
  memoryBytes?: number;
}

/** How a job request treats conflicting queued jobs (systemd's job mode). */
export type JobMode = 'replace' | 'fail' | 'isolate' | 'ignore-dependencies' | 'ignore-requirements';

/** A transient-unit property as systemd's D-Bus API spells it: name, D-Bus signature, value (`t`/`x` values as bigint). */
export type UnitProperty = readonly [name: string, signature: string, value: unknown];

/** An auxiliary unit created together with a transient unit (e.g. its .socket). */
export type AuxUnit = readonly [name: string, properties: readonly UnitProperty[]];

/** One filesystem change made by enabling or disabling unit files. */
export interface UnitFileChange {
  /** `symlink`, `unlink`, … */
  type: string;
  path: string;
  /** Symlink target, empty for unlinks. */
  source: string;
}

/** Why a systemd request failed; the tiny vocabulary callers branch on. */
export type SystemdErrorCode =
  /** systemd refused the call (no such unit, masked, bad setting, access denied, …); see dbusName. */
  | 'call'
  /** The job ran and ended with a result other than `done`; see UnitJobError. */
  | 'job'
  /** The bus went away before the answer came; the outcome is unknown, resync. */
  | 'disconnected'
  /** No answer in time. */
  | 'timeout'
  /** close() was called. */
  | 'closed';

/** An error from the systemd adapter; `code` says what it needs (retry, human, resync). */
export class SystemdError extends Error {
  override readonly name: string = 'SystemdError';
  constructor(
    readonly code: SystemdErrorCode,
    message: string,
    /** D-Bus error name for `call` errors, e.g. org.freedesktop.systemd1.NoSuchUnit. */
    readonly dbusName?: string,
  ) {
    super(message);
  }
}

/** A start/stop/restart/transient job that systemd finished with a result other than `done`. */
export class UnitJobError extends SystemdError {
  override readonly name = 'UnitJobError';
  constructor(
    readonly unit: string,
    readonly jobType: string,
    /** systemd's job result: `failed`, `dependency`, `timeout`, `canceled`, `skipped`, `assert`, `unsupported`, … */
    readonly result: string,
    /** The unit's own Result property when it is a service (`exit-code`, `signal`, …), if it could be read. */
    readonly unitResult?: string,
  ) {
    super(
      'job',
      `${jobType} of ${unit} ended with job result '${result}'` +
        (unitResult ? ` (unit result '${unitResult}')` : '') +
        `; see: journalctl -u ${unit}` +
        // A game server's own output is in its journal namespace (units.ts LogNamespace=); systemd's lines about the unit stay in the system journal.
        (unit.startsWith('left4me-server@') ? ` and journalctl --namespace=left4me -u ${unit}` : ''),
    );
  }
}

/** Options for start/stop/restart. */
export interface JobOptions {
  /** Default `replace`, as systemctl. */
  mode?: JobMode;
}

/**
 * What the controller needs from systemd. Implementations own one bus
 * connection and one signal subscription; every method is safe to call
 * concurrently.
 */
export interface SystemdAdapter {
  /** Reads the units systemd holds in memory matching glob patterns (all if empty), with MainPID and Result for services; stopped units systemd has unloaded are absent (use getUnit for a named one). */
  listUnits(patterns: string[]): Promise<UnitState[]>;
  /** Reads one unit, loading it from disk if needed; `loadState` is `not-found` when there is no such unit. */
  getUnit(name: string): Promise<UnitState>;
  /** Reads CPUUsageNSec and MemoryCurrent of services, all requests sent at once; a unit whose read fails is absent from the answer. */
  accounting(names: string[]): Promise<Map<string, UnitAccounting>>;
  /** Starts a unit; resolves when its job is `done`, rejects with UnitJobError otherwise. */
  start(name: string, opts?: JobOptions): Promise<void>;
  /** Stops a unit; resolves when its job is `done`, rejects with UnitJobError otherwise. */
  stop(name: string, opts?: JobOptions): Promise<void>;
  /** Restarts (or starts) a unit; resolves when its job is `done`, rejects with UnitJobError otherwise. */
  restart(name: string, opts?: JobOptions): Promise<void>;
  /** Creates and starts a transient unit (written under /run by systemd); resolves when its start job is `done`. */
  startTransient(name: string, properties: readonly UnitProperty[], aux?: readonly AuxUnit[]): Promise<void>;
  /** Writes the [Install] symlinks of unit files (under /etc, or /run when runtime); call reload() afterwards. */
  enableUnitFiles(names: string[], opts?: { runtime?: boolean; force?: boolean }): Promise<UnitFileChange[]>;
  /** Removes the [Install] symlinks of unit files; call reload() afterwards. */
  disableUnitFiles(names: string[], opts?: { runtime?: boolean }): Promise<UnitFileChange[]>;
  /** Makes systemd re-read all unit files (daemon-reload); resolves when the reload is complete. */
  reload(): Promise<void>;
  /** Clears a unit's failed state and restart counter. */
  resetFailed(name: string): Promise<void>;
  /** Sends a signal (number or name like `SIGTERM`) to a unit's processes: `all` (default), `main` or `control`. */
  killUnit(name: string, signal: number | string, who?: 'all' | 'main' | 'control'): Promise<void>;
  /** Calls `cb(unitName)` within milliseconds of any state, property or job change of a unit; returns the unsubscribe function. */
  onUnitChanged(cb: (unit: string) => void): () => void;
  /** Calls `cb` when the bus connection is lost (not on close()); calls and job waits in flight have rejected with code `disconnected`, and the adapter reconnects by itself, with backoff. */
  onDisconnected(cb: (err: SystemdError) => void): () => void;
  /** Calls `cb` after the bus connection came back: changes may have been missed, resync everything. */
  onReconnected(cb: () => void): () => void;
  /** Closes the connection; pending calls and jobs reject with code `closed`. */
  close(): Promise<void>;
}
