// The shell script that runs as PID 1 of the fresh PID+mount namespace and
// then becomes systemd. It follows SYSTEMD-SANDBOX.md and goes further where
// a booted systemd could still reach the machine:
//  - /etc and /var become overlays with private upper dirs, so `enable`,
//    StateDirectory= and systemd's own state land in the temp dir;
//  - /dev is a small private tmpfs, so sockets like /dev/log and systemd's
//    /dev symlinks never appear in the machine's devtmpfs;
//  - /proc/sys is read-only, so no sysctl leaks to the machine's kernel;
//  - everything sysinit.target would pull in (tmpfiles --remove, udev
//    trigger, sysctl, binfmt, timesyncd, ...) is masked; only journald stays;
//  - systemd is told it runs in a container, so it skips the bare-metal setup
//    (kernel modules, clock, kmsg) it would otherwise do as PID 1;
//  - boot starts what was enabled on this host, as a real boot starts
//    multi-user.target's wants: the host's target Wants= exactly the units
//    linked in multi-user.target.wants of the /etc overlay's upper dir (what
//    `systemctl enable` did on this host, kept across a reboot on the same
//    disks), never the machine's own enabled services (ssh, cron, ...), which
//    the merged /etc also shows. Only symlinks count: a whiteout there is a
//    machine unit this host disabled.
// Every mount happens inside the namespace after `mount --make-rprivate /`.
//
// A throwaway root (SetupPlan.root) goes one step further for installer tests:
// the whole / is an overlay whose upper layers live on a tmpfs inside the
// namespace, so nothing an installer writes anywhere (/usr, /etc, /var, apt's
// database) reaches the machine, and the host starts without any account or
// directory of left4me's. It is built first and pivoted into; everything
// below then happens inside it exactly as on a plain private host.
import type { CgroupHierarchy, CgroupLink } from './host-cgroups.js';

/** Where a throwaway root's upper layers are seen inside it (upper0 is `/`'s, in ThrowawayRootPlan.lowers order). */
export const ROOT_LAYERS = '/run/left4me-host/root-layers';

/** A bind mount from a machine path into the private host. */
export interface HostBind {
  /** Machine path (file or directory). */
  source: string;
  /** Path inside the host; must be under /etc or /var (not /var/tmp), or already exist on the machine. */
  target: string;
  readOnly?: boolean;
}

/** Everything the setup script needs, all as machine paths. */
export interface SetupPlan {
  /** Private temp dir holding the /dev staging dir. */
  base: string;
  /** Directory holding the overlay layers (etc.upper, etc.work, var.upper, var.work): base, or the host's disks. */
  disks: string;
  cgroups: CgroupHierarchy[];
  cgroupLinks: CgroupLink[];
  /** Bind mounts in order; the defaults (/etc/left4me, /var/lib/left4me) come first. */
  binds: HostBind[];
  /** Unit name of the target systemd boots into. */
  target: string;
  /** A throwaway root: overlay every disk mount of the machine (`/` first), bind `binds` into it, pivot into it. */
  root?: ThrowawayRootPlan;
}

/** The throwaway root's layers. */
export interface ThrowawayRootPlan {
  /** The machine's disk filesystems' mount points, parents before children, `/` first: each becomes an overlay with a discarded upper layer. */
  lowers: string[];
  /** tmpfs size= of the upper layers together (e.g. `4g`): the most an installer may write. */
  size: string;
}

/** Name of the target the private host boots (never default.target: that would run tmpfiles --remove). */
export const HOST_TARGET = 'left4me-test.target';

/** Units the private host never starts even if something asks: they act on the machine's clock, devices, ttys or logins. */
const ALWAYS_MASKED = [
  'systemd-journald-dev-log.socket',
  'systemd-journald-audit.socket',
  'systemd-timesyncd.service',
  'systemd-timedated.service',
  'systemd-hostnamed.service',
  'systemd-logind.service',
  'systemd-udevd.service',
  'systemd-udev-trigger.service',
  'systemd-udev-settle.service',
  'systemd-udevd-control.socket',
  'systemd-udevd-kernel.socket',
  'systemd-networkd.service',
  'systemd-resolved.service',
  'getty@.service',
  'serial-getty@.service',
  'console-getty.service',
  'container-getty@.service',
  'local-fs.target',
  'swap.target',
];

/** The only sysinit.target member the host keeps: `journalctl -u` and `systemctl status` need it. */
const KEPT_FROM_SYSINIT = ['systemd-journald.service'];

const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system', '/usr/local/lib/systemd/system'];

const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

/** Single-quotes a string for POSIX sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Builds the setup script; pure. */
export function setupScript(plan: SetupPlan): string {
  const b = (p: string) => shq(`${plan.disks}/${p}`);
  const lines: string[] = [
    'set -eu',
    'say() { echo "left4me-test-host: $*"; }',
    'fail() { echo "left4me-test-host: $*" >&2; exit 1; }',
    // Nothing we mount from here on may propagate back to the machine.
    'mount --make-rprivate /',
    ...(plan.root ? rootLines(plan, plan.root) : []),
    ...cgroupLines(plan),
    // Kernel knobs are global: the host may read them, never write them.
    'for p in /proc/sys /proc/sysrq-trigger; do',
    '  [ -e "$p" ] || continue',
    '  mount --bind "$p" "$p"',
    '  mount -o remount,bind,ro "$p"',
    'done',
    // What this host enabled before a reboot on the same disks (a throwaway root is never rebooted).
    'wants=',
    ...(plan.root
      ? []
      : [
          `mount -t overlay left4me-etc -o lowerdir=/etc,upperdir=${b('etc.upper')},workdir=${b('etc.work')} /etc`,
          `mount -t overlay left4me-var -o lowerdir=/var,upperdir=${b('var.upper')},workdir=${b('var.work')} /var`,
          // Read before /tmp is covered: the upper dir may live in the machine's /tmp.
          `for f in ${b('etc.upper/systemd/system/multi-user.target.wants')}/*; do`,
          '  [ -L "$f" ] || continue',
          '  n=${f##*/}',
          "  case $n in *[!-A-Za-z0-9@._:\\\\]*) continue ;; esac",
          '  wants="$wants $n"',
          'done',
          // Binds come before /tmp is covered: their sources live in the machine's /tmp.
          ...plan.binds.flatMap((bind) => bindLines(bind)),
        ]),
    ...devLines(plan),
    ...(plan.root ? [] : ['mount -t tmpfs -o mode=0755,nosuid,nodev left4me-run /run']),
    'mount -t tmpfs -o mode=1777,nosuid,nodev left4me-tmp /tmp',
    'mount -t tmpfs -o mode=1777,nosuid,nodev left4me-var-tmp /var/tmp',
    // The one check that must never fail open: systemd may only start when
    // nothing it cleans is the machine's.
    'for d in /run /tmp /var/tmp; do [ "$(stat -f -c %T "$d")" = tmpfs ] || fail "$d is not private"; done',
    'for d in /etc /var; do [ "$(stat -f -c %T "$d")" = overlayfs ] || fail "$d is not an overlay"; done',
    ...(plan.root ? ['for d in /usr /opt /srv /root /home; do [ ! -d "$d" ] || [ "$(stat -f -c %T "$d")" = overlayfs ] || fail "$d is not an overlay"; done'] : []),
    'mkdir -p /run/systemd/system',
    ...unitLines(plan),
    'say "mounts ready, exec systemd"',
    `exec env -i container=left4me-test PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --system --unit=${shq(plan.target)}`,
  ];
  return lines.join('\n') + '\n';
}

function cgroupLines(plan: SetupPlan): string[] {
  if (plan.cgroups.length === 0) return [];
  // Fresh mounts made inside the cgroup namespace are rooted at the host's own subtree.
  const root = '/sys/fs/cgroup';
  const out: string[] = [];
  const unifiedAtRoot = plan.cgroups.some((h) => h.mountPoint === root);
  if (!unifiedAtRoot) out.push(`mount -t tmpfs -o mode=0755,nosuid,nodev,noexec left4me-cgroup ${root}`);
  for (const h of plan.cgroups) {
    const opts = h.mountOptions ? `-o ${shq(h.mountOptions)} ` : '';
    if (h.mountPoint !== root) out.push(`mkdir -p ${shq(h.mountPoint)}`);
    out.push(`mount -t ${h.fsType} ${opts}${h.fsType} ${shq(h.mountPoint)}`);
  }
  if (!unifiedAtRoot) {
    for (const l of plan.cgroupLinks) out.push(`ln -s ${shq(l.target)} ${shq(`${root}/${l.name}`)}`);
  }
  return out;
}

/**
 * The throwaway root: a tmpfs for the upper layers, one overlay per disk mount
 * of the machine (an overlay does not reach into submounts), the kernel's
 * filesystems carried over, the binds, then pivot_root and the old root
 * detached. The upper layers are on their own tmpfs because an upper layer
 * inside its own lower layer (the machine's /tmp under /) is an overlap
 * overlayfs warns about; they vanish with the namespace.
 */
function rootLines(plan: SetupPlan, root: ThrowawayRootPlan): string[] {
  const layers = `${plan.base}/root-layers`;
  const merged = `${layers}/merged`;
  const out = [`mount -t tmpfs -o mode=0700,size=${shq(root.size)} left4me-root-layers ${shq(layers)}`, `mkdir ${shq(merged)}`];
  root.lowers.forEach((lower, i) => {
    const at = lower === '/' ? merged : `${merged}${lower}`;
    out.push(
      `mkdir ${shq(`${layers}/upper${i}`)} ${shq(`${layers}/work${i}`)}`,
      `mount -t overlay left4me-root${i} -o ${shq(`lowerdir=${lower},upperdir=${layers}/upper${i},workdir=${layers}/work${i}`)} ${shq(at)}`,
    );
  });
  out.push(
    `mount -t proc -o nosuid,nodev,noexec proc ${shq(`${merged}/proc`)}`,
    `mount --rbind /sys ${shq(`${merged}/sys`)}`,
    `mount --rbind /dev ${shq(`${merged}/dev`)}`,
    ...plan.binds.flatMap((bind) => bindLines(bind, merged)),
    // /run comes early here: the upper layers stay reachable in it (read by tests: what an install left).
    `mount -t tmpfs -o mode=0755,nosuid,nodev left4me-run ${shq(`${merged}/run`)}`,
    `mkdir -p ${shq(`${merged}${ROOT_LAYERS}`)}`,
    `mount --bind ${shq(layers)} ${shq(`${merged}${ROOT_LAYERS}`)}`,
    `cd ${shq(merged)}`,
    'mkdir .left4me-old-root',
    'pivot_root . .left4me-old-root',
    'cd /',
    'umount -l /.left4me-old-root',
    'rmdir /.left4me-old-root',
    // Nothing of the machine's tree is left but what the overlays show and the kernel's filesystems.
    `[ "$(stat -f -c %T /)" = overlayfs ] || fail "/ is not an overlay"`,
  );
  return out;
}

/** Mount lines of one bind; `into` is the new root a throwaway root binds into before pivoting (where every target is creatable). */
function bindLines(bind: HostBind, into = ''): string[] {
  const src = shq(bind.source);
  const tgt = shq(`${into}${bind.target}`);
  const creatable = into !== '' || isCreatableTarget(bind.target);
  const out = [
    `if [ -d ${src} ]; then`,
    creatable ? `  mkdir -p ${tgt}` : `  [ -d ${tgt} ] || fail ${shq(`bind target ${bind.target} does not exist`)}`,
    'else',
    creatable ? `  mkdir -p "$(dirname ${tgt})"; [ -e ${tgt} ] || : > ${tgt}` : `  [ -e ${tgt} ] || fail ${shq(`bind target ${bind.target} does not exist`)}`,
    'fi',
    `mount --bind ${src} ${tgt}`,
  ];
  if (bind.readOnly) out.push(`mount -o remount,bind,ro ${tgt}`);
  return out;
}

/** True when creating `target` inside the host writes only to a private overlay, never to the machine. */
export function isCreatableTarget(target: string): boolean {
  const under = (dir: string) => target === dir || target.startsWith(dir + '/');
  return (under('/etc') || under('/var')) && !under('/var/tmp') && !under('/var/run') && !under('/var/lock') && target !== '/etc' && target !== '/var';
}

function devLines(plan: SetupPlan): string[] {
  const stage = `${plan.base}/dev`;
  const s = (p: string) => shq(`${stage}/${p}`);
  const out = [`mount -t tmpfs -o mode=0755,nosuid left4me-dev ${shq(stage)}`];
  for (const n of DEV_NODES) out.push(`: > ${s(n)}`, `mount --bind /dev/${n} ${s(n)}`);
  // Console output of the private systemd goes nowhere rather than to the machine's console.
  out.push(`: > ${s('console')}`, `mount --bind /dev/null ${s('console')}`);
  out.push(
    `mkdir ${s('pts')} ${s('shm')} ${s('mqueue')}`,
    `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 left4me-devpts ${s('pts')}`,
    `ln -s pts/ptmx ${s('ptmx')}`,
    `mount -t tmpfs -o mode=1777,nosuid,nodev left4me-shm ${s('shm')}`,
    `ln -s /proc/self/fd ${s('fd')}`,
    `ln -s /proc/self/fd/0 ${s('stdin')}`,
    `ln -s /proc/self/fd/1 ${s('stdout')}`,
    `ln -s /proc/self/fd/2 ${s('stderr')}`,
    `mount --move ${shq(stage)} /dev`,
  );
  return out;
}

function unitLines(plan: SetupPlan): string[] {
  const out: string[] = [
    `cat > ${shq(`/run/systemd/system/${plan.target}`)} <<'EOF'`,
    '[Unit]',
    'Description=left4me test host',
    'DefaultDependencies=no',
    'AllowIsolate=yes',
    'EOF',
    `[ -z "$wants" ] || echo "Wants=$wants" >> ${shq(`/run/systemd/system/${plan.target}`)}`,
    '[ -z "$wants" ] || say "enabled on this host:$wants"',
    // Services pull sysinit.target in by default; this one initialises nothing.
    "cat > /run/systemd/system/sysinit.target <<'EOF'",
    '[Unit]',
    'Description=System Initialization (left4me test host: nothing to do)',
    'DefaultDependencies=no',
    'EOF',
    `for d in ${UNIT_DIRS.map(shq).join(' ')}; do`,
    '  for f in "$d"/sysinit.target.wants/* "$d"/sysinit.target.requires/*; do',
    '    [ -e "$f" ] || [ -L "$f" ] || continue',
    '    n=${f##*/}',
    `    case " ${KEPT_FROM_SYSINIT.join(' ')} " in *" $n "*) continue ;; esac`,
    '    ln -sfn /dev/null "/run/systemd/system/$n"',
    '  done',
    'done',
  ];
  for (const n of ALWAYS_MASKED) out.push(`ln -sfn /dev/null ${shq(`/run/systemd/system/${n}`)}`);
  return out;
}
