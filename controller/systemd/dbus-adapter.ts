// SystemdAdapter over D-Bus (dbus-next 0.10.2, behind dbus-connection.ts).
//
// Call budget: one connection, one match rule and one Subscribe() per
// connection. listUnits is one ListUnitsByPatterns call plus one GetAll per
// service whose MainPID/Result are not cached yet; the cache is kept current
// by the PropertiesChanged signals we are subscribed to anyway, so a no-op
// resync of N instances costs one call, not N+1. Cached facts can lag a
// row's live activeState by one signal; that signal also fires
// onUnitChanged, so a level-triggered caller reads again and converges.
// A reload empties the cache (systemd re-announces every unit during one
// anyway), so the first read after it pays N+1 once.
//
// Jobs: StartUnit & co. return a job path; the job's end arrives as a
// JobRemoved signal, which can be processed before the reply's continuation
// runs. Finished jobs nobody waits for yet are therefore remembered briefly.
import dbus from 'dbus-next';
import type { Message, Variant as VariantType } from 'dbus-next';
import { constants as osConstants } from 'node:os';
import {
  SystemdError,
  UnitJobError,
  type AuxUnit,
  type JobOptions,
  type SystemdAdapter,
  type UnitFileChange,
  type UnitProperty,
  type UnitAccounting,
  type UnitState,
} from './adapter.js';
import { DbusConnection, type ConnectionStats } from './dbus-connection.js';
import { unitNameFromPath, unitObjectPath } from './dbus-paths.js';

/** Options for DbusSystemdAdapter. */
export interface DbusAdapterOptions {
  /** D-Bus address of the system bus; default $DBUS_SYSTEM_BUS_ADDRESS or the standard socket. */
  address?: string;
  /** Timeout of ordinary calls (ms); default 30 s. */
  callTimeoutMs?: number;
  /** Timeout of Reload() (ms); default 120 s: it answers only when the reload is over. */
  reloadTimeoutMs?: number;
}

const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const SERVICE = 'org.freedesktop.systemd1.Service';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
const MATCH_RULE = "type='signal',sender='org.freedesktop.systemd1'";
const FINISHED_JOBS_KEPT = 1024;
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;

interface ServiceFacts {
  mainPid: number;
  result: string;
  nRestarts: number;
}

interface JobWaiter {
  unit: string;
  jobType: string;
  resolve(): void;
  reject(err: Error): void;
}

type UnitRow = [string, string, string, string, string, string, string, number, string, string];

/** The D-Bus SystemdAdapter; owns one bus connection, its subscription, the service-facts cache and the job waiters. */
export class DbusSystemdAdapter implements SystemdAdapter {
  private readonly conn: DbusConnection;
  private readonly reloadTimeoutMs: number;
  private readonly services = new Map<string, ServiceFacts>();
  private readonly waiters = new Map<string, JobWaiter[]>();
  private readonly finished = new Map<string, { unit: string; result: string }>();
  private readonly changeListeners = new Set<(unit: string) => void>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly disconnectListeners = new Set<(err: SystemdError) => void>();
  private pendingChanges = new Set<string>();
  private flushScheduled = false;

  constructor(opts: DbusAdapterOptions = {}) {
    const address = opts.address ?? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/run/dbus/system_bus_socket';
    this.reloadTimeoutMs = opts.reloadTimeoutMs ?? 120_000;
    this.conn = new DbusConnection(
      address,
      {
        setup: async (call) => {
          // The match rule goes first so no signal of a job we start can be missed.
          await call({ path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [MATCH_RULE], destination: 'org.freedesktop.DBus' });
          await call({ path: MANAGER_PATH, interface: MANAGER, member: 'Subscribe' }).catch((err: SystemdError) => {
            if (err.dbusName !== 'org.freedesktop.systemd1.AlreadySubscribed') throw err;
          });
        },
        signal: (msg) => this.onSignal(msg),
        disconnected: (err) => this.connectionLost(err),
        reconnected: () => {
          for (const cb of this.reconnectListeners) safely(cb);
        },
      },
      opts.callTimeoutMs,
    );
  }

  /** Counters of the underlying connection (calls sent, signals received, connects). */
  get stats(): Readonly<ConnectionStats> {
    return this.conn.stats;
  }

  async listUnits(patterns: string[]): Promise<UnitState[]> {
    const [rows] = (await this.manager('ListUnitsByPatterns', 'asas', [[], patterns])) as [UnitRow[]];
    return this.withServiceFacts(rows);
  }

  async getUnit(name: string): Promise<UnitState> {
    const [rows] = (await this.manager('ListUnitsByNames', 'as', [[name]])) as [UnitRow[]];
    // One unit, read when a caller must decide on it: its MainPID/Result fresh too, not as the last signal left them.
    const [unit] = await this.withServiceFacts(rows, true);
    if (!unit) throw new SystemdError('call', `systemd returned nothing for ${name}`);
    return unit;
  }

  async accounting(names: string[]): Promise<Map<string, UnitAccounting>> {
    // Pipelined on the one connection: N units cost 2N small calls in flight together, not N round trips.
    const get = async (name: string, property: string): Promise<bigint | undefined> => {
      const [v] = (await this.conn.call({ path: unitObjectPath(name), interface: PROPERTIES, member: 'Get', signature: 'ss', body: [SERVICE, property] })) as [VariantType];
      const value = v.value as unknown;
      const n = typeof value === 'bigint' ? value : typeof value === 'number' ? BigInt(value) : undefined;
      // systemd answers UINT64_MAX when it does not account the value.
      return n === undefined || n === UINT64_MAX ? undefined : n;
    };
    const rows = await Promise.all(
      names.map(async (name) => {
        try {
          const [cpu, memory] = await Promise.all([get(name, 'CPUUsageNSec'), get(name, 'MemoryCurrent')]);
          return [name, { ...(cpu !== undefined ? { cpuNs: cpu } : {}), ...(memory !== undefined ? { memoryBytes: Number(memory) } : {}) }] as const;
        } catch {
          return undefined;
        }
      }),
    );
    return new Map(rows.filter((r) => r !== undefined));
  }

  start(name: string, opts: JobOptions = {}): Promise<void> {
    return this.job('start', name, () => this.manager('StartUnit', 'ss', [name, opts.mode ?? 'replace']));
  }

  stop(name: string, opts: JobOptions = {}): Promise<void> {
    return this.job('stop', name, () => this.manager('StopUnit', 'ss', [name, opts.mode ?? 'replace']));
  }

  restart(name: string, opts: JobOptions = {}): Promise<void> {
    return this.job('restart', name, () => this.manager('RestartUnit', 'ss', [name, opts.mode ?? 'replace']));
  }

  startTransient(name: string, properties: readonly UnitProperty[], aux: readonly AuxUnit[] = []): Promise<void> {
    const props = (list: readonly UnitProperty[]) => list.map(([key, sig, value]) => [key, new dbus.Variant(sig, value)]);
    return this.job('start', name, () =>
      this.manager('StartTransientUnit', 'ssa(sv)a(sa(sv))', [name, 'fail', props(properties), aux.map(([n, p]) => [n, props(p)])]),
    );
  }

  async enableUnitFiles(names: string[], opts: { runtime?: boolean; force?: boolean } = {}): Promise<UnitFileChange[]> {
    const [, changes] = (await this.manager('EnableUnitFiles', 'asbb', [names, opts.runtime ?? false, opts.force ?? true])) as [boolean, [string, string, string][]];
    return toChanges(changes);
  }

  async disableUnitFiles(names: string[], opts: { runtime?: boolean } = {}): Promise<UnitFileChange[]> {
    const [changes] = (await this.manager('DisableUnitFiles', 'asb', [names, opts.runtime ?? false])) as [[string, string, string][]];
    return toChanges(changes);
  }

  async reload(): Promise<void> {
    // systemd answers Reload() only after the reload has finished.
    await this.conn.call({ path: MANAGER_PATH, interface: MANAGER, member: 'Reload' }, this.reloadTimeoutMs);
    this.services.clear();
  }

  async resetFailed(name: string): Promise<void> {
    await this.manager('ResetFailedUnit', 's', [name]);
  }

  async killUnit(name: string, signal: number | string, who: 'all' | 'main' | 'control' = 'all'): Promise<void> {
    const number = typeof signal === 'number' ? signal : osConstants.signals[signal as keyof typeof osConstants.signals];
    if (number === undefined) throw new SystemdError('call', `unknown signal ${String(signal)}`);
    await this.manager('KillUnit', 'ssi', [name, who, number]);
  }

  onUnitChanged(cb: (unit: string) => void): () => void {
    this.changeListeners.add(cb);
    return () => this.changeListeners.delete(cb);
  }

  onDisconnected(cb: (err: SystemdError) => void): () => void {
    this.disconnectListeners.add(cb);
    return () => this.disconnectListeners.delete(cb);
  }

  onReconnected(cb: () => void): () => void {
    this.reconnectListeners.add(cb);
    return () => this.reconnectListeners.delete(cb);
  }

  async close(): Promise<void> {
    this.conn.close();
    this.changeListeners.clear();
    this.reconnectListeners.clear();
    this.disconnectListeners.clear();
  }

  private manager(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return this.conn.call({ path: MANAGER_PATH, interface: MANAGER, member, signature, body });
  }

  private async job(jobType: string, unit: string, request: () => Promise<unknown[]>): Promise<void> {
    const [path] = (await request()) as [string];
    await new Promise<void>((resolve, reject) => {
      const done = this.finished.get(path);
      const waiter: JobWaiter = { unit, jobType, resolve, reject };
      if (done) return this.settle(waiter, done.result);
      const list = this.waiters.get(path) ?? [];
      list.push(waiter);
      this.waiters.set(path, list);
    });
  }

  private settle(waiter: JobWaiter, result: string): void {
    if (result === 'done') return waiter.resolve();
    if (!isService(waiter.unit)) return waiter.reject(new UnitJobError(waiter.unit, waiter.jobType, result));
    // The unit's own Result tells people more than the job result ("exit-code"
    // vs "failed"). Read live: JobRemoved can overtake the unit's own
    // PropertiesChanged, so the cache may not have it yet.
    this.conn
      .call({ path: unitObjectPath(waiter.unit), interface: PROPERTIES, member: 'Get', signature: 'ss', body: [SERVICE, 'Result'] })
      .then(
        ([value]) => waiter.reject(new UnitJobError(waiter.unit, waiter.jobType, result, String((value as VariantType).value))),
        () => waiter.reject(new UnitJobError(waiter.unit, waiter.jobType, result)),
      );
  }

  private async withServiceFacts(rows: UnitRow[], fresh = false): Promise<UnitState[]> {
    const generation = this.conn.generation;
    const missing = rows.filter(([name, , load, , , , path]) => isService(name) && load !== 'not-found' && (fresh || !this.services.has(path)));
    const fetched = await Promise.all(
      missing.map(async ([, , , , , , path]) => {
        const [props] = (await this.conn.call({ path, interface: PROPERTIES, member: 'GetAll', signature: 's', body: [SERVICE] })) as [Record<string, VariantType>];
        return [path, { mainPid: Number(props.MainPID?.value ?? 0), result: String(props.Result?.value ?? ''), nRestarts: Number(props.NRestarts?.value ?? 0) }] as const;
      }),
    );
    // Facts read under an older connection may have missed signals; use them once, cache them not.
    const read = new Map<string, ServiceFacts>(fetched);
    if (generation === this.conn.generation) for (const [path, facts] of read) this.services.set(path, facts);
    return rows.map(([name, description, loadState, activeState, subState, , path, jobId, jobType]) => {
      const unit: UnitState = { name, description, loadState, activeState, subState };
      const facts = read.get(path) ?? this.services.get(path);
      if (isService(name) && facts) {
        unit.mainPid = facts.mainPid;
        unit.result = facts.result;
        unit.nRestarts = facts.nRestarts;
      }
      if (jobId !== 0) unit.job = { id: jobId, type: jobType };
      return unit;
    });
  }

  private onSignal(msg: Message): void {
    if (msg.interface === PROPERTIES && msg.member === 'PropertiesChanged') {
      const unit = unitNameFromPath(msg.path);
      if (!unit) return;
      const [iface, changed, invalidated] = msg.body as [string, Record<string, VariantType>, string[]];
      if (iface === SERVICE) this.updateServiceFacts(msg.path, changed, invalidated);
      this.changed(unit);
      return;
    }
    if (msg.interface !== MANAGER) return;
    switch (msg.member) {
      case 'JobRemoved': {
        const [, path, unit, result] = msg.body as [number, string, string, string];
        this.jobRemoved(path, unit, result);
        this.changed(unit);
        break;
      }
      case 'UnitRemoved': {
        // Not reported as a change: systemd unloads idle units on its own, and
        // every load (getUnit) would otherwise echo back as a change.
        const [, path] = msg.body as [string, string];
        this.services.delete(path);
        break;
      }
      case 'Reloading': {
        const [active] = msg.body as [boolean];
        if (!active) this.services.clear();
        break;
      }
    }
  }

  private updateServiceFacts(path: string, changed: Record<string, VariantType>, invalidated: string[]): void {
    const facts = this.services.get(path);
    if (!facts) return;
    if (invalidated.includes('MainPID') || invalidated.includes('Result') || invalidated.includes('NRestarts')) {
      this.services.delete(path);
      return;
    }
    if (changed.MainPID) facts.mainPid = Number(changed.MainPID.value);
    if (changed.Result) facts.result = String(changed.Result.value);
    if (changed.NRestarts) facts.nRestarts = Number(changed.NRestarts.value);
  }

  private jobRemoved(path: string, unit: string, result: string): void {
    const list = this.waiters.get(path);
    if (list) {
      this.waiters.delete(path);
      for (const w of list) this.settle(w, result);
      return;
    }
    this.finished.set(path, { unit, result });
    if (this.finished.size > FINISHED_JOBS_KEPT) {
      const oldest = this.finished.keys().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }

  private changed(unit: string): void {
    if (this.changeListeners.size === 0) return;
    this.pendingChanges.add(unit);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Signals of one unit arrive in bursts (Service, then Unit, then JobRemoved); report it once per burst.
    queueMicrotask(() => {
      this.flushScheduled = false;
      const units = this.pendingChanges;
      this.pendingChanges = new Set();
      for (const u of units) for (const cb of this.changeListeners) safely(() => cb(u));
    });
  }

  private connectionLost(err: SystemdError): void {
    this.services.clear();
    this.finished.clear();
    const all = [...this.waiters.values()].flat();
    this.waiters.clear();
    for (const w of all) w.reject(err);
    if (err.code !== 'closed') for (const cb of this.disconnectListeners) safely(() => cb(err));
  }
}

function isService(name: string): boolean {
  return name.endsWith('.service');
}

function toChanges(changes: [string, string, string][]): UnitFileChange[] {
  return changes.map(([type, path, source]) => ({ type, path, source }));
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's failure is its own; the next signal must still reach the others.
  }
}

