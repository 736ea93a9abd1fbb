/**
 * What a backup holds and where it goes back: the host's documents, the
 * controller's configuration file, the status that decides how servers come
 * back (port and uid leases), the secrets (RCON passwords, webhook secrets,
 * Steam logins and git credentials) and the web's accounts and tokens. Not
 * builds, caches, the installation, logs, history rings or writable layers:
 * the controller rebuilds the first ones, and a server's data is carried on
 * its own (README). Every archive path starts with the name of the area it
 * came from (`state/…`, `data/secrets/rcon.json`, …), so restoring maps each
 * entry to exactly one place, and a name outside the areas is refused.
 */
import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open, opendir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFile } from '../fs/atomic.js';
import { ArchiveError, MAX_ENTRY_BYTES, type ArchiveEntry } from './archive.js';

/** The host's directories as this process reaches them (below --fs-root for a private host), and its account files. */
export interface BackupPaths {
  stateDir: string;
  dataDir: string;
  configDir: string;
  /** The controller's configuration file (`<configDir>/controller.yaml` unless the operator keeps it elsewhere). */
  configFile: string;
  webDataDir: string;
  /** The host's /etc/passwd and /etc/group: owners are kept by name. */
  passwdFile: string;
  groupFile: string;
  /** Accounts a restored file may belong to besides root (the controller's, the web's). */
  accounts: readonly string[];
  /** The web service's account: it owns the web data directory when restore creates it. */
  webAccount: string;
}

/** One area: a single file or a whole tree. */
interface Area {
  /** Archive path of the file or the tree's root directory. */
  name: string;
  tree: boolean;
  at(p: BackupPaths): string;
  /** Mode and owner of missing parent directories on restore (the controller and web tighten theirs on start). */
  parentMode: number;
  parentOwner?: 'web';
}

const AREAS: readonly Area[] = [
  { name: 'state', tree: true, at: (p) => p.stateDir, parentMode: 0o755 },
  { name: 'config/controller.yaml', tree: false, at: (p) => p.configFile, parentMode: 0o755 },
  { name: 'config/secrets', tree: true, at: (p) => join(p.configDir, 'secrets'), parentMode: 0o755 },
  { name: 'data/status/leases.json', tree: false, at: (p) => join(p.dataDir, 'status', 'leases.json'), parentMode: 0o755 },
  { name: 'data/status/uid-leases.json', tree: false, at: (p) => join(p.dataDir, 'status', 'uid-leases.json'), parentMode: 0o755 },
  { name: 'data/secrets/rcon.json', tree: false, at: (p) => join(p.dataDir, 'secrets', 'rcon.json'), parentMode: 0o700 },
  { name: 'data/secrets/webhooks', tree: true, at: (p) => join(p.dataDir, 'secrets', 'webhooks'), parentMode: 0o700 },
  { name: 'web/users.json', tree: false, at: (p) => join(p.webDataDir, 'users.json'), parentMode: 0o700, parentOwner: 'web' },
];

/** What the archive holds, in words, for README and messages. */
export const AREA_NAMES = AREAS.map((a) => a.name);

/** The area an archive path belongs to and where it lands, or undefined when it belongs to none. */
function placeOf(p: BackupPaths, path: string): { area: Area; target: string } | undefined {
  for (const area of AREAS) {
    if (path === area.name) return { area, target: area.at(p) };
    if (area.tree && path.startsWith(`${area.name}/`)) return { area, target: join(area.at(p), path.slice(area.name.length + 1)) };
  }
  return undefined;
}

/** name → id of an account file (`name:x:id:…`). */
async function accountIds(file: string): Promise<Map<string, number>> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id && /^\d+$/.test(id) && !out.has(name)) out.set(name, Number(id));
  }
  return out;
}

const invert = (m: Map<string, number>) => new Map([...m].map(([k, v]) => [v, k] as const).reverse());

/** Deepest tree walked: documents and credentials sit a few levels down. */
const MAX_DEPTH = 32;

/**
 * Collects the host's entries: every area that exists, trees walked without
 * following links. A link, device or fifo where a file should be is an
 * error naming it (a backup that silently lacks a file is worse than none).
 * Owners outside the allowed accounts are kept as root, and said so.
 */
export async function collectEntries(p: BackupPaths, warn: (line: string) => void = () => {}): Promise<ArchiveEntry[]> {
  const users = invert(await accountIds(p.passwdFile));
  const groups = invert(await accountIds(p.groupFile));
  const allowed = new Set(['root', ...p.accounts]);
  const nameOf = (ids: Map<number, string>, id: number, path: string) => {
    const n = ids.get(id) ?? 'root';
    if (allowed.has(n)) return n;
    warn(`${path}: owned by ${n} (${id}), kept as root`);
    return 'root';
  };
  const out: ArchiveEntry[] = [];
  const visit = async (host: string, path: string, depth: number, mustBe?: 'file' | 'dir'): Promise<void> => {
    let st;
    try {
      st = await lstat(host);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const base = { path, mode: st.mode & 0o777, owner: nameOf(users, st.uid, host), group: nameOf(groups, st.gid, host) };
    if (st.isDirectory() && mustBe !== 'file') {
      if (depth > MAX_DEPTH) throw new ArchiveError(`${host}: directories nest deeper than ${MAX_DEPTH} levels`);
      out.push({ ...base, type: 'dir' });
      const names: string[] = [];
      for await (const d of await opendir(host)) names.push(d.name);
      for (const n of names.sort()) await visit(join(host, n), `${path}/${n}`, depth + 1);
      return;
    }
    if (!st.isFile() || mustBe === 'dir') throw new ArchiveError(`${host} is ${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'not a regular file'}; a backup takes only files and directories there (move it away and back up again)`);
    const fh = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const now = await fh.stat();
      if (!now.isFile()) throw new ArchiveError(`${host} changed while it was read`);
      if (now.size > MAX_ENTRY_BYTES) throw new ArchiveError(`${host} is ${now.size} bytes, more than the ${MAX_ENTRY_BYTES} a backup entry may be`);
      out.push({ ...base, type: 'file', data: await fh.readFile() });
    } finally {
      await fh.close();
    }
  };
  for (const area of AREAS) await visit(area.at(p), area.name, 0, area.tree ? 'dir' : 'file');
  return out;
}

/**
 * Checks that every entry of a read archive belongs to an area and may be
 * owned as it says, before anything is written. Throws ArchiveError.
 */
export function checkPlaces(p: BackupPaths, entries: readonly ArchiveEntry[]): void {
  const allowed = new Set(['root', ...p.accounts]);
  for (const e of entries) {
    const place = placeOf(p, e.path);
    if (!place) throw new ArchiveError(`${JSON.stringify(e.path)} is no part of a left4me backup (${AREA_NAMES.join(', ')})`);
    if (place.area.tree ? e.path === place.area.name && e.type !== 'dir' : e.type !== 'file') throw new ArchiveError(`${JSON.stringify(e.path)} must be a ${place.area.tree && e.path === place.area.name ? 'directory' : 'file'}`);
    if (!allowed.has(e.owner) || !allowed.has(e.group)) throw new ArchiveError(`${JSON.stringify(e.path)} belongs to ${e.owner}:${e.group}; a restored file may belong only to ${[...allowed].join(', ')}`);
  }
}

/**
 * Whether a file holds nothing a restore could lose: no bytes, a JSON
 * object whose values are all empty (`{"leases": {}}`, as a controller
 * started on a fresh host writes), or YAML of comments only (the shipped
 * controller.yaml).
 */
function holdsNothing(path: string, data: Buffer): boolean {
  const text = data.toString('utf8').trim();
  if (text === '') return true;
  if (path.endsWith('.yaml') && text.split('\n').every((l) => l.trim() === '' || l.trim().startsWith('#'))) return true;
  if (!path.endsWith('.json')) return false;
  try {
    const v = JSON.parse(text) as unknown;
    const empty = (x: unknown) => typeof x === 'object' && x !== null && Object.keys(x).length === 0;
    return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(empty);
  } catch {
    return false;
  }
}

/**
 * The host's files a restore would replace: none on a fresh host.
 * Directories do not count (a fresh host has them), nor files that hold
 * nothing (holdsNothing: what install and a first controller start leave)
 * or already hold exactly the archive's bytes.
 */
export async function occupied(p: BackupPaths, incoming: readonly ArchiveEntry[] = []): Promise<string[]> {
  const same = new Map(incoming.filter((e) => e.type === 'file').map((e) => [e.path, e.data!] as const));
  return (await collectEntries(p))
    .filter((e) => e.type === 'file' && !holdsNothing(e.path, e.data!) && !same.get(e.path)?.equals(e.data!))
    .map((e) => e.path);
}

/** Removes everything of the areas on the host (after a copy was kept): trees' contents, single files. */
export async function clearAreas(p: BackupPaths): Promise<void> {
  for (const area of AREAS) {
    const at = area.at(p);
    if (!area.tree) {
      await rm(at, { force: true });
      continue;
    }
    let names: string[] = [];
    try {
      const st = await lstat(at);
      if (!st.isDirectory()) {
        await rm(at, { force: true });
        continue;
      }
      for await (const d of await opendir(at)) names.push(d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    for (const n of names) await rm(join(at, n), { recursive: true, force: true });
  }
}

/** Creates a directory that must be one (never through a link) and sets its mode and owner. */
async function ensureDir(path: string, mode: number, owner: { uid: number; gid: number }): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  const st = await lstat(path);
  if (!st.isDirectory()) throw new ArchiveError(`${path} is not a directory; refusing to restore through it`);
  await lchown(path, owner.uid, owner.gid);
  await chmod(path, mode);
}

/**
 * Writes the entries onto the host: directories first (parents before
 * children), then files, each atomically with its mode and owner set before
 * it gets its name; the documents last, so a running controller sees the
 * leases and passwords before the instances that use them. Owners are
 * resolved by name on this host; one it lacks (no web account here) becomes
 * root, which only narrows who may read.
 */
export async function writeEntries(p: BackupPaths, entries: readonly ArchiveEntry[]): Promise<void> {
  checkPlaces(p, entries);
  const users = await accountIds(p.passwdFile);
  const groups = await accountIds(p.groupFile);
  const idsOf = (e: { owner: string; group: string }) => ({ uid: users.get(e.owner) ?? 0, gid: groups.get(e.group) ?? 0 });
  const webIds = idsOf({ owner: p.webAccount, group: p.webAccount });
  // Parents of each area that holds something, as a fresh host would have them.
  for (const area of AREAS) {
    if (!entries.some((e) => e.path === area.name || e.path.startsWith(`${area.name}/`))) continue;
    const at = area.at(p);
    await ensureDir(join(at, '..'), area.parentMode, area.parentOwner === 'web' ? webIds : { uid: 0, gid: 0 });
  }
  const dirs = entries.filter((e) => e.type === 'dir').sort((a, b) => a.path.split('/').length - b.path.split('/').length);
  for (const d of dirs) await ensureDir(placeOf(p, d.path)!.target, d.mode, idsOf(d));
  const files = entries.filter((e) => e.type === 'file');
  const ordered = [...files.filter((f) => !f.path.startsWith('state/')), ...files.filter((f) => f.path.startsWith('state/'))];
  for (const f of ordered) await writeFileExact(placeOf(p, f.path)!.target, f.data!, f.mode, idsOf(f));
}

/**
 * Writes a file atomically with exactly this mode and owner, set through the
 * temp file's descriptor (the umask cannot change the mode, and the name never
 * shows other permissions): the temp file starts 0600.
 */
async function writeFileExact(path: string, data: Buffer, mode: number, owner: { uid: number; gid: number }): Promise<void> {
  await replaceFile(path, 0o600, async (fh) => {
    await fh.writeFile(data);
    await fh.chown(owner.uid, owner.gid);
    await fh.chmod(mode);
  });
}
