// installFromSteam in a real private systemd, against a STAND-IN steamcmd.
// Real steamcmd cannot run here: it downloads itself and the game from Steam
// (no internet in tests) and 222860 needs a real Steam login. The stand-in
// below is a bash script that speaks steamcmd's command line and prints
// steamcmd's real output lines (self-update, login, progress, success and the
// failure messages), then writes a small game tree. What is tested is ours:
// the sandboxed unit, the login runscript, the windows-then-linux passes,
// output parsing into progress and errors, ownership and the sdk links.
import { chmod, mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installFromSteam, SteamInstallError, type SteamProgress } from '../controller/builds/steamcmd.js';
import type { InstallationSpec } from '../controller/documents/kinds.js';
import { DbusSystemdAdapter } from '../controller/systemd/dbus-adapter.js';
import { bootPrivateHost, type PrivateHost } from './harness/private-host.js';

const STAND_IN = String.raw`#!/bin/bash
# Stand-in for Valve's steamcmd.sh (see test/steamcmd.test.ts): same arguments,
# real output lines, a small game tree. Accounts: "l4dhost" with password
# "correct horse" owns the game; "nosub" logs in but owns nothing; any other
# password is invalid; "guarded" needs a Steam Guard code.
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$here/linux32/steamclient.so" ]; then
  echo "[  0%] Checking for available update..."
  echo "[  0%] Downloading update (0 of 10,335 KB)..."
  echo "[ 51%] Downloading update (5,278 of 10,335 KB)..."
  echo "[100%] Downloading update (10,335 of 10,335 KB)..."
  echo "[100%] Download Complete."
  mkdir -p "$here/linux32" "$here/linux64"
  printf 'stand-in steamclient.so (32-bit)\n' > "$here/linux32/steamclient.so"
  printf 'stand-in steamclient.so (64-bit)\n' > "$here/linux64/steamclient.so"
fi
echo "Redirecting stderr to '$HOME/Steam/logs/stderr.txt'"
echo "Steam Console Client (c) Valve Corporation - version 1785186678"
echo "-- type 'quit' to exit --"
echo "Loading Steam API...OK"
echo "argv $*" >> "$HOME/stand-in-calls.log"
platform=linux; dir=; user=; pass=; app=; validate=no
set -- "$@" +end
while [ $# -gt 0 ]; do
  case "$1" in
    +@sSteamCmdForcePlatformType) platform=$2; shift 2 ;;
    +force_install_dir) dir=$2; shift 2 ;;
    +runscript)
      line=$(head -n 1 "$2")
      user=$(printf '%s' "$line" | sed -nE 's/^login "([^"]*)" "([^"]*)"$/\1/p')
      pass=$(printf '%s' "$line" | sed -nE 's/^login "([^"]*)" "([^"]*)"$/\2/p')
      shift 2 ;;
    +app_update) app=$2; shift 2
      while [ $# -gt 0 ]; do
        case "$1" in +*) break ;; validate) validate=yes ;; esac
        shift
      done ;;
    *) shift ;;
  esac
done
echo "platform=$platform dir=$dir user=$user app=$app validate=$validate" >> "$HOME/stand-in-calls.log"
if [ "$user" = guarded ]; then
  echo "This computer has not been authenticated for your account using Steam Guard."
  echo "Logging in user '$user' [U:1:0] to Steam Public...FAILED (Account Logon Denied)"
  exit 5
fi
if [ "$pass" != "correct horse" ]; then
  echo "Logging in user '$user' [U:1:0] to Steam Public...FAILED (Invalid Password)"
  exit 5
fi
echo "Logging in user '$user' [U:1:1234567] to Steam Public...OK"
echo "Waiting for client config...OK"
echo "Waiting for user info...OK"
if [ "$user" = nosub ]; then
  echo "ERROR! Failed to install app '$app' (No subscription)"
  exit 8
fi
echo " Update state (0x3) reconfiguring, progress: 0.00 (0 / 0)"
echo " Update state (0x61) downloading, progress: 42.13 (4096 / 9723)"
echo " Update state (0x61) downloading, progress: 100.00 (9723 / 9723)"
[ "$validate" = yes ] && echo " Update state (0x81) verifying update, progress: 100.00 (9723 / 9723)"
mkdir -p "$dir/left4dead2/cfg" "$dir/bin"
echo '"GameInfo" { game "Left 4 Dead 2" }' > "$dir/left4dead2/gameinfo.txt"
if [ "$platform" = windows ]; then
  echo "windows build" > "$dir/srcds.exe"
else
  printf '#!/bin/sh\nexec ./srcds_linux "$@"\n' > "$dir/srcds_run"
  chmod 700 "$dir/srcds_run"
  echo "linux build" > "$dir/bin/engine_srv.so"
fi
echo "Success! App '$app' fully installed."
`;

const ACCOUNTS = {
  default: { username: 'l4dhost', password: 'correct horse' },
  wrong: { username: 'l4dhost', password: 'battery staple' },
  nosub: { username: 'nosub', password: 'correct horse' },
  guarded: { username: 'guarded', password: 'correct horse' },
};

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
  const installDir = `/var/lib/left4me/installations/${name}`;
  await rm(join(steamHome(), 'stand-in-calls.log'), { force: true });
  const result = await installFromSteam(installation(name, steam), {
    systemd,
    fsRoot: host.root,
    installDir,
    onProgress: (p) => progress.push(p),
    log: (l) => lines.push(l),
  }).catch((e: unknown) => e);
  const calls = await readFile(join(steamHome(), 'stand-in-calls.log'), 'utf8').catch(() => '');
  return { result, progress, lines, calls, dir: join(host.root, installDir) };
}

async function unitsLeft(): Promise<string[]> {
  return (await systemd.listUnits(['left4me-steamcmd-*'])).map((u) => u.name);
}

describe('installFromSteam (stand-in steamcmd)', () => {
  it('installs windows first, then linux, reporting progress, and links the Steam sdk', async () => {
    const { result, progress, lines, calls, dir } = await install('main');
    expect(result).toBeUndefined();

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
    expect([home.uid, home.mode & 0o777]).toEqual([host.account.uid, 0o700]);
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
