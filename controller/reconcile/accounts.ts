import { chmod, lchown, lstat, mkdir, readFile, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { onHost, type ControllerConfig } from '../config.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { LeaseRecovery } from '../status/leases.js';
import { UidLeases, type UidLeaseConflict } from '../status/uid-leases.js';
import { nssReadsUserdb, renderUserRecord, serverAccountName, uidOfRecordFile, uidRangeClashes, uidRangeProblem, USERDB_DIR } from '../systemd/server-accounts.js';
import { instancePaths } from '../systemd/units.js';
import { Serial } from '../serial.js';

/**
 * The game servers' accounts on this host: the uid leases
 * (`<statusDir>/uid-leases.json`), the user records in /etc/userdb that make
 * them known to systemd, and the ownership of each writable layer. Reads the
 * host's account files; writes only records named `left4me-<uid>.user` and
 * their `<uid>.user` aliases.
 */
export class ServerAccounts {
  private leases?: UidLeases;
  /** reconcile() and release() with their records, one at a time (Serial says why). */
  private readonly changes = new Serial();
  private gid?: number;
  private webGid?: number;

  constructor(
    private readonly cfg: ControllerConfig,
    /** Where a lost uid lease file is rebuilt from the host; none: such a file is an error. */
    private readonly recovery?: LeaseRecovery<number>,
  ) {}

  private host(path: string): string {
    return onHost(this.cfg, path);
  }

  /**
   * For the running controller: refuses a range that systemd reserves or that
   * an account, subordinate range or login.defs allocation of this host uses
   * (so no server uid can be the build account's), then loads the leases and
   * writes their records.
   */
  async open(): Promise<void> {
    const range = this.cfg.uidRange;
    const problem = uidRangeProblem(range, this.cfg.portRanges.game);
    if (problem) throw new Error(`server uid range ${problem}; set the controller's --uid-range`);
    const read = (p: string) => readFile(this.host(p), 'utf8').catch(() => undefined);
    const clashes = uidRangeClashes(range, { passwd: (await read('/etc/passwd')) ?? '', loginDefs: await read('/etc/login.defs'), subuid: await read('/etc/subuid') });
    if (clashes.length > 0) {
      throw new Error(`server uid range ${range.min}-${range.max} is already in use on this host: ${clashes.join('; ')}; choose a free range with the controller's --uid-range`);
    }
    if (!nssReadsUserdb((await read('/etc/nsswitch.conf')) ?? '')) {
      throw new Error("game servers run as uids known only to user records in /etc/userdb, which this host's NSS does not read: install libnss-systemd and put `systemd` on the passwd: and group: lines of /etc/nsswitch.conf");
    }
    await this.groupId();
    await this.load(true);
    await this.publish();
  }

  /** Loads the lease file without touching the host (`left4me diff`); only the controller's start (`recover`) rebuilds a lost one. */
  async load(recover = false): Promise<UidLeases> {
    this.leases ??= await UidLeases.open(join(this.host(this.cfg.units.layout.statusDir), 'uid-leases.json'), this.cfg.uidRange, recover ? this.recovery : undefined);
    return this.leases;
  }

  /** Every uid lease, by instance name. */
  all(): ReadonlyMap<string, number> {
    return this.leases?.all() ?? new Map();
  }

  /** Leases uids for the instances this host runs; rewrites the records when a lease changed. */
  reconcile(names: readonly string[]): Promise<UidLeaseConflict[]> {
    // One change and its records at a time: a publish from an older table would remove a record just written.
    return this.changes.run(async () => {
      const leases = await this.load();
      const before = JSON.stringify([...leases.all()]);
      const conflicts = await leases.reconcile(names);
      if (JSON.stringify([...leases.all()]) !== before) await this.publish();
      return conflicts;
    });
  }

  /** Releases an instance's uid and removes its record (its server is gone). */
  release(name: string): Promise<void> {
    return this.changes.run(async () => {
      const leases = await this.load();
      if (leases.get(name) === undefined) return;
      await leases.release(name);
      await this.publish();
    });
  }

  /**
   * Makes upper/ and work/ exist and belong to the uid: upper/ `2751
   * <uid>:<web group>` (setgid, so what the server writes inherits the web
   * group: with the server's UMask=0027 the web service reads it, and other
   * servers, outside that group, do not), work/ `0750 <uid>:<game group>`.
   * upper/ is the merged root, where systemd resolves ExecStart= as root in
   * the unit's user namespace (PrivateUsers=), and that root has no
   * DAC override over a directory of an unmapped group (the web group is
   * not mapped there): hence o+x, search without listing, on that one
   * directory. Created so, or, when the top belongs to someone else (today's
   * shared `left4me` account, or an earlier lease), re-owned depth first,
   * top last, so a crash midway is finished by the next start. Entries root
   * owns (copied-up lower files) stay root's. No link is followed (lchown,
   * lstat). With `createOnly`, an existing layer is left as it is: its
   * server may be running. A host without the web group keeps upper/ in the
   * game group.
   * TODO(issue 8 item 2): walk with the shared no-follow tree helper.
   */
  async ownWritableLayer(instance: string, uid: number, opts: { createOnly?: boolean } = {}): Promise<void> {
    const gameGid = await this.groupId();
    const webGid = (await this.webGroupId()) ?? gameGid;
    const paths = instancePaths(instance, this.cfg.units.layout);
    const layers = [
      { d: paths.upperDir, gid: webGid, mode: 0o2751 },
      { d: paths.workDir, gid: gameGid, mode: 0o750 },
    ];
    // The instance's own directory stays searchable: the web account passes through it to upper/.
    await mkdir(this.host(paths.dir), { recursive: true, mode: 0o755 });
    for (const { d, gid, mode } of layers) {
      const dir = this.host(d);
      const created = await mkdir(dir, { recursive: true, mode: 0o750 });
      if (opts.createOnly && created === undefined) continue;
      const st = await lstat(dir);
      if (!st.isDirectory()) throw new Error(`${d} is not a directory; move it away and the controller recreates it`);
      if (st.uid === uid && st.gid === gid && (st.mode & 0o7777) === mode) continue;
      if (st.uid !== uid) await reownTree(dir, uid, gid);
      await lchown(dir, uid, gid);
      // After the chown: the mode (with its setgid bit) is what the directory keeps.
      await chmod(dir, mode);
    }
  }

  /** The web group's gid from the host's /etc/group (it reads writable layers), or undefined on a host without the web service. */
  async webGroupId(): Promise<number | undefined> {
    if (this.webGid !== undefined) return this.webGid;
    const name = this.cfg.units.layout.webGroup;
    const line = (await readFile(this.host('/etc/group'), 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
    // Not remembered when missing: the web service may be installed while the controller runs.
    return line ? (this.webGid = Number(line.split(':')[2])) : undefined;
  }

  /** The game group's gid from the host's /etc/group: every server's primary group, and the group that reads config layers. */
  async groupId(): Promise<number> {
    if (this.gid !== undefined) return this.gid;
    const name = this.cfg.units.layout.group;
    const line = (await readFile(this.host('/etc/group'), 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
    if (!line) throw new Error(`group ${name} does not exist on this host; create it (see deploy/)`);
    return (this.gid = Number(line.split(':')[2]));
  }

  /** Writes one record (and its uid alias) per lease and removes records of ours no lease names. */
  private async publish(): Promise<void> {
    const dir = this.host(USERDB_DIR);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const gid = await this.groupId();
    const wanted = new Map<number, string>();
    for (const [name, uid] of this.all()) wanted.set(uid, renderUserRecord(uid, gid, name, instancePaths(name, this.cfg.units.layout).runtimeDir));
    for (const file of await readdir(dir)) {
      const uid = uidOfRecordFile(file);
      if (uid === undefined || wanted.has(uid) || !(await this.isOurs(dir, file, uid))) continue;
      await rm(join(dir, file), { force: true });
    }
    for (const [uid, text] of wanted) {
      const record = join(dir, `${serverAccountName(uid)}.user`);
      if ((await readFile(record, 'utf8').catch(() => undefined)) !== text) await writeFileAtomic(record, text);
      const alias = join(dir, `${uid}.user`);
      if ((await readlink(alias).catch(() => undefined)) !== `${serverAccountName(uid)}.user`) {
        // userdb(5) finds a record by uid through a symlink named after it; swapped in atomically.
        const tmp = join(dir, `.${uid}.user.tmp`);
        await rm(tmp, { force: true });
        await symlink(`${serverAccountName(uid)}.user`, tmp);
        await rename(tmp, alias);
      }
    }
  }

  /** Only our records go: `left4me-<uid>.user`, and `<uid>.user` links to one. */
  private async isOurs(dir: string, file: string, uid: number): Promise<boolean> {
    if (file === `${serverAccountName(uid)}.user`) return true;
    return (await readlink(join(dir, file)).catch(() => undefined)) === `${serverAccountName(uid)}.user`;
  }
}

/** Re-owns everything below `dir` that root does not own, children before their parents. */
async function reownTree(dir: string, uid: number, gid: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    if (st.isDirectory()) await reownTree(path, uid, gid);
    if (st.uid !== 0 && (st.uid !== uid || st.gid !== gid)) await lchown(path, uid, gid);
  }
}
