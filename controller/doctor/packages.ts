/**
 * Which Debian package brings what the host lacks, by release: the names
 * changed between Debian 12 (bookworm) and 13 (trixie) for some of them.
 * Reads /etc/os-release through the probe; the table itself is data.
 */
import type { HostProbe } from './probe.js';

/** Something left4me, srcds, the demo or the tests need from the host, named by what provides it. */
export type Need = 'systemd' | 'dbus' | 'util-linux' | '7z' | 'git' | 'chromium' | 'faketime' | 'lib32' | 'libnss-systemd' | 'curl';

/** Debian 12 and 13 package names; one name when both releases agree. */
const PACKAGES: Record<Need, { 12: string; 13: string }> = {
  systemd: { 12: 'systemd', 13: 'systemd' },
  // The daemon is its own package on both releases; `dbus` pulls it in together with the system bus
  // unit (dbus.service) and its policy, which a bare dbus-daemon lacks.
  dbus: { 12: 'dbus', 13: 'dbus' },
  'util-linux': { 12: 'util-linux', 13: 'util-linux' },
  // bookworm's 7zip only ships `7zz`; `7z` comes from p7zip-full there, from 7zip on trixie.
  '7z': { 12: 'p7zip-full', 13: '7zip' },
  git: { 12: 'git', 13: 'git' },
  chromium: { 12: 'chromium', 13: 'chromium' },
  // The tests' clock jumps (libfaketime comes with it).
  faketime: { 12: 'faketime', 13: 'faketime' },
  // srcds_linux is 32-bit: these bring libgcc_s and libstdc++ for i386, and through libc6-i386 the loader.
  lib32: { 12: 'lib32gcc-s1 lib32stdc++6', 13: 'lib32gcc-s1 lib32stdc++6' },
  'libnss-systemd': { 12: 'libnss-systemd', 13: 'libnss-systemd' },
  curl: { 12: 'curl', 13: 'curl' },
};

/** The host's Debian major release (`12`, `13`) from os-release, or undefined when it is not Debian or says no version. */
export async function debianRelease(probe: HostProbe): Promise<string | undefined> {
  const text = (await probe.read('/etc/os-release')) ?? (await probe.read('/usr/lib/os-release')) ?? '';
  const field = (key: string) => new RegExp(`^${key}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1];
  if (field('ID') !== 'debian' && !(field('ID_LIKE') ?? '').split(' ').includes('debian')) return undefined;
  return field('VERSION_ID')?.split('.')[0];
}

/** The package(s) to install for a need on that release; both names, labelled, when the release is unknown and they differ. */
export function packageFor(need: Need, release: string | undefined): string {
  const p = PACKAGES[need];
  if (release === '12' || release === '13') return p[release];
  return p[12] === p[13] ? p[12] : `${p[13]} (Debian 13) or ${p[12]} (Debian 12)`;
}

/** `apt-get install …` for needs on that release. */
export function aptInstall(needs: Need[], release: string | undefined): string {
  const names = needs.map((n) => packageFor(n, release));
  return names.some((n) => n.includes('(')) ? `apt-get install ${names.join(', ')}` : `apt-get install ${names.join(' ')}`;
}
