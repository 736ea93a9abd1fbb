import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainFailure, linkSteamSdk, parseSteamcmdLine, readSteamLogin, steamcmdCommands, steamLoginScript, SteamInstallError, withoutAccount, type SteamSpec } from './steamcmd.js';

describe('parseSteamcmdLine', () => {
  it('reads download and verify progress', () => {
    expect(parseSteamcmdLine(' Update state (0x61) downloading, progress: 42.13 (4096 / 9723)')).toEqual({
      kind: 'progress', code: '0x61', state: 'downloading', percent: 42.13, done: 4096, total: 9723,
    });
    expect(parseSteamcmdLine(' Update state (0x81) verifying update, progress: 96.48 (33483090613 / 34705746562)')).toEqual({
      kind: 'progress', code: '0x81', state: 'verifying update', percent: 96.48, done: 33483090613, total: 34705746562,
    });
    expect(parseSteamcmdLine('[ 27%] Downloading update (5,278 of 10,335 KB)...')).toEqual({
      kind: 'progress', state: 'updating steamcmd', percent: 27, done: 5278 * 1024, total: 10335 * 1024,
    });
  });

  it('reads success and login', () => {
    expect(parseSteamcmdLine("Success! App '222860' fully installed.")).toEqual({ kind: 'installed', app: '222860' });
    expect(parseSteamcmdLine("Success! App '222860' already up to date.")).toEqual({ kind: 'installed', app: '222860' });
    expect(parseSteamcmdLine("Logging in user 'l4dhost' [U:1:1234567] to Steam Public...OK")).toEqual({ kind: 'logged-in', username: 'l4dhost' });
    expect(parseSteamcmdLine("Logging in user 'l4dhost' to Steam Public...Logged in OK")).toEqual({ kind: 'logged-in', username: 'l4dhost' });
  });

  it('classifies each failure', () => {
    const cases: [string, string, string][] = [
      ["Logging in user 'l4dhost' [U:1:0] to Steam Public...FAILED (Invalid Password)", 'invalid-password', 'Invalid Password'],
      ['FAILED login with result code Invalid Password', 'invalid-password', 'Invalid Password'],
      ["Logging in user 'l4dhost' [U:1:0] to Steam Public...FAILED (Account Logon Denied)", 'steam-guard', 'Account Logon Denied'],
      ["Logging in user 'l4dhost' [U:1:0] to Steam Public...FAILED (Two-factor code mismatch)", 'steam-guard', 'Two-factor code mismatch'],
      ['Steam Guard code:', 'steam-guard', 'Steam Guard code:'],
      ["Logging in user 'l4dhost' [U:1:0] to Steam Public...FAILED (Rate Limit Exceeded)", 'rate-limit', 'Rate Limit Exceeded'],
      ["Logging in user 'l4dhost' [U:1:0] to Steam Public...FAILED (Expired)", 'login-failed', 'Expired'],
      ["ERROR! Failed to install app '222860' (No subscription)", 'no-subscription', 'No subscription'],
      ["ERROR! Failed to install app '222860' (Disk write failure)", 'install-failed', 'Disk write failure'],
      ["Error! App '222860' state is 0x202 after update job.", 'app-state', '0x202'],
      ['ERROR! Failed to request AppInfo update, not online or not logged in to Steam.', 'not-online', 'ERROR! Failed to request AppInfo update, not online or not logged in to Steam.'],
    ];
    for (const [line, failure, detail] of cases) expect(parseSteamcmdLine(line), line).toEqual({ kind: 'error', failure, detail });
  });

  it('ignores chatter', () => {
    for (const line of ['Steam Console Client (c) Valve Corporation - version 1785186678', '-- type \'quit\' to exit --', 'Loading Steam API...OK', 'Waiting for user info...OK', '']) {
      expect(parseSteamcmdLine(line), line).toBeNull();
    }
  });
});

const steam: SteamSpec = { branch: 'public', login: 'default', validate: true, windowsFirst: true };

describe('steamcmdCommands', () => {
  it('installs windows first, then linux, each logging in from the runscript', () => {
    const cmds = steamcmdCommands(steam, '/steam/steamcmd/steamcmd.sh');
    expect(cmds).toHaveLength(2);
    expect(cmds[0]).toEqual([
      '/steam/steamcmd/steamcmd.sh',
      '+@ShutdownOnFailedCommand', '1',
      '+@NoPromptForPassword', '1',
      '+@sSteamCmdForcePlatformType', 'windows',
      '+force_install_dir', '/installation',
      '+runscript', '/run/left4me/steam-login',
      '+app_update', '222860', 'validate',
      '+quit',
    ]);
    expect(cmds[1]![cmds[1]!.indexOf('+@sSteamCmdForcePlatformType') + 1]).toBe('linux');
    // The install dir comes before the login: newer steamcmd refuses it afterwards.
    expect(cmds[0]!.indexOf('+force_install_dir')).toBeLessThan(cmds[0]!.indexOf('+runscript'));
    expect(cmds.flat().some((a) => a === '+login')).toBe(false);
  });

  it('follows branch, validate and windowsFirst', () => {
    const [only, ...rest] = steamcmdCommands({ ...steam, branch: 'beta_test', validate: false, windowsFirst: false }, '/steam/steamcmd/steamcmd.sh');
    expect(rest).toEqual([]);
    expect(only).toContain('linux');
    expect(only!.slice(only!.indexOf('+app_update'))).toEqual(['+app_update', '222860', '-beta', 'beta_test', '+quit']);
  });
});

describe('steamLoginScript', () => {
  it('quotes the credentials for the runscript', () => {
    expect(steamLoginScript({ username: 'l4dhost', password: 'p4ss; quit //x' })).toBe('login "l4dhost" "p4ss; quit //x"\n');
  });

  it('refuses what cannot be quoted', () => {
    expect(() => steamLoginScript({ username: 'l4dhost', password: 'a"b' })).toThrow(SteamInstallError);
    expect(() => steamLoginScript({ username: 'l4dhost', password: 'a\nquit' })).toThrow(/double quote or control character/);
    expect(() => steamLoginScript({ username: '', password: 'x' })).toThrow(/username/);
  });
});

describe('explainFailure', () => {
  it('says what to do', () => {
    const secrets = '/etc/left4me/secrets/steam.json';
    expect(explainFailure({ kind: 'error', failure: 'invalid-password', detail: 'Invalid Password' }, 'default', secrets)).toBe(
      `Steam rejected the password of login "default" (Invalid Password); correct it in ${secrets}`,
    );
    expect(explainFailure({ kind: 'error', failure: 'no-subscription', detail: 'No subscription' }, 'default', secrets)).toMatch(/use an account that owns Left 4 Dead 2$/);
    expect(explainFailure({ kind: 'error', failure: 'app-state', detail: '0x202' }, 'default', secrets)).toContain('not enough disk space');
    expect(explainFailure({ kind: 'error', failure: 'steam-guard', detail: 'Account Logon Denied' }, 'default', secrets)).toContain('keeps a token');
  });
});

describe('withoutAccount', () => {
  it('replaces the account name, in any case, but not inside other words', () => {
    expect(withoutAccount(["Logging in user 'L4DHost' [U:1:1] to Steam Public...OK", 'l4dhosts l4dhost_x xl4dhost', 'bye l4dhost'], 'l4dhost', 'default')).toEqual([
      `Logging in user '<account of login "default">' [U:1:1] to Steam Public...OK`,
      'l4dhosts l4dhost_x xl4dhost',
      'bye <account of login "default">',
    ]);
    expect(withoutAccount(['a.b+c a-b+c'], 'a.b+c', 'x')).toEqual(['<account of login "x"> a-b+c']);
  });
});

describe('readSteamLogin', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'left4me-steam-secrets-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a root-only file and refuses one others may read', async () => {
    const file = join(dir, 'steam.json');
    await writeFile(file, JSON.stringify({ default: { username: 'l4dhost', password: 'secret' } }), { mode: 0o600 });
    await chmod(file, 0o600);
    expect(await readSteamLogin(file, '/etc/left4me/secrets/steam.json', 'default')).toEqual({ username: 'l4dhost', password: 'secret' });
    await expect(readSteamLogin(file, '/etc/left4me/secrets/steam.json', 'other')).rejects.toThrow(/has no login "other"/);
    await chmod(file, 0o644);
    await expect(readSteamLogin(file, '/etc/left4me/secrets/steam.json', 'default')).rejects.toThrow(/chmod 600 \/etc\/left4me\/secrets\/steam\.json/);
    await expect(readSteamLogin(join(dir, 'missing.json'), '/etc/left4me/secrets/steam.json', 'default')).rejects.toThrow(/ENOENT/);
  });
});

describe('linkSteamSdk', () => {
  // The installation tree and the steam home were written by the sandboxed run as the
  // build user; root must not write, chmod or copy through a link it left there.
  let base: string;
  let install: string;
  let home: string;
  let outside: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'left4me-steam-sdk-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });
  let n = 0;
  async function prepare(): Promise<void> {
    const dir = join(base, `case-${n++}`);
    install = join(dir, 'installation');
    home = join(dir, 'steam');
    outside = join(dir, 'outside');
    for (const d of [install, join(home, 'steamcmd', 'linux32'), join(home, 'steamcmd', 'linux64'), outside]) await mkdir(d, { recursive: true });
    await writeFile(join(home, 'steamcmd', 'linux32', 'steamclient.so'), '32');
    await writeFile(join(home, 'steamcmd', 'linux64', 'steamclient.so'), '64');
    await chmod(outside, 0o700);
  }
  const run = () => linkSteamSdk(install, join(home, 'steamcmd'), 'main', () => undefined, home).catch((e: unknown) => e);

  it('links sdk32 and sdk64 to copies inside the installation', async () => {
    await prepare();
    expect(await run()).toBeUndefined();
    expect(await readlink(join(install, '.steam', 'sdk32'))).toBe('../.left4me/steamclient/linux32');
    expect(await readFile(join(install, '.steam', 'sdk64', 'steamclient.so'), 'utf8')).toBe('64');
    expect((await stat(join(install, '.steam'))).mode & 0o777).toBe(0o755);
  });

  for (const link of ['.steam', '.left4me', '.left4me/steamclient']) {
    it(`refuses ${link} when the run left it as a symlink, touching nothing outside`, async () => {
      await prepare();
      if (link.includes('/')) await mkdir(join(install, '.left4me'));
      await symlink(outside, join(install, link));
      const err = await run();
      expect(err).toBeInstanceOf(SteamInstallError);
      expect((err as Error).message).toBe(`installation main: ${link} is a symlink left by the steamcmd run; refusing to write through it (remove the installation's build directory and install again)`);
      expect(await readdir(outside)).toEqual([]);
      expect((await stat(outside)).mode & 0o777).toBe(0o700);
    });
  }

  it('never copies a file the steam home links to (a root-only secret) into the installation', async () => {
    await prepare();
    await writeFile(join(outside, 'secret'), 'root only');
    await chmod(join(outside, 'secret'), 0o600);
    await rm(join(home, 'steamcmd', 'linux32', 'steamclient.so'));
    await symlink(join(outside, 'secret'), join(home, 'steamcmd', 'linux32', 'steamclient.so'));
    const err = await run();
    expect(err).toBeInstanceOf(SteamInstallError);
    expect((err as Error).message).toBe('installation main: steamcmd/linux32/steamclient.so is a symlink left by the steamcmd run; refusing to read through it (remove it from the steam home and run steamcmd again)');
    await expect(readFile(join(install, '.left4me', 'steamclient', 'linux32', 'steamclient.so'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
