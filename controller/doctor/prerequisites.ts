/**
 * The doctor's prerequisite subset: what the demo (`npm start`) and the test
 * suite need from this machine before a private systemd host can boot, with
 * the Debian package for each, so they stop with one clear message instead
 * of failing somewhere inside a boot. `.ci/run` installs the same packages.
 */
import { checkOverlayfs } from './checks/system.js';
import { debianRelease, packageFor, type Need } from './packages.js';
import type { HostProbe } from './probe.js';

/** One thing the machine lacks and the package that brings it. */
export interface Missing {
  what: string;
  /** The Debian package(s) to install (or what to do, for the kernel). */
  fix: string;
}

/** What a private host runs: each entry is either a command on the PATH or a fixed path the harness execs. */
const TOOLS: Array<{ what: string; need: Need; command?: string; path?: string }> = [
  // host-setup.ts execs this path as the namespace's PID 1; the harness and tests run systemctl inside.
  { what: 'systemd (/lib/systemd/systemd)', need: 'systemd', path: '/lib/systemd/systemd' },
  { what: 'systemctl', need: 'systemd', command: 'systemctl' },
  // The private host starts dbus.service, whose ExecStart= is this binary.
  { what: 'dbus-daemon (/usr/bin/dbus-daemon)', need: 'dbus', path: '/usr/bin/dbus-daemon' },
  { what: 'unshare', need: 'util-linux', command: 'unshare' },
  { what: 'nsenter', need: 'util-linux', command: 'nsenter' },
  { what: 'setpriv', need: 'util-linux', command: 'setpriv' },
  { what: '7z', need: '7z', command: '7z' },
  { what: 'git', need: 'git', command: 'git' },
];

const OVERLAYFS = 'overlayfs (kernel)';

/**
 * libfaketime at Debian's multiarch path: the clock-jump tests preload it into
 * a controller to step its wall clock (test/support/faketime.ts).
 */
export const LIBFAKETIME = `/usr/lib/${process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu'}/faketime/libfaketime.so.1`;

/** What only the test suite needs: the UI tests' browser (test/support/chromium.ts: the system's Chromium, never a downloaded one) and libfaketime. */
const SUITE_TOOLS = [
  { what: 'chromium (/usr/bin/chromium)', need: 'chromium' as Need, path: '/usr/bin/chromium' },
  { what: `libfaketime (${LIBFAKETIME})`, need: 'faketime' as Need, path: LIBFAKETIME },
];

/** What is missing on this machine for the demo (or, with `suite`, the test suite); [] when nothing is. */
export async function missingPrerequisites(probe: HostProbe, opts: { suite?: boolean } = {}): Promise<Missing[]> {
  const release = await debianRelease(probe);
  const missing: Missing[] = [];
  for (const t of [...TOOLS, ...(opts.suite ? SUITE_TOOLS : [])]) {
    const found = 'command' in t && t.command ? await probe.which(t.command) : await probe.exists(t.path!);
    if (!found) missing.push({ what: t.what, fix: packageFor(t.need, release) });
  }
  const overlay = await checkOverlayfs(probe);
  if (overlay.status !== 'ok') missing.push({ what: OVERLAYFS, fix: overlay.fix ?? 'modprobe overlay' });
  return missing;
}

/** One message listing what is missing and, at its end, the one apt-get line that installs the packages. */
export function prerequisiteMessage(missing: Missing[], who: string): string {
  const kernel = (m: Missing) => m.what === OVERLAYFS;
  const fixes = missing.filter((m) => !kernel(m)).map((m) => m.fix);
  const packages = [...new Set(fixes.flatMap((f) => f.split(' ')))];
  const lines = [`${who} needs what this machine lacks:`, ...missing.map((m) => `  ${m.what.padEnd(36)} ${kernel(m) ? m.fix : `Debian package: ${m.fix}`}`)];
  // One line to paste, unless the release is unknown and a name is still a choice ("7zip (Debian 13) or …").
  if (packages.length > 0 && fixes.every((f) => !f.includes('('))) lines.push(`Install them with: apt-get install ${packages.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
