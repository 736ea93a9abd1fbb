import { writeFileAtomic } from '../fs/atomic.js';
import { isDocumentName } from '../documents/names.js';
import { LeaseTable, readLeaseTable, type LeaseRecovery } from './leases.js';

/** Inclusive range of uids game servers are leased from. */
export interface UidRange {
  min: number;
  max: number;
}

/**
 * 0x70000000 and the 65,535 uids after it: the first block past the container
 * ranges systemd-nspawn picks from (524288–1879048191), below 2^31 and
 * systemd's foreign range, in a gap systemd's UIDS-GIDS.md lists as unused.
 */
export const DEFAULT_UID_RANGE: UidRange = { min: 1879048192, max: 1879113727 };

/** Why an instance has no uid (it becomes Stalled with this message). */
export interface UidLeaseConflict {
  name: string;
  message: string;
}

/**
 * Server uid leases of this host, persisted as one JSON file beside the port
 * leases. Sticky like them: an instance keeps its uid until it is deleted, or
 * until the operator's range no longer holds it. Owns only the file; who may
 * use which uid is decided here, nowhere else.
 */
export class UidLeases extends LeaseTable<number> {
  private constructor(
    private readonly file: string,
    private readonly range: UidRange,
  ) {
    super();
  }

  /** Loads the lease file (missing = no leases; unreadable = rebuilt through `recovery`); entries that are not a uid are dropped. */
  static async open(file: string, range: UidRange, recovery?: LeaseRecovery<number>): Promise<UidLeases> {
    const l = new UidLeases(file, range);
    const table = await readLeaseTable(file, 'uids', recovery);
    const entries = table === undefined ? [] : 'entries' in table ? table.entries : [...table.rebuilt];
    // Only an instance name holds a uid (as in leases.json): a "__proto__" or malformed entry holds nothing.
    for (const [name, uid] of entries) if (isDocumentName(name) && Number.isInteger(uid)) l.leases.set(name, uid as number);
    if (table && 'rebuilt' in table) {
      await l.save(l.leases);
      recovery!.recovered({ file, movedTo: table.movedTo, leases: l.leases.size });
    }
    return l;
  }

  /**
   * What reconcile() would lease for these instances, without saving: leases
   * inside the range stay; every other instance, in name order, gets the
   * lowest uid no one holds. Leases of instances not named are kept (deletion
   * releases them, once the server is gone).
   */
  preview(names: readonly string[]): { leases: Map<string, number>; conflicts: UidLeaseConflict[] } {
    const leases = new Map<string, number>();
    const held = new Set<number>();
    // A hand-edited file may name one uid twice: the first holder in name order keeps it.
    for (const [name, uid] of [...this.leases].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (uid < this.range.min || uid > this.range.max || held.has(uid)) continue;
      leases.set(name, uid);
      held.add(uid);
    }
    const conflicts: UidLeaseConflict[] = [];
    let next = this.range.min;
    for (const name of [...new Set(names)].sort()) {
      if (leases.has(name)) continue;
      while (next <= this.range.max && held.has(next)) next++;
      if (next > this.range.max) {
        conflicts.push({ name, message: `no free server uid left in ${this.range.min}-${this.range.max}; widen the controller's --uid-range` });
        continue;
      }
      leases.set(name, next);
      held.add(next);
    }
    // Out-of-range leases of instances that asked for nothing stay until deletion, as ports do.
    for (const [name, uid] of this.leases) if (!leases.has(name) && !names.includes(name) && !held.has(uid)) leases.set(name, uid);
    return { leases, conflicts };
  }

  /** Brings the leases in line with the instances this host runs; persists when anything changed. */
  reconcile(names: readonly string[]): Promise<UidLeaseConflict[]> {
    return this.changes.run(async () => {
      const { leases, conflicts } = this.preview(names);
      const changed = JSON.stringify(sorted(leases)) !== JSON.stringify(sorted(this.leases));
      // Saved first: a failed write (a full disk) leaves memory as the file is, so the next reconcile saves again.
      if (changed) await this.save(leases);
      this.leases = leases;
      return conflicts;
    });
  }


  protected async save(leases: ReadonlyMap<string, number>): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify({ uids: Object.fromEntries(sorted(leases)) }, null, 2)}\n`);
  }
}

function sorted(m: ReadonlyMap<string, number>): Array<[string, number]> {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
