#!/bin/sh
# Removes what deploy/install.sh installed: the services (stopped and
# disabled), the game servers and their mounts (stopped), every unit file and
# drop-in left4me or the controller wrote, the sysctl file, the nftables
# snippet (and its table, if loaded), the sysusers and tmpfiles files and the
# package. State (/etc/left4me), data (/var/lib/left4me, /var/lib/left4me-web),
# the game servers' user records and the accounts stay, so that a reinstall
# finds everything as it was; --purge removes those too.
#
# Usage: uninstall.sh [--purge]
# The same environment variables as install.sh move the same paths; and
#   LEFT4ME_DATA_DIR=/var/lib/left4me   LEFT4ME_WEB_DATA_DIR=/var/lib/left4me-web
#   LEFT4ME_USERDB_DIR=/etc/userdb      (removed with --purge; only left4me's records in it)
set -eu

PREFIX=${LEFT4ME_PREFIX:-/usr/local}
UNIT_DIR=${LEFT4ME_UNIT_DIR:-/etc/systemd/system}
SYSUSERS_DIR=${LEFT4ME_SYSUSERS_DIR:-/etc/sysusers.d}
TMPFILES_DIR=${LEFT4ME_TMPFILES_DIR:-/etc/tmpfiles.d}
SYSCTL_DIR=${LEFT4ME_SYSCTL_DIR:-/etc/sysctl.d}
NFT_DIR=${LEFT4ME_NFT_DIR:-/etc/nftables.d}
CONFIG_DIR=${LEFT4ME_CONFIG_DIR:-/etc/left4me}
DATA_DIR=${LEFT4ME_DATA_DIR:-/var/lib/left4me}
WEB_DATA_DIR=${LEFT4ME_WEB_DATA_DIR:-/var/lib/left4me-web}
USERDB_DIR=${LEFT4ME_USERDB_DIR:-/etc/userdb}
MANAGED='# Managed by left4me — edits are overwritten'

say() { printf 'left4me uninstall: %s\n' "$*"; }
die() { printf 'left4me uninstall: %s\n' "$*" >&2; exit 1; }

PURGE=no
while [ $# -gt 0 ]; do
  case $1 in
    --purge) PURGE=yes; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run me as root"

gone() { rm -f "$1" && say "removed $1"; }

# --- stop: the services first (the controller would start servers again), then the servers ---
for u in left4me-web.service left4me-controller.service; do
  if [ -n "$(systemctl show -p LoadState --value "$u" 2>/dev/null | grep -v '^not-found$' || true)" ]; then
    systemctl disable --quiet --now "$u" 2>/dev/null || systemctl stop "$u" 2>/dev/null || true
    say "stopped and disabled $u"
  fi
done
# Game servers (and, through RequiresMountsFor=, their overlay mounts) and the slices' units.
servers=$(systemctl list-units --all --plain --no-legend 'left4me-server@*.service' 2>/dev/null | awk '{print $1}')
if [ -n "$servers" ]; then
  # shellcheck disable=SC2086 # one unit name a word
  systemctl disable --quiet --now $servers 2>/dev/null || systemctl stop $servers || true
  say "stopped and disabled $(echo "$servers" | wc -l) game servers"
fi
# Whatever the controller wrote into the unit directory starts with its header line.
mounts=
if [ -d "$UNIT_DIR" ]; then
  for f in "$UNIT_DIR"/* "$UNIT_DIR"/*.d/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    [ "$(head -n 1 "$f")" = "$MANAGED" ] || continue
    case $f in *.mount) mounts="$mounts ${f##*/}" ;; esac
  done
fi
if [ -n "$mounts" ]; then
  # shellcheck disable=SC2086
  systemctl stop $mounts 2>/dev/null || true
fi

# --- unit files ------------------------------------------------------------------------------
for u in left4me-controller.service left4me-web.service; do [ ! -e "$UNIT_DIR/$u" ] || gone "$UNIT_DIR/$u"; done
if [ -d "$UNIT_DIR" ]; then
  for f in "$UNIT_DIR"/* "$UNIT_DIR"/*.d/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    [ "$(head -n 1 "$f")" = "$MANAGED" ] || continue
    gone "$f"
  done
  # Enablement links of servers systemd did not have loaded (disabled above when it had): a link
  # to a template that is gone would fail at every boot.
  for l in "$UNIT_DIR"/*.wants/left4me-server@*.service "$UNIT_DIR"/*.requires/left4me-server@*.service; do
    if [ -L "$l" ]; then gone "$l"; fi
  done
  # Drop-in directories emptied above (never one holding an operator's file).
  for d in "$UNIT_DIR"/*.d; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
fi
systemctl daemon-reload
for u in l4d2-game.slice l4d2-build.slice l4d2.slice; do systemctl stop "$u" 2>/dev/null || true; done
systemctl reset-failed 'left4me-*' 'l4d2*' 2>/dev/null || true

# --- host files -------------------------------------------------------------------------------
if [ -e "$SYSCTL_DIR/60-left4me.conf" ]; then
  gone "$SYSCTL_DIR/60-left4me.conf"
  say "the kernel keeps its UDP buffer sizes until the next boot"
fi
if [ -e "$NFT_DIR/left4me.nft" ]; then
  gone "$NFT_DIR/left4me.nft"
  rmdir "$NFT_DIR" 2>/dev/null || true
fi
if command -v nft > /dev/null && nft list table inet left4me > /dev/null 2>&1; then
  nft delete table inet left4me && say "deleted the nftables table inet left4me"
fi
for f in "$SYSUSERS_DIR/left4me.conf" "$TMPFILES_DIR/left4me.conf"; do [ ! -e "$f" ] || gone "$f"; done
# (Their directories stay, even when empty: systemd's own, which other packages use too.)

# --- the package ------------------------------------------------------------------------------
if [ -d "$PREFIX/lib/node_modules/left4me" ]; then
  npm uninstall -g left4me --prefix "$PREFIX" --no-fund --no-audit --loglevel=error >&2 || die "npm uninstall -g left4me failed"
  say "removed the package from $PREFIX"
fi

# --- state and data ---------------------------------------------------------------------------
if [ $PURGE = no ]; then
  say "kept $CONFIG_DIR (state, settings, secrets), $DATA_DIR and $WEB_DATA_DIR (data), $USERDB_DIR/left4me-*.user and the accounts: uninstall.sh --purge removes them"
  exit 0
fi
# Writable layers can still be mounted if a stop failed: never delete through a mount.
if grep -q " $DATA_DIR/" /proc/self/mountinfo; then die "something is still mounted under $DATA_DIR: $(grep " $DATA_DIR/" /proc/self/mountinfo | awk '{print $5}' | head -3)"; fi
for d in "$CONFIG_DIR" "$DATA_DIR" "$WEB_DATA_DIR"; do
  if [ -e "$d" ]; then rm -rf "$d" && say "removed $d"; fi
done
# The game servers' journal namespace.
for d in /var/log/journal/*.left4me; do [ ! -d "$d" ] || { rm -rf "$d" && say "removed $d"; }; done
# Only left4me's user records: left4me-UID.user and the UID.user links to them.
if [ -d "$USERDB_DIR" ]; then
  for f in "$USERDB_DIR"/*.user; do
    case ${f##*/} in
      left4me-[0-9]*.user) gone "$f" ;;
      [0-9]*.user) [ -L "$f" ] && case $(readlink "$f") in left4me-[0-9]*.user) gone "$f" ;; esac ;;
    esac
  done
  rmdir "$USERDB_DIR" 2>/dev/null || true
fi
for a in left4me-web left4me-build left4me; do
  if getent passwd "$a" > /dev/null; then userdel "$a" && say "removed the account $a"; fi
  if getent group "$a" > /dev/null; then groupdel "$a" && say "removed the group $a"; fi
done
