// The private host's /etc is an overlay, so its account files can differ from
// the machine's: they gain the unprivileged `left4me` system user and group
// that game-server units name in `User=`, `left4me-build` that build
// sandboxes run as, and `left4me-web` that the web service runs as, without touching the machine's files.
import { readFileSync, statSync } from 'node:fs';

/** The system account the product's units run as. */
export interface ServiceAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** A file the private /etc should hold instead of the machine's copy. */
export interface AccountFile {
  /** Name under /etc, e.g. `passwd`. */
  name: string;
  content: string;
  mode: number;
  uid: number;
  gid: number;
}

const NOLOGIN_CANDIDATES = ['/usr/sbin/nologin', '/sbin/nologin'];

/** Reads the machine's /etc/passwd and /etc/group; returns the left4me account, reusing its ids if the machine has one, else a system id free as both uid and gid. */
export function planServiceAccount(name = 'left4me', home = '/var/lib/left4me', taken: readonly ServiceAccount[] = []): ServiceAccount {
  const passwd = parseColonFile(readFileSync('/etc/passwd', 'utf8'));
  const group = parseColonFile(readFileSync('/etc/group', 'utf8'));
  const shell = NOLOGIN_CANDIDATES.find(exists) ?? '/usr/sbin/nologin';
  const existingUser = passwd.find((f) => f[0] === name);
  const existingGroup = group.find((f) => f[0] === name);
  if (existingUser && existingGroup) {
    return { name, uid: Number(existingUser[2]), gid: Number(existingGroup[2]), home, shell };
  }
  const usedUids = new Set([...passwd.map((f) => Number(f[2])), ...taken.map((a) => a.uid)]);
  const usedGids = new Set([...group.map((f) => Number(f[2])), ...taken.map((a) => a.gid)]);
  // Debian allocates system ids upwards from 100, so search down from the top of the range.
  for (let id = 999; id >= 100; id--) {
    if (!usedUids.has(id) && !usedGids.has(id)) return { name, uid: id, gid: id, home, shell };
  }
  throw new Error('no system uid/gid between 100 and 999 is free on this machine for the left4me test account');
}

/** Reads the machine's account files; returns their private copies with the accounts appended (files the machine lacks are skipped). */
export function accountFiles(...accounts: ServiceAccount[]): AccountFile[] {
  const lines: Record<string, string[]> = { passwd: [], group: [], shadow: [], gshadow: [] };
  for (const account of accounts) {
    lines.passwd!.push(`${account.name}:x:${account.uid}:${account.gid}:${account.name}:${account.home}:${account.shell}`);
    lines.group!.push(`${account.name}:x:${account.gid}:`);
    lines.shadow!.push(`${account.name}:!*:19000::::::`);
    lines.gshadow!.push(`${account.name}:!::`);
  }
  const files: AccountFile[] = [];
  for (const [name, added] of Object.entries(lines)) {
    const path = `/etc/${name}`;
    let content: string;
    let st;
    try {
      content = readFileSync(path, 'utf8');
      st = statSync(path);
    } catch {
      continue;
    }
    const present = new Set(parseColonFile(content).map((f) => f[0]));
    for (const line of added) {
      if (present.has(line.split(':')[0]!)) continue;
      content = (content.endsWith('\n') || content === '' ? content : content + '\n') + line + '\n';
    }
    files.push({ name, content, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  }
  return files;
}

function parseColonFile(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
