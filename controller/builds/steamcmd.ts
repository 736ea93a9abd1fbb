/**
 * One concern: running steamcmd for an installation.
 *
 * Installing and updating the game (Steam app 222860) with steamcmd in the
 * build sandbox: a transient oneshot unit in the build slice with public
 * internet only, logging in from the root-only secrets file, optionally the
 * windows-then-linux workaround, then the `~/.steam/sdk32|sdk64` links
 * srcds needs inside the installation. steamcmd's output is parsed line by
 * line into progress callbacks and a clear error.
 *
 * Anonymous download of 222860 stopped working in November 2024, so every
 * run logs in. The password reaches steamcmd through a runscript file
 * (`+runscript`), never its command line.
 */
import { onHostPath } from '../host/layout.js';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, readlink, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { UnsafePathError, withDirBeneath } from '../fs/beneath.js';
import { removeEntry } from '../fs/remove-tree.js';
import type { InstallationSpec, Metadata } from '../documents/kinds.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { defaultUnitConfig } from '../systemd/units.js';
import { SANDBOX_INSTALL_DIR, SANDBOX_LOGIN_FILE, SANDBOX_STEAM_HOME, steamcmdUnitProperties } from './sandbox.js';
import { createRunDir, handTreeTo, lookupAccount, reclaimTree, removeRunDir, runSandboxedUnit, sandboxEnvironment, type SandboxRunSettings } from './sandbox-run.js';
import { BuildStepError } from './source.js';

/** Steam app id of the Left 4 Dead 2 dedicated server. */
export const L4D2_SERVER_APP_ID = '222860';

/** The `steam` block of an Installation spec, defaults filled in. */
export type SteamSpec = NonNullable<InstallationSpec['steam']>;

/** One account of the secrets file `/etc/left4me/secrets/steam.json` (`{ "<login>": { "username", "password" } }`). */
export interface SteamLogin {
  username: string;
  password: string;
}

/** Progress of an installation run, parsed from steamcmd's output. */
export interface SteamProgress {
  /** 1-based pass: with the windows-then-linux workaround, pass 1 is windows and pass 2 linux. */
  pass: number;
  passes: number;
  platform: 'windows' | 'linux';
  /** steamcmd's words: `downloading`, `verifying update`, `preallocating`, `committing`, … or `updating steamcmd` for its self-update. */
  state: string;
  /** steamcmd's state code such as `0x61`, when it gave one. */
  code?: string;
  percent: number;
  /** Bytes done and total, when steamcmd gave them. */
  done?: number;
  total?: number;
}

/** Why an installation failed, as far as steamcmd's output tells. */
export type SteamFailure = 'invalid-password' | 'steam-guard' | 'rate-limit' | 'login-failed' | 'no-subscription' | 'install-failed' | 'app-state' | 'not-online';

/** One meaningful line of steamcmd output. */
export type SteamcmdEvent =
  | { kind: 'progress'; state: string; code?: string; percent: number; done?: number; total?: number }
  | { kind: 'logged-in'; username: string }
  | { kind: 'installed'; app: string }
  | { kind: 'error'; failure: SteamFailure; detail: string };

/** A failed installation; the message says what Steam or steamcmd reported and what to do. */
export class SteamInstallError extends BuildStepError {
  override name = 'SteamInstallError';
  constructor(
    message: string,
    readonly failure: SteamFailure | 'exit' | 'sdk',
    readonly tail: string[],
  ) {
    super(message);
  }
}

/** Options of installFromSteam; paths are host paths as systemd sees them. */
export interface SteamInstallOptions extends SandboxRunSettings {
  systemd: SystemdAdapter;
  /** Where the game tree goes; default the layout's installation dir. */
  installDir?: string;
  /** steamcmd's home (its own files, logs, login tokens), owned by the build user, 0700; default `<data dir>/steam`. */
  steamHome?: string;
  /** steamcmd.sh inside the steam home (its tree, with linux32/ and linux64/ beside it); default `<steamHome>/steamcmd/steamcmd.sh`. */
  steamcmd?: string;
  /** Root-only secrets file; default `<config dir>/secrets/steam.json`. */
  secretsFile?: string;
  /** Time limit of the whole run (all passes); default 4 h. */
  timeoutSec?: number;
  onProgress?: (progress: SteamProgress) => void;
  /** Receives every output line. */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Installs or updates an installation with steamcmd. Reads the secrets
 * file (root-only), writes the game tree into the install dir (handed to the
 * build user for the run, root-owned and world-readable afterwards), keeps
 * steamcmd's state in the steam home, and adds `.steam/sdk32|sdk64` to the
 * tree. Throws SteamInstallError naming the installation and what to do.
 */
export async function installFromSteam(installation: { metadata: Pick<Metadata, 'name'>; spec: InstallationSpec }, opts: SteamInstallOptions): Promise<void> {
  const name = installation.metadata.name;
  const steam: SteamSpec = { branch: 'public', login: 'default', validate: true, windowsFirst: true, ...installation.spec.steam };
  const fsRoot = opts.fsRoot ?? '/';
  const layout = opts.layout ?? defaultUnitConfig().layout;
  const installDir = opts.installDir ?? layout.installationDir;
  const steamHome = opts.steamHome ?? layout.steamHome;
  const steamcmd = opts.steamcmd ?? `${steamHome}/steamcmd/steamcmd.sh`;
  if (!steamcmd.startsWith(`${steamHome}/`)) {
    throw new SteamInstallError(`installation ${name}: steamcmd ${steamcmd} must lie inside the steam home ${steamHome} (its self-update writes there)`, 'exit', []);
  }
  const secretsFile = opts.secretsFile ?? layout.steamLoginFile;
  const login = await readSteamLogin(onHostPath(fsRoot, secretsFile), secretsFile, steam.login);
  const account = await lookupAccount(fsRoot, layout.buildUser, layout.buildGroup);
  const log = opts.log ?? (() => undefined);

  await mkdir(onHostPath(fsRoot, installDir), { recursive: true, mode: 0o755 });
  await mkdir(onHostPath(fsRoot, steamHome), { recursive: true, mode: 0o700 });
  await chmod(onHostPath(fsRoot, steamHome), 0o700);
  await handTreeTo(onHostPath(fsRoot, steamHome), account.uid, account.gid);

  const unit = `left4me-steamcmd-${name}-${randomBytes(4).toString('hex')}.service`;
  const run = await createRunDir(fsRoot, layout, opts, unit);
  try {
    const loginLocal = join(run.localDir, 'steam-login');
    await writeFile(loginLocal, steamLoginScript(login), { mode: 0o400 });
    await chown(loginLocal, account.uid, account.gid);
    await chmod(loginLocal, 0o400);
    const commands = steamcmdCommands(steam, `${SANDBOX_STEAM_HOME}/${steamcmd.slice(steamHome.length + 1)}`);
    const tracker = new ProgressTracker(steam, opts.onProgress);
    await handTreeTo(onHostPath(fsRoot, installDir), account.uid, account.gid);
    let outcome;
    try {
      outcome = await runSandboxedUnit({
        systemd: opts.systemd,
        unit,
        properties: steamcmdUnitProperties({
          description: `left4me installation ${name}: steamcmd app_update ${L4D2_SERVER_APP_ID}`,
          installDir,
          steamHome,
          loginFile: `${run.hostDir}/steam-login`,
          commands,
          timeoutSec: opts.timeoutSec ?? 4 * 3600,
          ...sandboxEnvironment(run, layout, opts),
        }),
        logFile: run.logLocalPath,
        onLine: (line) => {
          log(line);
          tracker.line(line);
        },
        signal: opts.signal ?? new AbortController().signal,
        stopTimeoutSec: opts.limits?.stopTimeoutSec ?? 10,
      });
    } finally {
      await reclaimTree(onHostPath(fsRoot, installDir), log);
    }
    const where = `installation ${name}`;
    const error = tracker.firstError();
    const tail = withoutAccount(outcome.tail, login.username, steam.login);
    if (error) throw new SteamInstallError(`${where}: ${explainFailure(error, steam.login, secretsFile)}`, error.failure, tail);
    if (outcome.result !== 'success' || tracker.installed < commands.length) {
      const how = outcome.result === 'timeout' ? `ran longer than its time limit (result timeout)` : `ended with result ${outcome.result} after ${tracker.installed} of ${commands.length} successful app_update passes`;
      throw new SteamInstallError(`${where}: steamcmd ${how}; see the last output below and steamcmd's own log in ${steamHome}/Steam/logs:\n${tail.map((l) => `  ${l}`).join('\n')}`, 'exit', tail);
    }
  } finally {
    await removeRunDir(run.localDir);
  }
  await linkSteamSdk(onHostPath(fsRoot, installDir), onHostPath(fsRoot, dirname(steamcmd)), name, log, onHostPath(fsRoot, steamHome));
}

// ---------------------------------------------------------------------------
// Pure parts.

/**
 * steamcmd's command lines, one per pass: the platform (windows first when
 * the workaround is on, then linux), the install dir before the login (newer
 * steamcmd insists), the login from the runscript, app_update with branch
 * and validate, quit. Never carries a credential.
 */
export function steamcmdCommands(steam: SteamSpec, steamcmdPath: string, loginFile = SANDBOX_LOGIN_FILE): string[][] {
  const platforms = steam.windowsFirst ? (['windows', 'linux'] as const) : (['linux'] as const);
  return platforms.map((platform) => [
    steamcmdPath,
    // Fail instead of waiting at a prompt: there is no terminal, and a password prompt would never be answered.
    '+@ShutdownOnFailedCommand', '1',
    '+@NoPromptForPassword', '1',
    '+@sSteamCmdForcePlatformType', platform,
    '+force_install_dir', SANDBOX_INSTALL_DIR,
    '+runscript', loginFile,
    '+app_update', L4D2_SERVER_APP_ID,
    ...(steam.branch !== 'public' ? ['-beta', steam.branch] : []),
    ...(steam.validate ? ['validate'] : []),
    '+quit',
  ]);
}

/**
 * steamcmd output lines with the Steam account name replaced by a mention of
 * its login: an error's message and tail reach status files and the
 * controller's journal, which more than root may read (the run's own log is
 * root-only and keeps the name).
 */
export function withoutAccount(lines: readonly string[], username: string, login: string): string[] {
  if (username === '') return [...lines];
  const account = new RegExp(`(?<![A-Za-z0-9_])${username.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9_])`, 'gi');
  return lines.map((l) => l.replace(account, () => `<account of login "${login}">`));
}

/** The runscript text that logs in (quoted for steamcmd's console parser); throws when a credential cannot be quoted safely. */
export function steamLoginScript(login: SteamLogin): string {
  for (const [field, value] of [['username', login.username], ['password', login.password]] as const) {
    if (typeof value !== 'string' || value === '' || /["\u0000-\u001f\u007f]/.test(value)) {
      throw new SteamInstallError(`the Steam ${field} is empty or contains a double quote or control character, which steamcmd's runscript cannot carry; change it in the secrets file`, 'login-failed', []);
    }
  }
  return `login "${login.username}" "${login.password}"\n`;
}

const PROGRESS_RE = /^\s*Update state \((0x[0-9a-fA-F]+)\) ([^,]+), progress: ([0-9.]+) \((\d+) \/ (\d+)\)/;
const BOOTSTRAP_RE = /^\[\s*(\d+)%\] Downloading update \(([\d,]+) of ([\d,]+) KB\)/;
const LOGIN_OK_RE = /^Logging in user '([^']*)'.*to Steam Public\.\.\.\s*(?:OK|Success\.?|Logged in OK)\s*$/;
const LOGIN_FAILED_RE = /(?:^Logging in user '[^']*'.*\.\.\.\s*FAILED \(([^)]+)\)|FAILED login with result code (.+?)\s*$)/;
const INSTALL_FAILED_RE = /^ERROR! Failed to install app '(\d+)' \(([^)]+)\)/;
const APP_STATE_RE = /^Error! App '(\d+)' state is (0x[0-9a-fA-F]+) after update job/;
const INSTALLED_RE = /^Success! App '(\d+)' (?:fully installed|already up to date)/;
const GUARD_RE = /Steam Guard code:|Two-factor code:|has not been authenticated for your account using Steam Guard/;
const NOT_ONLINE_RE = /^ERROR! Failed to request AppInfo update, not online or not logged in/;

/** Parses one line of steamcmd output; null for lines that carry nothing we act on. */
export function parseSteamcmdLine(line: string): SteamcmdEvent | null {
  let m = PROGRESS_RE.exec(line);
  if (m) return { kind: 'progress', code: m[1]!, state: m[2]!.trim(), percent: Number(m[3]), done: Number(m[4]), total: Number(m[5]) };
  m = BOOTSTRAP_RE.exec(line);
  if (m) return { kind: 'progress', state: 'updating steamcmd', percent: Number(m[1]), done: kib(m[2]!), total: kib(m[3]!) };
  m = INSTALLED_RE.exec(line);
  if (m) return { kind: 'installed', app: m[1]! };
  m = LOGIN_OK_RE.exec(line);
  if (m) return { kind: 'logged-in', username: m[1]! };
  m = LOGIN_FAILED_RE.exec(line);
  if (m) {
    const detail = (m[1] ?? m[2] ?? '').trim();
    return { kind: 'error', failure: loginFailure(detail), detail };
  }
  if (GUARD_RE.test(line)) return { kind: 'error', failure: 'steam-guard', detail: line.trim() };
  m = INSTALL_FAILED_RE.exec(line);
  if (m) return { kind: 'error', failure: m[2] === 'No subscription' ? 'no-subscription' : 'install-failed', detail: m[2]! };
  m = APP_STATE_RE.exec(line);
  if (m) return { kind: 'error', failure: 'app-state', detail: m[2]! };
  if (NOT_ONLINE_RE.test(line)) return { kind: 'error', failure: 'not-online', detail: line.trim() };
  return null;
}

function kib(text: string): number {
  return Number(text.replace(/,/g, '')) * 1024;
}

function loginFailure(detail: string): SteamFailure {
  if (/invalid password/i.test(detail)) return 'invalid-password';
  if (/logon denied|two-factor|auth code|steam guard/i.test(detail)) return 'steam-guard';
  if (/rate limit/i.test(detail)) return 'rate-limit';
  return 'login-failed';
}

/** What to tell a person about a failure: what Steam said and what to do. */
export function explainFailure(event: Extract<SteamcmdEvent, { kind: 'error' }>, login: string, secretsFile: string): string {
  switch (event.failure) {
    case 'invalid-password':
      return `Steam rejected the password of login "${login}" (${event.detail}); correct it in ${secretsFile}`;
    case 'steam-guard':
      return `Steam Guard wants a code for login "${login}" (${event.detail}); log in once by hand as the build user with the steam home as HOME (steamcmd +login <username>) so steamcmd keeps a token, or use an account without Steam Guard`;
    case 'rate-limit':
      return `Steam refuses logins from this host for now (${event.detail}); wait before the next attempt`;
    case 'login-failed':
      return `Steam refused the login "${login}" (${event.detail}); check the account in ${secretsFile}`;
    case 'no-subscription':
      return `the account of login "${login}" may not download app ${L4D2_SERVER_APP_ID} (No subscription); anonymous download no longer works, use an account that owns Left 4 Dead 2`;
    case 'app-state':
      return `steamcmd left app ${L4D2_SERVER_APP_ID} in state ${event.detail}${event.detail === '0x202' ? ' (not enough disk space)' : ''}; free space or retry, and see steamcmd's log`;
    case 'not-online':
      return `steamcmd could not reach Steam (${event.detail}); check the host's internet access and DNS`;
    case 'install-failed':
      return `steamcmd failed to install app ${L4D2_SERVER_APP_ID} (${event.detail}); retry, and see steamcmd's log if it persists`;
  }
}

/** Turns output lines into progress callbacks and remembers errors and completed passes. */
class ProgressTracker {
  installed = 0;
  private error?: Extract<SteamcmdEvent, { kind: 'error' }>;
  private readonly platforms: ('windows' | 'linux')[];

  constructor(
    steam: SteamSpec,
    private readonly onProgress?: (p: SteamProgress) => void,
  ) {
    this.platforms = steam.windowsFirst ? ['windows', 'linux'] : ['linux'];
  }

  line(text: string): void {
    const event = parseSteamcmdLine(text);
    if (!event) return;
    if (event.kind === 'installed' && event.app === L4D2_SERVER_APP_ID) this.installed++;
    else if (event.kind === 'error') this.error ??= event;
    else if (event.kind === 'progress' && this.onProgress) {
      // Each pass ends with its Success line, so the count of those says which pass is running.
      const pass = Math.min(this.installed + 1, this.platforms.length);
      const { kind: _, ...rest } = event;
      this.onProgress({ pass, passes: this.platforms.length, platform: this.platforms[pass - 1]!, ...rest });
    }
  }

  firstError(): Extract<SteamcmdEvent, { kind: 'error' }> | undefined {
    return this.error;
  }
}

// ---------------------------------------------------------------------------
// Files.

/** Reads the root-only secrets file; refuses it when others may read it, and names the missing login. */
export async function readSteamLogin(localPath: string, shownPath: string, login: string): Promise<SteamLogin> {
  let text: string;
  try {
    const st = await stat(localPath);
    if (st.mode & 0o077 || st.uid !== 0) {
      throw new SteamInstallError(`${shownPath} must be owned by root and readable by root only (it holds Steam passwords); run: chown root: ${shownPath} && chmod 600 ${shownPath}`, 'login-failed', []);
    }
    text = await readFile(localPath, 'utf8');
  } catch (err) {
    if (err instanceof SteamInstallError) throw err;
    throw new SteamInstallError(`cannot read the Steam secrets file ${shownPath} (${(err as NodeJS.ErrnoException).code ?? String(err)}); create it as { "${login}": { "username": "...", "password": "..." } } with mode 600`, 'login-failed', []);
  }
  let all: unknown;
  try {
    all = JSON.parse(text);
  } catch (err) {
    throw new SteamInstallError(`${shownPath} is not valid JSON (${(err as Error).message}); it should be { "${login}": { "username": "...", "password": "..." } }`, 'login-failed', []);
  }
  // Own keys only: a login named "constructor" or "__proto__" must not find an Object.prototype member.
  const entry = (all !== null && typeof all === 'object' && Object.hasOwn(all, login) ? (all as Record<string, unknown>)[login] : undefined) as Partial<SteamLogin> | null | undefined;
  if (!entry || typeof entry.username !== 'string' || typeof entry.password !== 'string') {
    throw new SteamInstallError(`${shownPath} has no login "${login}" with a username and password; add it, or set spec.steam.login to one it has`, 'login-failed', []);
  }
  return { username: entry.username, password: entry.password };
}

/**
 * Gives the installation the Steam client library srcds loads at start:
 * copies of steamcmd's `linux32/steamclient.so` (required) and
 * `linux64/steamclient.so` (if present) under `.left4me/steamclient/`, and
 * `.steam/sdk32` and `.steam/sdk64` as relative links to them. Relative links
 * and copies keep the tree self-contained: a server's HOME is its merged
 * overlay, and a steamcmd self-update never changes a running server's library.
 * Both trees were written by the sandboxed run as the build user, so nothing
 * in them is followed: the library is read below `steamHome` (default: the
 * parent of `steamcmdDir`) and written below `installDir` through no-follow
 * descriptors, and a link in the way fails the install naming it.
 */
export async function linkSteamSdk(installDir: string, steamcmdDir: string, name: string, log: (line: string) => void, steamHome = dirname(steamcmdDir)): Promise<void> {
  const where = `installation ${name}`;
  const origin = { by: 'the steamcmd run' };
  const fromHome = relative(steamHome, steamcmdDir);
  if (fromHome.startsWith('..') || fromHome.startsWith('/')) throw new SteamInstallError(`${where}: steamcmd's directory ${steamcmdDir} is not inside the steam home ${steamHome}`, 'sdk', []);
  const homeSegments = fromHome === '' ? [] : fromHome.split('/');
  try {
    await withDirBeneath(installDir, [], origin, async (install) => {
      for (const [bits, required] of [['32', true], ['64', false]] as const) {
        const source = await openLibrary(steamHome, [...homeSegments, `linux${bits}`], where);
        const shown = join(steamcmdDir, `linux${bits}`, 'steamclient.so');
        if (!source) {
          if (required) throw new SteamInstallError(`${where}: ${shown} is missing, and srcds needs it (~/.steam/sdk32/steamclient.so); run steamcmd once so it bootstraps its linux32 directory`, 'sdk', []);
          log(`no ${shown}; skipped .steam/sdk${bits}`);
          continue;
        }
        try {
          await withDirBeneath(install, ['.left4me', 'steamclient', `linux${bits}`], { create: { mode: 0o755 }, ...origin }, (target) =>
            target.writeFile('steamclient.so', (out) => copyInto(source, out), 0o755),
          );
        } finally {
          await source.close();
        }
        const steamDir = await install.dir('.steam', { mode: 0o755 });
        try {
          const link = `sdk${bits}`;
          const want = `../.left4me/steamclient/linux${bits}`;
          const st = await steamDir.lstat(link);
          const current = st?.isSymbolicLink() ? await readlink(steamDir.at(link)) : st ? 'not a link' : null;
          if (current !== want) {
            if (st?.isDirectory()) await removeEntry(steamDir, link);
            await steamDir.symlink(want, link);
          }
        } finally {
          await steamDir.close();
        }
      }
      // Servers read these as an unprivileged user whatever the umask was.
      for (const segments of [['.left4me'], ['.left4me', 'steamclient'], ['.steam']]) {
        await withDirBeneath(install, segments, origin, (d) => d.chmod(0o755));
      }
    });
  } catch (err) {
    if (!(err instanceof UnsafePathError)) throw err;
    throw new SteamInstallError(`${where}: ${err.message} (remove the installation's build directory and install again)`, 'sdk', []);
  }
}

/** Opens `<dir>/steamclient.so` below the steam home without following a link; undefined when it is missing. */
async function openLibrary(steamHome: string, dir: string[], where: string): Promise<FileHandle | undefined> {
  try {
    return await withDirBeneath(steamHome, dir, { by: 'the steamcmd run', reading: true }, (d) => d.readFile('steamclient.so'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (!(err instanceof UnsafePathError)) throw err;
    throw new SteamInstallError(`${where}: ${err.message} (remove it from the steam home and run steamcmd again)`, 'sdk', []);
  }
}

async function copyInto(from: FileHandle, to: FileHandle): Promise<void> {
  const buf = Buffer.alloc(1 << 20);
  for (let position = 0; ; ) {
    const { bytesRead } = await from.read(buf, 0, buf.length, position);
    if (bytesRead === 0) return;
    await to.write(buf, 0, bytesRead);
    position += bytesRead;
  }
}
