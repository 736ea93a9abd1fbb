import { readFile, rename } from 'node:fs/promises';
import { isDocumentName, jsonEntries } from '../documents/names.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { Serial } from '../serial.js';

/** The ports one instance holds. */
export interface Lease {
  port: number;
  clientPort: number;
}

/** What an instance asks for: explicit ports or automatic ones. */
export interface LeaseRequest {
  name: string;
  port?: number;
  clientPort?: number;
}

/** Why an instance could not get its ports (it becomes Stalled with this message). */
export interface LeaseConflict {
  name: string;
  field: 'port' | 'clientPort';
  message: string;
}

/**
 * What to do with a lease file that is there but cannot be read as one
 * (truncated, corrupted, not JSON): rebuild it from what the host shows.
 * Without it, such a file is an error naming the file.
 */
export interface LeaseRecovery<T> {
  /** The leases the host shows (each running or configured server's own files). */
  fromHost(): Promise<Map<string, T>>;
  /** Told once the bad file was moved aside and the table rebuilt. */
  recovered(info: { file: string; movedTo: string; leases: number }): void;
}

/**
 * Reads a JSON lease table: the object under `field`, or undefined when the
 * file does not exist. A file that is not such a table is moved aside to
 * `<file>.unreadable-<time>` (kept for a person to look at) and `recovery`
 * rebuilds the table; without a recovery it is an error, never an empty
 * table (that would hand every server's port to someone else).
 */
export async function readLeaseTable<T>(file: string, field: string, recovery: LeaseRecovery<T> | undefined): Promise<{ entries: [string, unknown][] } | { rebuilt: Map<string, T>; movedTo: string } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let entries: [string, unknown][] | undefined;
  try {
    entries = jsonEntries((JSON.parse(text) as Record<string, unknown> | null)?.[field]);
  } catch {
    entries = undefined;
  }
  if (entries) return { entries };
  if (!recovery) throw new Error(`${file} is not a lease table (truncated or corrupted); move it away and the controller rebuilds it from the servers' files`);
  const movedTo = `${file}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await rename(file, movedTo);
  return { rebuilt: await recovery.fromHost(), movedTo };
}

/** Inclusive port range. */
export interface PortRange {
  min: number;
  max: number;
}

/**
 * What the port and uid lease tables share: a map by instance name that is
 * written before it is believed (a failed write, e.g. on a full disk, leaves
 * memory as the file is, so the next change writes again), changed one
 * change at a time (Serial says why), and released entry by entry once an
 * instance's server is gone.
 */
export abstract class LeaseTable<V> {
  protected leases = new Map<string, V>();
  protected readonly changes = new Serial();

  /** The lease of an instance, if any. */
  get(name: string): V | undefined {
    return this.leases.get(name);
  }

  /** Every lease, by instance name. */
  all(): ReadonlyMap<string, V> {
    return this.leases;
  }

  /** Releases an instance's lease (after its server and units are gone). */
  release(name: string): Promise<void> {
    return this.changes.run(async () => {
      if (!this.leases.has(name)) return;
      const left = new Map(this.leases);
      left.delete(name);
      await this.save(left);
      this.leases = left;
    });
  }

  protected abstract save(leases: ReadonlyMap<string, V>): Promise<void>;
}

/**
 * Port leases of this host, persisted as one JSON file. Leases are sticky: an
 * instance keeps its ports until it is deleted, and whoever holds a port keeps
 * it when another document later asks for the same port explicitly.
 */
export class PortLeases extends LeaseTable<Lease> {
  private constructor(
    private readonly file: string,
    private readonly game: PortRange,
    private readonly client: PortRange,
    private readonly portFree?: (port: number) => Promise<boolean>,
  ) {
    super();
  }

  /**
   * Loads the lease file (missing = no leases; unreadable = rebuilt through
   * `recovery`, see readLeaseTable). With `portFree`, new automatic leases
   * skip ports another process on the host already holds.
   */
  static async open(file: string, game: PortRange, client: PortRange, portFree?: (port: number) => Promise<boolean>, recovery?: LeaseRecovery<Lease>): Promise<PortLeases> {
    const l = new PortLeases(file, game, client, portFree);
    const table = await readLeaseTable(file, 'leases', recovery);
    const entries = table === undefined ? [] : 'entries' in table ? table.entries : [...table.rebuilt];
    // Only an instance name with two whole ports holds anything: a "__proto__" or malformed entry would block a port forever.
    for (const [name, lease] of entries) if (isDocumentName(name) && isLease(lease)) l.leases.set(name, { port: lease.port, clientPort: lease.clientPort });
    if (table && 'rebuilt' in table) {
      await l.save(l.leases);
      recovery!.recovered({ file, movedTo: table.movedTo, leases: l.leases.size });
    }
    return l;
  }

  /**
   * Brings leases in line with the requests (every instance this host runs):
   * keeps existing leases, moves a lease to a newly explicit port when free,
   * and gives new instances the lowest free ports that no request names
   * explicitly. Does not release leases of instances missing from `requests`
   * (deletion does, once the server is gone). Returns conflicts; persists when
   * anything changed.
   */
  reconcile(requests: LeaseRequest[]): Promise<LeaseConflict[]> {
    return this.changes.run(() => this.reconcileNow(requests));
  }

  private async reconcileNow(requests: LeaseRequest[]): Promise<LeaseConflict[]> {
    let busy = new Set<number>();
    let result = this.preview(requests, busy);
    // New automatic leases only: a port we already lease is ours even while our server holds it.
    for (let round = 0; this.portFree && round < 8; round++) {
      const fresh = [...result.leases].flatMap(([name, l]) => {
        const old = this.leases.get(name);
        const explicit = requests.find((r) => r.name === name);
        return [
          ...(old?.port !== l.port && explicit?.port === undefined ? [l.port] : []),
          ...(old?.clientPort !== l.clientPort && explicit?.clientPort === undefined ? [l.clientPort] : []),
        ];
      });
      const taken = (await Promise.all(fresh.map(async (p) => ((await this.portFree!(p)) ? undefined : p)))).filter((p): p is number => p !== undefined);
      if (taken.length === 0) break;
      busy = new Set([...busy, ...taken]);
      result = this.preview(requests, busy);
    }
    const { leases, conflicts } = result;
    const changed = JSON.stringify([...leases]) !== JSON.stringify([...this.leases]);
    // Saved first: when the write fails (a full disk) the leases in memory stay what the file says, so the next
    // reconcile sees the change again and saves it, instead of serving a lease the file never got.
    if (changed) await this.save(leases);
    this.leases = leases;
    return conflicts;
  }

  /** What reconcile() would lease, without changing or saving anything (for `left4me diff`). */
  preview(requests: LeaseRequest[], busy: ReadonlySet<number> = new Set()): { leases: Map<string, Lease>; conflicts: LeaseConflict[] } {
    const leases = new Map([...this.leases].map(([n, l]) => [n, { ...l }]));
    const conflicts: LeaseConflict[] = [];
    const setField = (name: string, field: 'port' | 'clientPort', value: number) => {
      const lease = (leases.get(name) ?? {}) as Partial<Lease>;
      lease[field] = value;
      leases.set(name, lease as Lease);
    };
    const sorted = [...requests].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const explicit = { port: new Set<number>(), clientPort: new Set<number>() };
    for (const r of sorted) {
      if (r.port !== undefined) explicit.port.add(r.port);
      if (r.clientPort !== undefined) explicit.clientPort.add(r.clientPort);
    }

    for (const field of ['port', 'clientPort'] as const) {
      const range = field === 'port' ? this.game : this.client;
      const holder = new Map<number, string>();
      for (const [name, lease] of leases) holder.set(lease[field], name);

      // Pass 1: explicit requests, then existing leases; pass 2: new automatic ones.
      const pending: LeaseRequest[] = [];
      for (const r of sorted) {
        const current = leases.get(r.name);
        const want = r[field];
        if (want !== undefined) {
          const owner = holder.get(want);
          if (owner !== undefined && owner !== r.name) {
            conflicts.push({
              name: r.name,
              field,
              message: `${field === 'port' ? 'port' : 'client port'} ${want} is leased by instance/${owner}; choose another or remove it from instance/${owner} first`,
            });
            continue;
          }
          if (current && current[field] !== want) holder.delete(current[field]);
          holder.set(want, r.name);
          setField(r.name, field, want);
        } else if (current && current[field] >= range.min && current[field] <= range.max) {
          continue; // sticky
        } else {
          pending.push(r);
        }
      }
      let next = range.min;
      for (const r of pending) {
        while (next <= range.max && (holder.has(next) || explicit[field].has(next) || busy.has(next))) next++;
        if (next > range.max) {
          conflicts.push({ name: r.name, field, message: `no free ${field === 'port' ? 'game' : 'client'} port left in ${range.min}-${range.max}` });
          continue;
        }
        const old = leases.get(r.name)?.[field];
        if (old !== undefined) holder.delete(old);
        holder.set(next, r.name);
        setField(r.name, field, next);
      }
    }
    // An instance must hold both ports or none: a half lease would start a server without a client port.
    for (const c of conflicts) {
      const lease = leases.get(c.name);
      if (lease && (lease.port === undefined || lease.clientPort === undefined)) leases.delete(c.name);
    }
    return { leases, conflicts };
  }

  protected async save(leases: ReadonlyMap<string, Lease>): Promise<void> {
    const sorted = Object.fromEntries([...leases].sort(([a], [b]) => (a < b ? -1 : 1)));
    await writeFileAtomic(this.file, `${JSON.stringify({ leases: sorted }, null, 2)}\n`);
  }
}

function isLease(v: unknown): v is Lease {
  const port = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
  return typeof v === 'object' && v !== null && port((v as Lease).port) && port((v as Lease).clientPort);
}

/** Whether nothing on this host holds a port: binds it on 0.0.0.0 for UDP and TCP, as srcds will, and lets go. */
export async function portFreeOnHost(port: number): Promise<boolean> {
  const { createSocket } = await import('node:dgram');
  const { createServer } = await import('node:net');
  const udp = await new Promise<boolean>((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
  if (!udp) return false;
  return new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}
