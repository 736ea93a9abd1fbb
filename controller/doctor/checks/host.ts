/**
 * Checks of what left4me's own installation put on the host: its accounts
 * (deploy/left4me.sysusers.conf), its directories with their owners and
 * modes (deploy/left4me.tmpfiles.conf, read as shipped so the two never
 * drift apart) and the free space under the data directory.
 */
import type { HostLayout } from '../../host/layout.js';
import { result, worst, type CheckResult, type CheckStatus } from '../check.js';
import type { HostProbe } from '../probe.js';

/** Name → id of the host's accounts or groups, from /etc/passwd or /etc/group. */
async function idsOf(probe: HostProbe, file: '/etc/passwd' | '/etc/group'): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const line of ((await probe.read(file)) ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id)) ids.set(name, Number(id));
  }
  return ids;
}

const SYSUSERS_FIX = 'cp deploy/left4me.sysusers.conf /etc/sysusers.d/left4me.conf && systemd-sysusers';

/** The accounts left4me runs things as, each with its own group. */
export async function checkAccounts(probe: HostProbe, layout: HostLayout): Promise<CheckResult> {
  const title = 'accounts';
  const users = await idsOf(probe, '/etc/passwd');
  const groups = await idsOf(probe, '/etc/group');
  const missing: string[] = [];
  for (const [user, group] of [[layout.user, layout.group], [layout.buildUser, layout.buildGroup], [layout.webUser, layout.webGroup]] as const) {
    if (!users.has(user)) missing.push(`user ${user}`);
    if (!groups.has(group)) missing.push(`group ${group}`);
  }
  if (missing.length > 0) return result('accounts', title, 'problem', `missing: ${missing.join(', ')}`, SYSUSERS_FIX);
  return result('accounts', title, 'ok', [layout.user, layout.buildUser, layout.webUser].map((u) => `${u} (${users.get(u)})`).join(', '));
}

/** One `d` line of a tmpfiles.d file: the directory, its mode, owner and group. */
export interface DirectorySpec {
  path: string;
  mode: number;
  user: string;
  group: string;
}

/**
 * The directories a tmpfiles.d text creates (`d` and `D` lines; ACL and
 * other lines are left out), with `%m` as the machine id and the default
 * data directory moved to `dataDir`.
 */
export function tmpfilesDirectories(text: string, machineId: string, dataDir: string): DirectorySpec[] {
  const specs: DirectorySpec[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [type, path, mode, user, group] = line.split(/\s+/);
    if ((type !== 'd' && type !== 'D') || !path || !mode || !/^[0-7]{3,4}$/.test(mode)) continue;
    let p = path.replace(/%m/g, machineId);
    if (p === '/var/lib/left4me' || p.startsWith('/var/lib/left4me/')) p = dataDir + p.slice('/var/lib/left4me'.length);
    specs.push({ path: p, mode: parseInt(mode, 8), user: !user || user === '-' ? 'root' : user, group: !group || group === '-' ? 'root' : group });
  }
  return specs;
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');

/** Every directory of the tmpfiles layout exists with its owner, group and mode. */
export async function checkDirectories(probe: HostProbe, layout: HostLayout, tmpfilesText: string): Promise<CheckResult> {
  const title = 'directories';
  const fix = 'cp deploy/left4me.tmpfiles.conf /etc/tmpfiles.d/left4me.conf && systemd-tmpfiles --create /etc/tmpfiles.d/left4me.conf';
  const machineId = (await probe.read('/etc/machine-id'))?.trim() || '%m';
  const specs = tmpfilesDirectories(tmpfilesText, machineId, layout.dataDir);
  const users = await idsOf(probe, '/etc/passwd');
  const groups = await idsOf(probe, '/etc/group');
  const findings: Array<{ status: CheckStatus; text: string }> = [];
  const absent: string[] = [];
  for (const spec of specs) {
    // Below a missing directory everything is missing too: name the top one only.
    if (absent.some((a) => spec.path.startsWith(`${a}/`))) continue;
    const s = await probe.stat(spec.path);
    if (!s || !s.isDirectory) {
      absent.push(spec.path);
      findings.push({ status: 'problem', text: `${spec.path} ${s ? 'is not a directory' : 'is missing'}` });
      continue;
    }
    const uid = users.get(spec.user);
    const gid = groups.get(spec.group);
    // A wrong owner or group locks someone out (the web service, a build); a wrong mode mostly widens or narrows reading.
    if (uid !== s.uid || gid !== s.gid) findings.push({ status: 'problem', text: `${spec.path} is owned by ${s.uid}:${s.gid}, not ${spec.user}:${spec.group}` });
    else if (s.mode !== spec.mode) findings.push({ status: 'warning', text: `${spec.path} has mode ${octal(s.mode)}, not ${octal(spec.mode)}` });
  }
  if (findings.length === 0) return result('directories', title, 'ok', `${specs.length} directories with their owners and modes`);
  const shown = findings.slice(0, 6).map((f) => f.text);
  if (findings.length > shown.length) shown.push(`and ${findings.length - shown.length} more`);
  return result('directories', title, worst(...findings.map((f) => f.status)), shown.join('; '), fix);
}

/** Free space below which the data directory is a warning (an L4D2 installation alone is about 13 GB) and a problem. */
export interface DiskThresholds {
  warningBytes: number;
  problemBytes: number;
}

export const DEFAULT_DISK_THRESHOLDS: DiskThresholds = { warningBytes: 10 * 2 ** 30, problemBytes: 2 * 2 ** 30 };

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Free space on the file system holding the data directory (installation, builds, writable layers). */
export async function checkDisk(probe: HostProbe, layout: HostLayout, thresholds: DiskThresholds = DEFAULT_DISK_THRESHOLDS): Promise<CheckResult> {
  const title = 'free disk';
  const free = await probe.freeBytes(layout.dataDir);
  const fix = `free space on the file system of ${layout.dataDir}, or move it (--data-dir) to a larger one: the game alone is about 13 GB, and every overlay build and server's writable layer adds to it`;
  if (free < thresholds.problemBytes) return result('disk', title, 'problem', `${gib(free)} free under ${layout.dataDir} (less than ${gib(thresholds.problemBytes)})`, fix);
  if (free < thresholds.warningBytes) return result('disk', title, 'warning', `${gib(free)} free under ${layout.dataDir} (less than ${gib(thresholds.warningBytes)})`, fix);
  return result('disk', title, 'ok', `${gib(free)} free under ${layout.dataDir}`);
}
