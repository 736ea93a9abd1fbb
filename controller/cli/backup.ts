import { lstat, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { loadControllerConfigFile } from '../config-file.js';
import { formatProblem } from '../documents/problems.js';
import { ArchiveError, readArchive, writeArchive } from '../backup/archive.js';
import { checkPlaces, clearAreas, collectEntries, occupied, writeEntries, type BackupPaths } from '../backup/backup.js';
import { DEFAULT_CONFIG_DIR, DEFAULT_DATA_DIR, hostLayout, onHostPath } from '../host/layout.js';
import { DEFAULT_WEB_DATA_DIR } from '../web/users.js';
import { DEFAULT_STATE_DIR, parse, UsageError } from './args.js';
import type { Io } from './io.js';

const OPTIONS = {
  'config-dir': { type: 'string' },
  'web-data-dir': { type: 'string' },
  'fs-root': { type: 'string' },
  config: { type: 'string' },
  force: { type: 'boolean' },
} as const;

type Values = { state?: string; 'data-dir'?: string; 'config-dir'?: string; 'web-data-dir'?: string; 'fs-root'?: string; config?: string; demo?: boolean };

/**
 * The host's directories as this process reaches them, and its controller.yaml.
 * --data-dir, --config-dir and --web-data-dir are host paths, reached below
 * --fs-root; --state is where this process reaches the documents (as for the
 * controller). Without a flag, the controller.yaml's stateDir, dataDir and
 * configDir (host paths) apply, then the defaults: the backup finds the
 * directories where the controller keeps them. The file itself is
 * `<configDir>/controller.yaml`, or `--config FILE`.
 */
async function backupPaths(values: Values, io: Io): Promise<BackupPaths | undefined> {
  if (values.demo) throw new UsageError('backup takes the host by --fs-root and the directory options, not --demo');
  const fsRoot = values['fs-root'] ?? '/';
  for (const [flag, v] of [['--data-dir', values['data-dir']], ['--config-dir', values['config-dir']], ['--web-data-dir', values['web-data-dir']], ['--fs-root', fsRoot]] as const) {
    if (v !== undefined && !v.startsWith('/')) throw new UsageError(`${flag} must be an absolute path`);
  }
  const on = (path: string) => onHostPath(fsRoot, path);
  const configFile = values.config !== undefined ? resolve(values.config) : on(join(values['config-dir'] ?? DEFAULT_CONFIG_DIR, 'controller.yaml'));
  const file = await loadControllerConfigFile(configFile, { optional: values.config === undefined, owner: process.getuid?.() });
  if (file.problems.length > 0) {
    for (const p of file.problems) io.err(`${formatProblem(p)}\n`);
    io.err(`left4me backup: ${configFile} has problems; it names the directories to back up (check it with \`left4me config check\`)\n`);
    return undefined;
  }
  const settings = file.options.settings;
  const layout = hostLayout();
  return {
    stateDir: values.state !== undefined ? resolve(values.state) : on(settings.stateDir ?? DEFAULT_STATE_DIR),
    dataDir: on(values['data-dir'] ?? settings.dataDir ?? DEFAULT_DATA_DIR),
    configDir: on(values['config-dir'] ?? settings.configDir ?? DEFAULT_CONFIG_DIR),
    configFile,
    webDataDir: on(values['web-data-dir'] ?? DEFAULT_WEB_DATA_DIR),
    passwdFile: on('/etc/passwd'),
    groupFile: on('/etc/group'),
    accounts: [layout.user, layout.webUser],
    webAccount: layout.webUser,
  };
}

const inside = (path: string, dir: string) => {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith('..') && !r.startsWith('/'));
};

/**
 * Refuses a place for the archive that would give it away: a directory
 * others may write without the sticky bit (anyone could replace the archive
 * once written), or one of the trees it backs up. A world-readable directory
 * is fine: the archive itself is 0600.
 */
async function checkDestination(file: string, p: BackupPaths): Promise<void> {
  const dir = dirname(file);
  let st;
  try {
    st = await lstat(dir);
  } catch {
    throw new UsageError(`${dir} does not exist; create it (root-only) first`);
  }
  if (!st.isDirectory()) throw new UsageError(`${dir} is not a directory`);
  if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) throw new UsageError(`${dir} is writable by everyone without the sticky bit: anyone could replace the backup there; choose a root-only directory`);
  for (const tree of [p.stateDir, join(p.configDir, 'secrets'), join(p.dataDir, 'secrets')]) {
    if (inside(file, tree)) throw new UsageError(`${file} lies inside ${tree}, which the backup itself holds; write it elsewhere`);
  }
}

/**
 * `left4me backup create FILE` and `left4me backup restore FILE [--force]`:
 * the host's documents, leases, secrets and web accounts, into one archive
 * and back onto a fresh host (see backup/backup.ts for what is in it).
 */
export async function backupCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS);
  const [action, file, ...rest] = positionals;
  if (rest.length > 0 || !file || (action !== 'create' && action !== 'restore')) throw new UsageError('backup takes: create FILE | restore FILE [--force]');
  const p = await backupPaths(values, io);
  if (!p) return 1;
  const path = resolve(file);
  try {
    if (action === 'create') {
      if (values.force) throw new UsageError('--force is for restore');
      await checkDestination(path, p);
      const entries = await collectEntries(p, (line) => io.err(`left4me backup: ${line}\n`));
      const manifest = await writeArchive(path, { created: new Date().toISOString(), node: hostname() }, entries);
      const files = manifest.entries.filter((e) => e.type === 'file');
      if (!files.some((e) => e.path.startsWith('state/'))) io.err(`left4me backup: warning: no documents in ${p.stateDir}\n`);
      io.out(`wrote ${path}: ${files.length} files (${files.reduce((n, e) => n + (e.size ?? 0), 0)} bytes)\n`);
      io.out('it holds secrets (RCON passwords, webhook secrets, Steam logins, git credentials, password hashes): it is 0600; keep it root-only\n');
      return 0;
    }
    // Everything is read and checked before anything on the host changes.
    const { manifest, entries } = await readArchive(path);
    checkPlaces(p, entries);
    const present = await occupied(p, entries);
    if (present.length > 0) {
      if (!values.force) {
        io.err(`left4me backup: this host is not empty (${present.slice(0, 5).join(', ')}${present.length > 5 ? `, and ${present.length - 5} more` : ''}); restore onto a fresh host, or give --force to replace them (a copy is kept)\n`);
        return 1;
      }
      const keep = join(p.dataDir, 'backups');
      await mkdir(keep, { recursive: true, mode: 0o700 });
      const copy = join(keep, `replaced-${new Date().toISOString().replace(/[:.]/g, '-')}.tar`);
      await writeArchive(copy, { created: new Date().toISOString(), node: hostname() }, await collectEntries(p, (line) => io.err(`left4me backup: ${line}\n`)));
      io.out(`kept what this restore replaces in ${copy} (restore it with left4me backup restore --force)\n`);
      await clearAreas(p);
    }
    await writeEntries(p, entries);
    const files = manifest.entries.filter((e) => e.type === 'file');
    io.out(`restored ${files.length} files from the backup of ${manifest.node} made ${manifest.created}\n`);
    io.out('next: start the controller (systemctl start left4me-controller); servers come back on their leased ports with their RCON passwords\n');
    return 0;
  } catch (err) {
    if (!(err instanceof ArchiveError)) throw err;
    io.err(`left4me backup: ${err.message}\n`);
    return 1;
  }
}
