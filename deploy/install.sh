#!/bin/sh
# left4me on a host, in one command: the package, its accounts and
# directories, the controller and web units, the UDP sysctls, an nftables
# snippet and (optionally) CPU pinning of the game servers; then it starts
# the services and checks they work. Idempotent: every file is compared with
# what it would write (sha256) and left alone when equal, so a second run
# prints "unchanged" for each and "nothing changed" at the end.
#
# Usage: install.sh [TARBALL] [--game-cpus LIST] [--web-listen ADDR:PORT]
#                   [--game-ports A-B] [--client-ports A-B] [--rcon-from CIDR[,CIDR...]]
#                   [--firewall]
# Without TARBALL it must run from an installed package's deploy/ (npm install -g
# put it there) and installs nothing new. See README.md, "Installing on a host".
# --game-ports and --client-ports are the ranges the firewall opens and, in a
# new /etc/left4me/controller.yaml, the ranges the controller leases; an existing
# file must name the same ones (the script refuses to disagree with it).
#
# Every path it writes can be moved with an environment variable, so that a test
# (or a packager) can point it anywhere; the defaults are a Debian host's:
#   LEFT4ME_PREFIX=/usr/local               npm's global prefix (bin/left4me, lib/node_modules/left4me)
#   LEFT4ME_UNIT_DIR=/etc/systemd/system    LEFT4ME_SYSUSERS_DIR=/etc/sysusers.d
#   LEFT4ME_TMPFILES_DIR=/etc/tmpfiles.d    LEFT4ME_SYSCTL_DIR=/etc/sysctl.d
#   LEFT4ME_NFT_DIR=/etc/nftables.d         LEFT4ME_CONFIG_DIR=/etc/left4me
#   LEFT4ME_SYSFS_CPU=/sys/devices/system/cpu   (read: the CPU topology)
#   LEFT4ME_APPLY_SYSCTL=yes                no: write the sysctl file but leave the kernel alone
set -eu

PREFIX=${LEFT4ME_PREFIX:-}
UNIT_DIR=${LEFT4ME_UNIT_DIR:-/etc/systemd/system}
SYSUSERS_DIR=${LEFT4ME_SYSUSERS_DIR:-/etc/sysusers.d}
TMPFILES_DIR=${LEFT4ME_TMPFILES_DIR:-/etc/tmpfiles.d}
SYSCTL_DIR=${LEFT4ME_SYSCTL_DIR:-/etc/sysctl.d}
NFT_DIR=${LEFT4ME_NFT_DIR:-/etc/nftables.d}
CONFIG_DIR=${LEFT4ME_CONFIG_DIR:-/etc/left4me}
SYSFS_CPU=${LEFT4ME_SYSFS_CPU:-/sys/devices/system/cpu}
APPLY_SYSCTL=${LEFT4ME_APPLY_SYSCTL:-yes}

# Everything the controller writes carries this first line; uninstall.sh removes by it.
MANAGED='# Managed by left4me — edits are overwritten'

say() { printf 'left4me install: %s\n' "$*"; }
die() { printf 'left4me install: %s\n' "$*" >&2; exit 1; }

TARBALL=
GAME_CPUS=
WEB_LISTEN=127.0.0.1:8000
GAME_PORTS=27015-27115
CLIENT_PORTS=26900-27000
RCON_FROM=
FIREWALL=no
while [ $# -gt 0 ]; do
  case $1 in
    --game-cpus) [ $# -ge 2 ] || die "--game-cpus needs a CPU list (e.g. 2-3)"; GAME_CPUS=$2; shift 2 ;;
    --web-listen) [ $# -ge 2 ] || die "--web-listen needs ADDR:PORT"; WEB_LISTEN=$2; shift 2 ;;
    --game-ports) [ $# -ge 2 ] || die "--game-ports needs A-B"; GAME_PORTS=$2; shift 2 ;;
    --client-ports) [ $# -ge 2 ] || die "--client-ports needs A-B"; CLIENT_PORTS=$2; shift 2 ;;
    --rcon-from) [ $# -ge 2 ] || die "--rcon-from needs CIDR[,CIDR...]"; RCON_FROM=$2; shift 2 ;;
    --firewall) FIREWALL=yes; shift ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$TARBALL" ] || die "one tarball only (got $TARBALL and $1)"; TARBALL=$1; shift ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run me as root (I create accounts, write /etc and start units)"

# --- checks of the input: every value lands in a unit, sed expression or nft file -----------
# Paths: absolute, no characters that sed, systemd or nft would read specially.
for v in "$UNIT_DIR" "$SYSUSERS_DIR" "$TMPFILES_DIR" "$SYSCTL_DIR" "$NFT_DIR" "$CONFIG_DIR" ${PREFIX:+"$PREFIX"}; do
  case $v in /*) ;; *) die "$v: a path must be absolute" ;; esac
  case $v in *[!A-Za-z0-9._/+-]*) die "$v: only letters, digits and ._/+- in paths" ;; esac
done
echo "$WEB_LISTEN" | grep -Eq '^[0-9.]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$' ||
  die "--web-listen $WEB_LISTEN: expected ADDR:PORT (e.g. 127.0.0.1:8000)"
range() { # NAME VALUE: A-B, 1 <= A <= B <= 65535
  echo "$2" | grep -Eq '^[0-9]{1,5}-[0-9]{1,5}$' || die "$1 $2: expected A-B (e.g. 27015-27115)"
  a=${2%-*}; b=${2#*-}
  [ "$a" -ge 1 ] && [ "$b" -le 65535 ] && [ "$a" -le "$b" ] || die "$1 $2: ports are 1-65535, low end first"
}
range --game-ports "$GAME_PORTS"
range --client-ports "$CLIENT_PORTS"
[ "${CLIENT_PORTS#*-}" -lt "${GAME_PORTS%-*}" ] || [ "${CLIENT_PORTS%-*}" -gt "${GAME_PORTS#*-}" ] ||
  die "--game-ports $GAME_PORTS and --client-ports $CLIENT_PORTS overlap: a port is one or the other"
# The controller leases ports from controller.yaml and the firewall snippet opens the flags' ranges:
# an existing file must agree with the flags, or servers would listen where the firewall drops.
configured() { # KEY DEFAULT FLAG: the file's `KEY: A-B`, DEFAULT when the file lacks the line, FLAG when there is no file yet
  [ -e "$CONFIG_DIR/controller.yaml" ] || { echo "$3"; return; }
  grep -Eq "^$1:" "$CONFIG_DIR/controller.yaml" || { echo "$2"; return; }
  v=$(sed -n "s/^$1:[[:space:]]*\\([0-9]\\{1,5\\}-[0-9]\\{1,5\\}\\)[[:space:]]*\\(#.*\\)\\{0,1\\}$/\\1/p" "$CONFIG_DIR/controller.yaml")
  [ -n "$v" ] || die "$CONFIG_DIR/controller.yaml: cannot read $1 (write it as $1: A-B)"
  echo "$v"
}
v=$(configured portRange 27015-27115 "$GAME_PORTS")
[ "$v" = "$GAME_PORTS" ] || die "$CONFIG_DIR/controller.yaml leases game ports $v, but --game-ports is $GAME_PORTS: the firewall would open the wrong ones (give --game-ports $v, or change portRange there)"
v=$(configured clientPortRange 26900-27000 "$CLIENT_PORTS")
[ "$v" = "$CLIENT_PORTS" ] || die "$CONFIG_DIR/controller.yaml leases client ports $v, but --client-ports is $CLIENT_PORTS: the firewall would open the wrong ones (give --client-ports $v, or change clientPortRange there)"
RCON4=
RCON6=
if [ -n "$RCON_FROM" ]; then
  for n in $(echo "$RCON_FROM" | tr ',' ' '); do
    if echo "$n" | grep -Eq '^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$'; then RCON4="${RCON4:+$RCON4, }$n"
    elif echo "$n" | grep -Eq '^[0-9a-fA-F:]*:[0-9a-fA-F:]*(/[0-9]{1,3})?$'; then RCON6="${RCON6:+$RCON6, }$n"
    else die "--rcon-from $n: not an IPv4 or IPv6 network"; fi
  done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- CPU pinning: checked first -----------------------------------------------------------------
# cpulist LIST: one CPU number a line, sorted; dies on anything but N, N-M and commas.
cpulist() {
  echo "$1" | grep -Eq '^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$' || die "CPU list \"$1\": expected e.g. 2-3 or 2,3,6-7"
  echo "$1" | tr ',' '\n' | awk -F- '$2 != "" && $1 + 0 > $2 + 0 { exit 1 }' || die "CPU list \"$1\": a range runs backwards"
  echo "$1" | tr ',' '\n' | awk -F- '{ for (i = $1; i <= ($2 == "" ? $1 : $2); i++) print i }' | sort -n -u
}
# compact: numbers on stdin (sorted) → 0-1,4,6-7
compact() {
  awk 'NR == 1 { s = $1; p = $1; next }
       $1 == p + 1 { p = $1; next }
       { out = out (out == "" ? "" : ",") (s == p ? s : s "-" p); s = $1; p = $1 }
       END { if (NR) print out (out == "" ? "" : ",") (s == p ? s : s "-" p) }'
}
CPU_DROPINS="l4d2-game.slice.d system.slice.d user.slice.d l4d2-build.slice.d"
if [ -n "$GAME_CPUS" ]; then
  [ -r "$SYSFS_CPU/online" ] || die "$SYSFS_CPU/online is unreadable: cannot check --game-cpus"
  cpulist "$(cat "$SYSFS_CPU/online")" > "$work/online"
  cpulist "$GAME_CPUS" > "$work/game"
  bad=$(comm -23 "$work/game" "$work/online" | compact)
  [ -z "$bad" ] || die "--game-cpus $GAME_CPUS: CPU $bad is not online here (online: $(compact < "$work/online"))"
  # A core's SMT siblings share its caches and execution units: a game server on one and a
  # build on the other would still compete. So a set must hold both siblings or neither.
  : > "$work/wanted"
  while read -r c; do
    f=$SYSFS_CPU/cpu$c/topology/thread_siblings_list
    if [ -r "$f" ]; then cpulist "$(cat "$f")" >> "$work/wanted"; else echo "$c" >> "$work/wanted"; fi
  done < "$work/game"
  sort -n -u "$work/wanted" -o "$work/wanted"
  if ! cmp -s "$work/wanted" "$work/game"; then
    die "--game-cpus $GAME_CPUS splits SMT siblings (CPU $(comm -13 "$work/game" "$work/wanted" | compact) share a core with it): use --game-cpus $(compact < "$work/wanted"), or fewer cores"
  fi
  comm -23 "$work/online" "$work/game" > "$work/rest"
  [ -s "$work/rest" ] || die "--game-cpus $GAME_CPUS is every online CPU: leave at least one core to the rest of the system"
  game=$(compact < "$work/game")
  rest=$(compact < "$work/rest")
fi

# --- where the package comes from ---------------------------------------------------------
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$TARBALL" ]; then
  # Run from an installed package: lib/node_modules/left4me/deploy under npm's prefix.
  pkg=$(dirname "$here")
  case $pkg in
    */lib/node_modules/left4me) [ -n "$PREFIX" ] || PREFIX=${pkg%/lib/node_modules/left4me} ;;
    *) die "no tarball given and $here is not an installed package's deploy/: run \`npm pack\`, then install.sh left4me-VERSION.tgz" ;;
  esac
fi
PREFIX=${PREFIX:-/usr/local}
PKG_DIR=$PREFIX/lib/node_modules/left4me
BIN=$PREFIX/bin/left4me
CHANGED=0

# --- the package ---------------------------------------------------------------------------
if [ -n "$TARBALL" ]; then
  [ -f "$TARBALL" ] || die "$TARBALL: no such file"
  sum=$(sha256sum "$TARBALL" | cut -d' ' -f1)
  stamp=$PKG_DIR/.left4me-tarball.sha256
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -x "$BIN" ]; then
    say "unchanged $PKG_DIR (the same tarball, sha256 $sum)"
  else
    say "installing $TARBALL into $PREFIX (npm install -g --omit=dev)"
    npm install -g "$TARBALL" --omit=dev --prefix "$PREFIX" --no-fund --no-audit --loglevel=error >&2 ||
      die "npm install -g $TARBALL failed"
    printf '%s\n' "$sum" > "$stamp"
    say "wrote $PKG_DIR"
    CHANGED=$((CHANGED + 1))
    PACKAGE_CHANGED=yes
  fi
fi
[ -x "$BIN" ] || die "$BIN is missing: the package is not installed under $PREFIX"
DEPLOY=$PKG_DIR/deploy
[ -f "$DEPLOY/left4me-controller.service" ] || die "$DEPLOY has no left4me-controller.service: not a left4me package"

# --- writing files only when they differ ----------------------------------------------------
# put SOURCE DEST MODE: installs SOURCE as DEST unless DEST already has the same bytes.
# Sets WROTE=yes when it wrote; prints "wrote" or "unchanged" with the path.
put() {
  WROTE=no
  if [ -f "$2" ] && [ "$(sha256sum < "$1")" = "$(sha256sum < "$2")" ]; then
    say "unchanged $2"
    # The mode is part of what it installs: a drifted one is put back (still no new bytes).
    [ "$(stat -c %a "$2")" = "$3" ] || { chmod "$3" "$2"; say "  mode of $2 set back to $3"; CHANGED=$((CHANGED + 1)); }
    return 0
  fi
  mkdir -p "$(dirname "$2")"
  tmp=$(dirname "$2")/.$(basename "$2").left4me-tmp
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
  say "wrote $2"
  WROTE=yes
  CHANGED=$((CHANGED + 1))
}
# drop FILE: removes a file an earlier run wrote and this one does not want.
drop() {
  if [ -e "$1" ]; then
    rm -f "$1"
    rmdir "$(dirname "$1")" 2>/dev/null || true
    say "removed $1"
    CHANGED=$((CHANGED + 1))
    DROPPED=yes
  fi
}

# --- accounts and directories --------------------------------------------------------------
put "$DEPLOY/left4me.sysusers.conf" "$SYSUSERS_DIR/left4me.conf" 644
put "$DEPLOY/left4me.tmpfiles.conf" "$TMPFILES_DIR/left4me.conf" 644
# Both are idempotent: on a host that has everything they change nothing.
systemd-sysusers "$SYSUSERS_DIR/left4me.conf" || die "systemd-sysusers $SYSUSERS_DIR/left4me.conf failed"
systemd-tmpfiles --create "$TMPFILES_DIR/left4me.conf" || die "systemd-tmpfiles --create $TMPFILES_DIR/left4me.conf failed"
# The example settings, every line commented out but the port ranges when the flags moved them;
# an operator's file is never replaced (and was checked against the flags above).
if [ -e "$CONFIG_DIR/controller.yaml" ]; then
  say "unchanged $CONFIG_DIR/controller.yaml (yours: never replaced)"
else
  sed -e "s/^# portRange: 27015-27115\$/$( [ "$GAME_PORTS" = 27015-27115 ] && echo '# ' )portRange: $GAME_PORTS/" \
    -e "s/^# clientPortRange: 26900-27000\$/$( [ "$CLIENT_PORTS" = 26900-27000 ] && echo '# ' )clientPortRange: $CLIENT_PORTS/" \
    "$DEPLOY/controller.yaml" > "$work/controller.yaml"
  put "$work/controller.yaml" "$CONFIG_DIR/controller.yaml" 644
fi

# --- units -----------------------------------------------------------------------------------
# The units as shipped, with only the CLI's path (when the prefix is not /usr/local) and the
# web address replaced. The game server template and the slices are not here: the controller
# renders them into the unit directory itself at every start.
UNITS_CHANGED=no
sed "s|/usr/local/bin/left4me |$BIN |g" "$DEPLOY/left4me-controller.service" > "$work/controller"
sed -e "s|/usr/local/bin/left4me |$BIN |g" -e "s|--listen 127\.0\.0\.1:8000 |--listen $WEB_LISTEN |" "$DEPLOY/left4me-web.service" > "$work/web"
put "$work/controller" "$UNIT_DIR/left4me-controller.service" 644
[ $WROTE = no ] || UNITS_CHANGED=yes CONTROLLER_CHANGED=yes
put "$work/web" "$UNIT_DIR/left4me-web.service" 644
[ $WROTE = no ] || UNITS_CHANGED=yes WEB_CHANGED=yes

# --- CPU pinning (optional; checked above, before anything was written) -----------------------
if [ -n "$GAME_CPUS" ]; then
  for d in $CPU_DROPINS; do
    if [ "$d" = l4d2-game.slice.d ]; then cpus=$game; why="game servers: only these CPUs (install.sh --game-cpus)"
    else cpus=$rest; why="everything but the game servers: the CPUs they do not have (install.sh --game-cpus $game)"; fi
    printf '%s\n# %s\n[Slice]\nAllowedCPUs=%s\n' "$MANAGED" "$why" "$cpus" > "$work/cpus"
    put "$work/cpus" "$UNIT_DIR/$d/60-left4me-cpus.conf" 644
    [ $WROTE = no ] || UNITS_CHANGED=yes
  done
else
  # The options describe the whole wanted state: without --game-cpus nothing is pinned.
  DROPPED=no
  for d in $CPU_DROPINS; do drop "$UNIT_DIR/$d/60-left4me-cpus.conf"; done
  [ $DROPPED = no ] || UNITS_CHANGED=yes
fi

# --- sysctl -----------------------------------------------------------------------------------
cat > "$work/sysctl" <<'EOF'
# left4me (deploy/install.sh): socket buffers for many UDP game servers.
# A server's tick bursts outrun the default 208 KiB receive buffer; drops show
# as "UdpRcvbufErrors" in `netstat -su`.
net.core.rmem_max = 8388608
net.core.wmem_max = 8388608
net.core.rmem_default = 524288
net.core.wmem_default = 524288
net.ipv4.udp_rmem_min = 16384
net.ipv4.udp_wmem_min = 16384
# Packets the kernel queues per CPU before the stack takes them, and takes per poll.
net.core.netdev_max_backlog = 5000
net.core.netdev_budget = 600
EOF
put "$work/sysctl" "$SYSCTL_DIR/60-left4me.conf" 644
if [ $WROTE = yes ]; then
  if [ "$APPLY_SYSCTL" != yes ]; then say "not applied (LEFT4ME_APPLY_SYSCTL=$APPLY_SYSCTL): takes effect at the next boot"
  # A container's /proc/sys is read-only: the kernel's knobs belong to whoever runs the container.
  elif [ ! -w /proc/sys/net/core/rmem_max ]; then say "not applied: /proc/sys is read-only here (a container?); set these on the machine that runs it"
  else sysctl --system > /dev/null || die "sysctl --system failed"; say "applied $SYSCTL_DIR/60-left4me.conf (sysctl --system)"; fi
fi

# --- nftables snippet -------------------------------------------------------------------------
# Its own table, so loading it touches no other rules; it starts by deleting itself,
# so loading it again replaces it. In nftables a packet one table drops is dropped,
# whatever another accepts: on a default-drop firewall add the same accepts there.
{
  printf '%s\n' "# left4me (deploy/install.sh): game ports open (UDP), RCON (TCP on the game ports) only from"
  printf '%s\n' "# the networks given with --rcon-from (else loopback), game traffic marked DSCP EF."
  printf '%s\n' "# Load: nft -f THIS (install.sh --firewall does); persist: include it from /etc/nftables.conf."
  printf 'table inet left4me\ndelete table inet left4me\n\n'
  printf 'table inet left4me {\n'
  printf '\tset rcon4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 127.0.0.0/8%s }\n\t}\n' "${RCON4:+, $RCON4}"
  printf '\tset rcon6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { ::1/128%s }\n\t}\n\n' "${RCON6:+, $RCON6}"
  printf '\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n'
  printf '\t\tudp dport { %s, %s } accept\n' "$GAME_PORTS" "$CLIENT_PORTS"
  printf '\t\ttcp dport %s ip saddr @rcon4 accept\n' "$GAME_PORTS"
  printf '\t\ttcp dport %s ip6 saddr @rcon6 accept\n' "$GAME_PORTS"
  printf '\t\ttcp dport %s drop\n\t}\n\n' "$GAME_PORTS"
  printf '\tchain qos {\n\t\ttype filter hook postrouting priority mangle; policy accept;\n'
  printf '\t\tudp sport { %s, %s } ip dscp set ef\n' "$GAME_PORTS" "$CLIENT_PORTS"
  printf '\t\tudp sport { %s, %s } ip6 dscp set ef\n\t}\n}\n' "$GAME_PORTS" "$CLIENT_PORTS"
} > "$work/nft"
put "$work/nft" "$NFT_DIR/left4me.nft" 644
if [ $FIREWALL = yes ]; then
  command -v nft > /dev/null || die "--firewall: nft is missing (apt-get install nftables)"
  nft -f "$NFT_DIR/left4me.nft" || die "nft -f $NFT_DIR/left4me.nft failed"
  say "loaded $NFT_DIR/left4me.nft (table inet left4me)"
fi

# --- enable and start ------------------------------------------------------------------------
if [ $UNITS_CHANGED = yes ]; then systemctl daemon-reload; say "systemctl daemon-reload"; fi
for u in left4me-controller.service left4me-web.service; do
  if [ "$(systemctl is-enabled "$u" 2>/dev/null || true)" != enabled ]; then
    systemctl enable --quiet "$u"
    say "enabled $u"
    CHANGED=$((CHANGED + 1))
  fi
done
# A new unit file or package reaches a running service only through a restart.
if [ "${CONTROLLER_CHANGED:-no}${PACKAGE_CHANGED:-no}" != nono ] && systemctl is-active --quiet left4me-controller.service; then
  systemctl restart left4me-controller.service; say "restarted left4me-controller.service"
fi
if [ "${WEB_CHANGED:-no}${PACKAGE_CHANGED:-no}" != nono ] && systemctl is-active --quiet left4me-web.service; then
  systemctl restart left4me-web.service; say "restarted left4me-web.service"
fi
for u in left4me-controller.service left4me-web.service; do
  if ! systemctl is-active --quiet "$u"; then
    systemctl start "$u" || { journalctl --no-pager -n 30 -u "$u" >&2 || true; die "$u did not start"; }
    say "started $u"
    CHANGED=$((CHANGED + 1))
  fi
done

# --- verify ----------------------------------------------------------------------------------
# waitfor SECONDS WHAT COMMAND...: polls COMMAND once a second until it succeeds.
waitfor() {
  n=$1; what=$2; shift 2
  while ! "$@" > /dev/null 2>&1; do
    n=$((n - 1))
    [ $n -gt 0 ] || return 1
    sleep 1
  done
}
problems=0
problem() { printf 'left4me install: PROBLEM: %s\n' "$*" >&2; problems=$((problems + 1)); }
# The controller writes the template and slices as it starts: their presence says it got that far.
waitfor 60 "the controller's units" test -f "$UNIT_DIR/left4me-server@.service" ||
  problem "the controller did not write $UNIT_DIR/left4me-server@.service within 60 s (journalctl -u left4me-controller)"
for u in left4me-controller.service left4me-web.service; do
  if waitfor 30 "$u" systemctl is-active --quiet "$u"; then say "ok: $u is active"
  else problem "$u is $(systemctl is-active "$u" || true) (journalctl -u $u)"; fi
done
# systemd's own check of every unit left4me installs (a template is checked through an instance).
for f in left4me-controller.service left4me-web.service left4me-server@.service l4d2.slice l4d2-game.slice l4d2-build.slice; do
  [ -f "$UNIT_DIR/$f" ] || { problem "$UNIT_DIR/$f is missing"; continue; }
  case $f in *@.service) name=${f%@.service}@verify.service ;; *) name=$f ;; esac
  out=$(systemd-analyze verify "$name" 2>&1) || true
  # An instance's srcds_run is on its overlay, which is mounted only while it runs: the one
  # complaint about an instance that does not exist is that, and it is not a fault.
  case $name in *@verify.service) out=$(printf '%s\n' "$out" | grep -v "Command [^ ]*/runtime/verify/[^ ]* is not executable" || true) ;; esac
  if [ -z "$out" ]; then say "ok: systemd-analyze verify $name"; else problem "systemd-analyze verify $name: $out"; fi
done
if [ -n "$GAME_CPUS" ]; then
  for d in $CPU_DROPINS; do
    s=${d%.d}
    case $(systemctl show -p DropInPaths --value "$s") in
      *"$UNIT_DIR/$d/60-left4me-cpus.conf"*) say "ok: $s has AllowedCPUs=$(systemctl show -p AllowedCPUs --value "$s")" ;;
      *) problem "$s did not load $UNIT_DIR/$d/60-left4me-cpus.conf (systemctl daemon-reload)" ;;
    esac
  done
fi
healthz() {
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://$WEB_LISTEN/healthz"
}
if waitfor 30 /healthz healthz; then say "ok: http://$WEB_LISTEN/healthz answers"
else problem "http://$WEB_LISTEN/healthz does not answer (journalctl -u left4me-web)"; fi

if [ $CHANGED -eq 0 ]; then say "nothing changed"; else say "$CHANGED changes"; fi
[ $problems -eq 0 ] || die "$problems problems: see above"

cat <<EOF

left4me is installed and running. Next:
  1. For Steam installations, the login (root only):
       (umask 077; echo '{"default": {"username": "...", "password": "..."}}' > $CONFIG_DIR/secrets/steam.json)
  2. Documents: write them into $CONFIG_DIR/state (left4me apply -f FILE), or name a git
     source in $CONFIG_DIR/controller.yaml, then: systemctl restart left4me-controller
  3. The first web account (prints its password once): $BIN user add admin --admin
  4. The dashboard listens on http://$WEB_LISTEN: put a TLS proxy in front of it.
  5. Check the host: $BIN doctor
EOF
