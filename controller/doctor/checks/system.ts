/**
 * Checks of what the host's kernel and base system give left4me and srcds:
 * systemd, cgroups, overlayfs and its defaults, 32-bit glibc, nss-systemd
 * and 7z. Each reads the host through the probe only.
 */
import { result, type CheckResult } from '../check.js';
import { aptInstall, packageFor } from '../packages.js';
import type { HostProbe } from '../probe.js';

/**
 * The oldest systemd that knows every directive left4me's units use:
 * PrivateIPC= (248) is the newest of them (ProtectProc=/ProcSubset= 247,
 * LogNamespace=/ProtectClock= 245, ProtectKernelLogs=/AllowedCPUs= 244).
 * An older systemd ignores an unknown directive with a warning, so a server
 * would run without that part of its sandbox: a problem, not a nuisance.
 */
export const MIN_SYSTEMD = 248;
/** The version the units and the tests were verified against (Debian 12). */
export const TESTED_SYSTEMD = 252;

/** systemd's version (`systemctl --version`) against MIN_SYSTEMD, and whether systemd is PID 1. */
export async function checkSystemd(probe: HostProbe, release: string | undefined): Promise<CheckResult> {
  const title = 'systemd';
  const v = await probe.run('systemctl', ['--version']);
  const version = Number(/^systemd (\d+)/m.exec(v.stdout)?.[1] ?? NaN);
  if (v.code === 127 || !Number.isInteger(version)) return result('systemd', title, 'problem', 'systemctl was not found or printed no version', aptInstall(['systemd'], release));
  const pid1 = (await probe.read('/proc/1/comm'))?.trim();
  if (pid1 !== 'systemd') {
    return result('systemd', title, 'problem', `systemd ${version} is installed but PID 1 is ${pid1 ? `"${pid1}"` : 'unknown'}: left4me drives the running systemd`, 'boot the host with systemd as init (Debian\'s default)');
  }
  if (version < MIN_SYSTEMD) {
    return result('systemd', title, 'problem', `systemd ${version}; the units need ${MIN_SYSTEMD} or newer (PrivateIPC=), older ones silently drop sandbox settings`, 'upgrade to Debian 12 (systemd 252) or newer');
  }
  if (version < TESTED_SYSTEMD) return result('systemd', title, 'warning', `systemd ${version}: new enough, but left4me is tested on ${TESTED_SYSTEMD} and newer`, 'upgrade to Debian 12 (systemd 252) or newer');
  return result('systemd', title, 'ok', `systemd ${version}, running as PID 1`);
}

/** Controllers the units rely on: CPUWeight= (cpu), MemoryHigh=/MemoryMax= (memory), TasksMax= (pids). */
const NEEDED_CONTROLLERS = ['cpu', 'memory', 'pids'];

/** One mount from /proc/self/mounts: where and which type. */
function mounts(text: string): Array<{ point: string; type: string }> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .map(([, point, type]) => ({ point: (point ?? '').replace(/\\040/g, ' '), type: type ?? '' }));
}

/** cgroup v2 (unified) with the cpu, memory and pids controllers available and enabled where left4me's slices need them. */
export async function checkCgroups(probe: HostProbe): Promise<CheckResult> {
  const title = 'cgroup v2';
  const fix2 = 'remove systemd.unified_cgroup_hierarchy=0 (and cgroup_no_v1=…) from the kernel command line (/etc/default/grub, then update-grub) and reboot: Debian 12 and 13 default to cgroup v2';
  const all = mounts((await probe.read('/proc/self/mounts')) ?? '');
  const root = all.filter((m) => m.point === '/sys/fs/cgroup').at(-1);
  if (!root) return result('cgroups', title, 'problem', 'nothing is mounted at /sys/fs/cgroup', 'boot the host with systemd, which mounts cgroup2 there');
  if (root.type !== 'cgroup2') {
    const hybrid = all.some((m) => m.point === '/sys/fs/cgroup/unified' && m.type === 'cgroup2');
    return result('cgroups', title, 'warning', `cgroup v1 (${hybrid ? 'hybrid' : 'legacy'} hierarchy): MemoryHigh= and the cgroup v2 accounting of game servers have no effect`, fix2);
  }
  const available = ((await probe.read('/sys/fs/cgroup/cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
  const absent = NEEDED_CONTROLLERS.filter((c) => !available.includes(c));
  if (absent.length > 0) {
    return result('cgroups', title, 'problem', `the kernel offers no ${absent.join(', ')} controller (cgroup.controllers: ${available.join(' ') || 'empty'})`, `remove cgroup_disable=${absent.join(',')} from the kernel command line and reboot`);
  }
  // systemd enables a controller below a slice once a unit in it asks; a slice without them limits nothing.
  const notDelegated: string[] = [];
  for (const dir of ['', 'l4d2.slice', 'l4d2.slice/l4d2-game.slice']) {
    const subtree = await probe.read(`/sys/fs/cgroup/${dir ? `${dir}/` : ''}cgroup.subtree_control`);
    if (subtree === undefined) continue; // not created yet: systemd creates the slices with their first unit
    const missing = NEEDED_CONTROLLERS.filter((c) => !subtree.split(/\s+/).includes(c));
    if (missing.length > 0) notDelegated.push(`${dir || 'the root cgroup'} (no ${missing.join(', ')})`);
  }
  if (notDelegated.length > 0) {
    return result('cgroups', title, 'warning', `controllers not enabled below ${notDelegated.join('; ')}: game servers' CPUWeight=, MemoryMax= or TasksMax= are not enforced`, 'systemctl daemon-reload && systemctl restart left4me-controller; check that nothing sets DefaultCPUAccounting=no or Delegate= on l4d2.slice');
  }
  return result('cgroups', title, 'ok', `cgroup v2 with ${NEEDED_CONTROLLERS.join(', ')} (available: ${available.join(' ')})`);
}

/** overlayfs in the kernel (registered, or a module that loads at the first mount). */
export async function checkOverlayfs(probe: HostProbe): Promise<CheckResult> {
  const title = 'overlayfs';
  const filesystems = (await probe.read('/proc/filesystems')) ?? '';
  if (/\boverlay$/m.test(filesystems)) return result('overlayfs', title, 'ok', 'overlay is registered (/proc/filesystems)');
  const release = (await probe.read('/proc/sys/kernel/osrelease'))?.trim();
  const dir = `/lib/modules/${release}/kernel/fs/overlayfs`;
  const module = release ? (await probe.list(dir)).find((f) => f.startsWith('overlay.ko')) : undefined;
  if (module) return result('overlayfs', title, 'ok', `module ${dir}/${module}: loaded at the first mount`);
  return result('overlayfs', title, 'problem', `the kernel (${release ?? 'unknown release'}) has no overlay file system and no overlay module`, 'modprobe overlay; if that fails, install a kernel with CONFIG_OVERLAY_FS (Debian\'s linux-image-amd64 has it)');
}

/** The kernel version as [major, minor], from /proc/sys/kernel/osrelease. */
async function kernelVersion(probe: HostProbe): Promise<[number, number] | undefined> {
  const m = /^(\d+)\.(\d+)/.exec((await probe.read('/proc/sys/kernel/osrelease'))?.trim() ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * The overlay module's defaults that instance mounts inherit. left4me swaps
 * an instance's lower stack between mounts (a new build, a changed
 * blueprint) while its upper layer stays; the kernel allows that only when
 * metacopy, index, xino and redirect_dir were never used
 * (Documentation/filesystems/overlayfs.rst, "Changes to underlying
 * filesystems"). The mounts say index=off; the other three come from here.
 */
export async function checkOverlayFeatures(probe: HostProbe): Promise<CheckResult> {
  const title = 'overlayfs defaults';
  const dir = '/sys/module/overlay/parameters';
  const param = async (name: string) => (await probe.read(`${dir}/${name}`))?.trim();
  const kernel = await kernelVersion(probe);
  // userxattr (5.11) lets an overlay live in a user namespace; left4me's mounts are systemd's, as root, so it is only reported.
  const userxattr = kernel ? (kernel[0] > 5 || (kernel[0] === 5 && kernel[1] >= 11) ? `userxattr supported (kernel ${kernel.join('.')})` : `no userxattr (kernel ${kernel.join('.')} < 5.11; not needed: the mounts are made as root)`) : 'kernel version unknown';
  if ((await probe.list(dir)).length === 0) return result('overlay-features', title, 'ok', `overlay module not loaded yet: its defaults are read at the first mount (run doctor again then); ${userxattr}`);
  const on = (v: string | undefined) => v !== undefined && /^(y|on|follow)$/i.test(v);
  const enabled = [['redirect_dir', await param('redirect_dir')], ['metacopy', await param('metacopy')], ['xino_auto', await param('xino_auto')]].filter(([, v]) => on(v)).map(([n, v]) => `${n}=${v}`);
  if (enabled.length > 0) {
    return result(
      'overlay-features',
      title,
      'warning',
      `the overlay module enables ${enabled.join(', ')} by default: an instance's writable layer may then point into a lower stack that left4me replaces on the next build (undefined behaviour); ${userxattr}`,
      'echo "options overlay redirect_dir=off metacopy=off xino_auto=off" > /etc/modprobe.d/left4me-overlay.conf, then reboot (or rmmod overlay while nothing is mounted)',
    );
  }
  return result('overlay-features', title, 'ok', `redirect_dir, metacopy and xino off by default; ${userxattr}`);
}

/** Where Debian puts 32-bit libraries (lib32* packages, or i386 multiarch). */
const LIB32_DIRS = ['/lib32', '/usr/lib32', '/lib/i386-linux-gnu', '/usr/lib/i386-linux-gnu'];

/** srcds_linux is a 32-bit x86 program: the i386 loader, libgcc_s and libstdc++ must be there, on an x86 machine. */
export async function checkLib32(probe: HostProbe, release: string | undefined): Promise<CheckResult> {
  const title = '32-bit libraries';
  const arch = (await probe.read('/proc/sys/kernel/arch'))?.trim();
  if (arch && arch !== 'x86_64' && !/^i[3-6]86$/.test(arch)) {
    return result('lib32', title, 'problem', `this is a ${arch} machine: srcds_linux is a 32-bit x86 program`, 'run left4me on an x86_64 host');
  }
  const missing: string[] = [];
  if (!(await probe.exists('/lib/ld-linux.so.2'))) missing.push('/lib/ld-linux.so.2 (the i386 loader)');
  for (const lib of ['libgcc_s.so.1', 'libstdc++.so.6']) {
    let found = false;
    for (const d of LIB32_DIRS) if (!found && (await probe.exists(`${d}/${lib}`))) found = true;
    if (!found) missing.push(`${lib} (in ${LIB32_DIRS.join(', ')})`);
  }
  if (missing.length > 0) return result('lib32', title, 'problem', `missing: ${missing.join('; ')}`, aptInstall(['lib32'], release));
  return result('lib32', title, 'ok', 'i386 loader, libgcc_s and libstdc++ present');
}

/** Game servers run as uids whose records live in /etc/userdb: glibc finds them through nss-systemd. */
export async function checkNssSystemd(probe: HostProbe, release: string | undefined): Promise<CheckResult> {
  const title = 'nss-systemd';
  const nsswitch = (await probe.read('/etc/nsswitch.conf')) ?? '';
  const line = (db: string) => new RegExp(`^${db}:(.*)$`, 'm').exec(nsswitch)?.[1] ?? '';
  const without = ['passwd', 'group'].filter((db) => !/\bsystemd\b/.test(line(db)));
  let lib = false;
  for (const d of ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib64', '/usr/lib64']) {
    if (!lib && (await probe.exists(`${d}/libnss_systemd.so.2`))) lib = true;
  }
  if (!lib) return result('nss-systemd', title, 'problem', 'libnss_systemd.so.2 is not installed: systemd refuses a User= that no user database knows', aptInstall(['libnss-systemd'], release));
  if (without.length > 0) return result('nss-systemd', title, 'problem', `/etc/nsswitch.conf does not name systemd for ${without.join(' and ')}`, `add "systemd" to the ${without.join(' and ')} lines of /etc/nsswitch.conf (apt-get install --reinstall libnss-systemd does it)`);
  return result('nss-systemd', title, 'ok', 'libnss_systemd.so.2 present; passwd and group consult systemd (game server users live in /etc/userdb)');
}

/** 7z unpacks zip and 7z archive sources in the build sandbox. */
export async function check7z(probe: HostProbe, release: string | undefined): Promise<CheckResult> {
  const title = '7z';
  const at = await probe.which('7z');
  if (!at) return result('7z', title, 'problem', 'no 7z on the PATH: overlays with zip or 7z archives cannot be built', `apt-get install ${packageFor('7z', release)}`);
  return result('7z', title, 'ok', `${at} (unpacks zip and 7z archive sources)`);
}
