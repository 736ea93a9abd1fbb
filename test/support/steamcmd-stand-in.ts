// A stand-in for Valve's steamcmd.sh, shared by the steamcmd and controller
// tests. Real steamcmd cannot run here: it downloads itself and the game from
// Steam (no internet in tests) and app 222860 needs a real Steam login. This
// bash script speaks steamcmd's command line, prints steamcmd's real output
// lines (self-update, login, progress, success and failure messages) and
// writes a small game tree — or copies <steam home>/payload, when a test puts
// a playable tree there. What the tests check is ours, not Steam's.

/** The stand-in steamcmd.sh (see the header). */
export const STAND_IN = String.raw`#!/bin/bash
# Stand-in for Valve's steamcmd.sh (see test/steamcmd.test.ts): same arguments,
# real output lines, a small game tree. Accounts: "l4dhost" with password
# "correct horse" owns the game; "nosub" logs in but owns nothing; any other
# password is invalid; "guarded" needs a Steam Guard code; "dropper" logs in,
# then fails with output steamcmd has no known message for.
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
if [ "$user" = dropper ]; then
  echo "Connection to Steam lost for $user; giving up"
  exit 6
fi
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
  # A test may place a playable tree (the demo game server) as what "Steam" delivers.
  [ -d "$here/../payload" ] && cp -a "$here/../payload/." "$dir/"
fi
echo "Success! App '$app' fully installed."
`;

/** The secrets file's logins the stand-in knows. */
export const ACCOUNTS = {
  default: { username: 'l4dhost', password: 'correct horse' },
  wrong: { username: 'l4dhost', password: 'battery staple' },
  nosub: { username: 'nosub', password: 'correct horse' },
  guarded: { username: 'guarded', password: 'correct horse' },
  dropped: { username: 'dropper', password: 'correct horse' },
};

