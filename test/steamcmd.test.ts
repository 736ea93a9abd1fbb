// installFromSteam in a real private systemd, against a STAND-IN steamcmd.
// Real steamcmd cannot run here: it downloads itself and the game from Steam
// (no internet in tests) and 222860 needs a real Steam login. The stand-in
// below is a bash script that speaks steamcmd's command line and prints
// steamcmd's real output lines (self-update, login, progress, success and the
// failure messages), then writes a small game tree. What is tested is ours:
// the sandboxed unit, the login runscript, the windows-then-linux passes,
// output parsing into progress and errors, ownership and the sdk links.
import { chmod, mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installFromSteam, SteamInstallError, type SteamProgress } from '../controller/builds/steamcmd.js';
import type { InstallationSpec } from '../controller/documents/kinds.js';
import { DbusSystemdAdapter } from '../controller/systemd/dbus-adapter.js';
import { bootPrivateHost, type PrivateHost } from '../controller/demo/private-host/private-host.js';
import { ACCOUNTS, STAND_IN } from './support/steamcmd-stand-in.js';

let host: PrivateHost;
let systemd: DbusSystemdAdapter;
const steamHome = () => join(host.dirs.varLib, 'steam');

beforeAll(async () => {
  host = await bootPrivateHost();
  systemd = new DbusSystemdAdapter({ address: host.busAddress });
  await mkdir(join(steamHome(), 'steamcmd'), { recursive: true });
  await writeFile(join(steamHome(), 'steamcmd', 'steamcmd.sh'), STAND_IN, { mode: 0o755 });
  await mkdir(join(host.dirs.etc, 'secrets'), { recursive: true, mode: 0o700 });
  await writeFile(join(host.dirs.etc, 'secrets', 'steam.json'), JSON.stringify(ACCOUNTS), { mode: 0o600 });
  await chmod(join(host.dirs.etc, 'secrets', 'steam.json'), 0o600);
}, 60_000);

afterAll(async () => {
  await systemd?.close();
  await host?.stop();
});

function installation(name: string, steam: Partial<NonNullable<InstallationSpec['steam']>> = {}) {
  return { metadata: { name }, spec: { source: 'steam' as const, steam: { branch: 'public', login: 'default', validate: true, windowsFirst: true, ...steam } } };
}

async function install(name: string, steam: Partial<NonNullable<InstallationSpec['steam']>> = {}) {
  const progress: SteamProgress[] = [];
  const lines: string[] = [];
  // The run's own log (it names the account), seen while steamcmd runs: [path, uid, mode] of its directories and file.
  const runLog: [string, number, number][] = [];
  const runs = join(host.root, '/var/lib/left4me/build-runs');
  const seeRunLog = () => {
    if (runLog.length > 0) return;
    for (const unit of readdirSync(runs)) {
      for (const p of [runs, join(runs, unit), join(runs, unit, 'output.log')]) {
        const st = statSync(p);
        runLog.push([p.slice(runs.length), st.uid, st.mode & 0o777]);
      }
    }
  };
  const installDir = `/var/lib/left4me/installations/${name}`;
  await rm(join(steamHome(), 'stand-in-calls.log'), { force: true });
  const result = await installFromSteam(installation(name, steam), {
    systemd,
    fsRoot: host.root,
    installDir,
    onProgress: (p) => progress.push(p),
    log: (l) => {
      seeRunLog();
      lines.push(l);
    },
  }).catch((e: unknown) => e);
  const calls = await readFile(join(steamHome(), 'stand-in-calls.log'), 'utf8').catch(() => '');
  return { result, progress, lines, calls, runLog, dir: join(host.root, installDir) };
}

async function unitsLeft(): Promise<string[]> {
  return (await systemd.listUnits(['left4me-steamcmd-*'])).map((u) => u.name);
}

describe('installFromSteam (stand-in steamcmd)', () => {
  it('installs windows first, then linux, reporting progress, and links the Steam sdk', async () => {
    const { result, progress, lines, calls, runLog, dir } = await install('main');
    expect(result).toBeUndefined();
    expect(runLog.map(([p, uid, mode]) => [p.replace(/left4me-steamcmd-[^/]+/, 'UNIT'), uid, mode])).toEqual([
      ['', 0, 0o700],
      ['/UNIT', 0, 0o700],
      ['/UNIT/output.log', 0, 0o600],
    ]);

    const platforms = calls.split('\n').filter((l) => l.startsWith('platform='));
    expect(platforms).toEqual([
      'platform=windows dir=/installation user=l4dhost app=222860 validate=yes',
      'platform=linux dir=/installation user=l4dhost app=222860 validate=yes',
    ]);
    // The password reached steamcmd through the runscript only.
    expect(calls).not.toContain('correct horse');
    expect(lines.join('\n')).not.toContain('correct horse');

    expect(progress[0]).toEqual({ pass: 1, passes: 2, platform: 'windows', state: 'updating steamcmd', percent: 0, done: 0, total: 10335 * 1024 });
    expect(progress).toContainEqual({ pass: 1, passes: 2, platform: 'windows', state: 'downloading', code: '0x61', percent: 42.13, done: 4096, total: 9723 });
    expect(progress).toContainEqual({ pass: 2, passes: 2, platform: 'linux', state: 'verifying update', code: '0x81', percent: 100, done: 9723, total: 9723 });
    expect(progress.at(-1)?.pass).toBe(2);
    expect(lines.filter((l) => l.startsWith('Success!'))).toHaveLength(2);

    // Both platforms' files, root-owned and readable by the game servers' user.
    expect(await readFile(join(dir, 'srcds.exe'), 'utf8')).toBe('windows build\n');
    for (const [p, mode] of [['', 0o755], ['srcds_run', 0o755], ['bin/engine_srv.so', 0o644], ['left4dead2/gameinfo.txt', 0o644]] as const) {
      const st = await stat(join(dir, p));
      expect([st.uid, st.mode & 0o7777], p || '.').toEqual([0, mode]);
    }

    // ~/.steam/sdk32 and sdk64 inside the installation, resolving inside it.
    expect(await readlink(join(dir, '.steam/sdk32'))).toBe('../.left4me/steamclient/linux32');
    expect(await readlink(join(dir, '.steam/sdk64'))).toBe('../.left4me/steamclient/linux64');
    expect(await readFile(join(dir, '.steam/sdk32/steamclient.so'), 'utf8')).toBe('stand-in steamclient.so (32-bit)\n');
    expect(await readFile(join(dir, '.steam/sdk64/steamclient.so'), 'utf8')).toBe('stand-in steamclient.so (64-bit)\n');

    // steamcmd's home stays the build user's and private.
    const home = await stat(steamHome());
    expect([home.uid, home.mode & 0o777]).toEqual([host.buildAccount.uid, 0o700]);
    expect(await unitsLeft()).toEqual([]);
    expect(await readdir(join(host.root, '/var/lib/left4me/build-runs'))).toEqual([]);
  });

  it('runs linux only, without validate, when asked', async () => {
    const { result, calls, dir } = await install('plain', { windowsFirst: false, validate: false });
    expect(result).toBeUndefined();
    expect(calls.split('\n').filter((l) => l.startsWith('platform='))).toEqual(['platform=linux dir=/installation user=l4dhost app=222860 validate=no']);
    await expect(stat(join(dir, 'srcds.exe'))).rejects.toThrow();
    expect((await stat(join(dir, '.steam/sdk32/steamclient.so'))).isFile()).toBe(true);
  });

  it('says a wrong password is wrong and where to fix it', async () => {
    const { result, calls } = await install('badpass', { login: 'wrong' });
    expect(result).toBeInstanceOf(SteamInstallError);
    const e = result as SteamInstallError;
    expect(e.failure).toBe('invalid-password');
    expect(e.message).toBe('installation badpass: Steam rejected the password of login "wrong" (Invalid Password); correct it in /etc/left4me/secrets/steam.json');
    // A failed pass fails the unit, and systemd runs no later ExecStart=: linux is never tried.
    expect(calls.split('\n').filter((l) => l.startsWith('platform='))).toHaveLength(1);
    expect(await unitsLeft()).toEqual([]);
  });

  it('explains No subscription and Steam Guard', async () => {
    const nosub = await install('nosub', { login: 'nosub' });
    expect((nosub.result as SteamInstallError).failure).toBe('no-subscription');
    expect((nosub.result as SteamInstallError).message).toMatch(/^installation nosub: the account of login "nosub" may not download app 222860 \(No subscription\)/);
    const guarded = await install('guarded', { login: 'guarded' });
    expect((guarded.result as SteamInstallError).failure).toBe('steam-guard');
    expect(await unitsLeft()).toEqual([]);
  });

  it('quotes the last output when steamcmd fails in an unknown way, without the account name', async () => {
    const { result, lines } = await install('dropped', { login: 'dropped' });
    expect(result).toBeInstanceOf(SteamInstallError);
    const e = result as SteamInstallError;
    expect(e.failure).toBe('exit');
    // The full log has the account (it is root-only); the message goes to status and logs others may read.
    expect(lines.join('\n')).toContain("Logging in user 'dropper'");
    expect(e.message).toContain(`Logging in user '<account of login "dropped">' [U:1:1234567] to Steam Public...OK`);
    expect(e.message).toContain(`Connection to Steam lost for <account of login "dropped">; giving up`);
    expect(e.message).not.toContain('dropper');
    expect(e.tail.join('\n')).not.toContain('dropper');
  });

  it('refuses a secrets file others can read, before running anything', async () => {
    const file = join(host.dirs.etc, 'secrets', 'steam.json');
    await chmod(file, 0o644);
    try {
      const { result, calls } = await install('leaky');
      expect(result).toBeInstanceOf(SteamInstallError);
      expect((result as Error).message).toContain('chmod 600 /etc/left4me/secrets/steam.json');
      expect(calls).toBe('');
    } finally {
      await chmod(file, 0o600);
    }
  });
});
