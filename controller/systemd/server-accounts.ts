/**
 * Each game server's own account: a uid leased from an operator range,
 * named by a systemd user record and set by a drop-in of the server's unit.
 * Pure: ranges, texts and checks in, verdicts and file contents out.
 *
 * Why records at all: systemd 252 refuses `User=<uid>` when no user database
 * entry has that uid (status 217/USER, checked in a private host). A JSON
 * record in /etc/userdb is such an entry (nss-systemd reads it; Debian ships
 * `passwd: files systemd`), needs no edit of /etc/passwd, and persists across
 * reboots so enabled servers start before the controller does.
 */
import type { UidRange } from '../status/uid-leases.js';
import { MANAGED_HEADER, SERVER_TEMPLATE_UNIT, serverUnitName } from './units.js';

/** Where systemd's NSS module reads drop-in user records (userdb(5)); persistent, unlike /run/userdb. */
export const USERDB_DIR = '/etc/userdb';
/** File name of the drop-in that sets an instance's User=. */
export const USER_DROP_IN = '10-user.conf';

const ACCOUNT_PREFIX = 'left4me-';

/** Uids a server may never have: [first, last, who uses them] (systemd's UIDS-GIDS.md). */
const RESERVED_UIDS: ReadonlyArray<readonly [number, number, string]> = [
  [0, 65535, 'the 16-bit uids (system and regular accounts, DynamicUser=, nobody)'],
  [524288, 1879048191, "systemd-nspawn's container uid ranges"],
  [2147352576, 2147418111, "systemd's foreign-image uid range"],
  [2147483648, 4294967295, 'uids of 2^31 and above, which many programs take for negative numbers'],
];

/** The account name of a server uid, e.g. `left4me-1879048192`. */
export function serverAccountName(uid: number): string {
  return `${ACCOUNT_PREFIX}${uid}`;
}

/** The uid a record file of ours names (`left4me-<uid>.user` or the `<uid>.user` alias), or undefined. */
export function uidOfRecordFile(file: string): number | undefined {
  const m = /^(?:left4me-)?([1-9][0-9]{0,9})\.user$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** Why a uid range cannot hold game servers, whatever the host (undefined when it can). */
export function uidRangeProblem(range: UidRange, gamePorts?: { min: number; max: number }): string | undefined {
  const { min, max } = range;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min > max) return `${min}-${max} is not a range of uids (low first)`;
  for (const [first, last, what] of RESERVED_UIDS) {
    if (min <= last && first <= max) return `${min}-${max} overlaps ${what} (${first}-${last}); the default is 1879048192-1879113727`;
  }
  if (gamePorts && max - min < gamePorts.max - gamePorts.min) {
    return `${min}-${max} holds ${max - min + 1} uids, fewer than the ${gamePorts.max - gamePorts.min + 1} game ports; every server needs its own`;
  }
  return undefined;
}

/** The host's account files, as text (a missing file is undefined). */
export interface HostAccountFiles {
  passwd: string;
  loginDefs?: string;
  subuid?: string;
}

/**
 * What on this host already uses uids of the range: accounts in /etc/passwd
 * (the game and build accounts among them), subordinate ranges of rootless
 * containers in /etc/subuid, and the allocation ranges of /etc/login.defs.
 */
export function uidRangeClashes(range: UidRange, files: HostAccountFiles): string[] {
  const inRange = (a: number, b: number) => a <= range.max && range.min <= b;
  const out: string[] = [];
  for (const line of files.passwd.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined && /^\d+$/.test(uid) && inRange(Number(uid), Number(uid))) out.push(`uid ${uid} of account ${name} (/etc/passwd)`);
  }
  for (const line of (files.subuid ?? '').split('\n')) {
    const [owner, start, count] = line.split(':');
    if (!owner || !/^\d+$/.test(start ?? '') || !/^\d+$/.test(count ?? '')) continue;
    const first = Number(start);
    const last = first + Number(count) - 1;
    if (inRange(first, last)) out.push(`subordinate uids ${first}-${last} of ${owner} (/etc/subuid)`);
  }
  const defs = new Map<string, number>();
  for (const line of (files.loginDefs ?? '').split('\n')) {
    const m = /^\s*([A-Z_]+)\s+(\d+)\s*$/.exec(line);
    if (m) defs.set(m[1]!, Number(m[2]));
  }
  for (const [prefix, what] of [['UID', 'regular accounts'], ['SYS_UID', 'system accounts'], ['SUB_UID', 'subordinate uids']] as const) {
    const first = defs.get(`${prefix}_MIN`);
    const last = defs.get(`${prefix}_MAX`);
    if (first !== undefined && last !== undefined && inRange(first, last)) out.push(`${prefix}_MIN-${prefix}_MAX ${first}-${last}, where /etc/login.defs allocates ${what}`);
  }
  return out;
}

/** Whether an nsswitch.conf lets glibc (and so systemd) find users in /etc/userdb: `systemd` on its passwd line. */
export function nssReadsUserdb(nsswitch: string): boolean {
  return nsswitch.split('\n').some((l) => /^passwd:\s.*\bsystemd\b/.test(l.replace(/#.*/, '')));
}

/**
 * The user record (JSON, userdb(5)) of one server uid: its primary group is
 * the game group, so it reads its config layer, and it has no login. Named by
 * uid, so a lease moving to another instance rewrites one file.
 */
export function renderUserRecord(uid: number, gid: number, instance: string, home: string): string {
  const record = {
    userName: serverAccountName(uid),
    uid,
    gid,
    realName: `left4me game server ${instance}`,
    homeDirectory: home,
    shell: '/usr/sbin/nologin',
    disposition: 'system',
  };
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** Where an instance's User= drop-in lives under unitDir. Pure. */
export function userDropInPath(unitDir: string, instance: string): string {
  return `${unitDir}/${serverUnitName(instance)}.d/${USER_DROP_IN}`;
}

/**
 * The drop-in that makes an instance's server run as its leased uid: path
 * under unitDir, and text. `templateStamp` (serverTemplateStamp()) names the
 * template it runs under, so that a new template changes this file. Pure.
 */
export function renderUserDropIn(unitDir: string, instance: string, uid: number, templateStamp?: string): { path: string; text: string } {
  if (!Number.isInteger(uid) || uid < 1) throw new Error(`instance ${instance}: ${uid} is not a server uid`);
  if (templateStamp !== undefined && !/^[a-z]+ sha256:[0-9a-f]{16}$/.test(templateStamp)) throw new Error(`instance ${instance}: ${JSON.stringify(templateStamp)} is not a template stamp`);
  return {
    path: userDropInPath(unitDir, instance),
    text: [
      MANAGED_HEADER,
      '',
      ...(templateStamp === undefined
        ? []
        : [
            `# Runs under ${SERVER_TEMPLATE_UNIT} ${templateStamp}: a new template (another --server-sandbox,`,
            "# a new left4me) changes this file, and the instance's update policy restarts it onto that template.",
            '',
          ]),
      '[Service]',
      '# This instance alone runs as this uid: no other server and no build can signal it.',
      `User=${uid}`,
      '',
    ].join('\n'),
  };
}
