// Each doctor check against a temp dir standing for a host: its proc/, sys/
// and etc/ are real files, its tools stand-in scripts on a PATH of their own,
// its directories real directories with real owners and modes.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostLayout } from '../host/layout.js';
import { checkAccounts, checkDirectories, checkDisk, tmpfilesDirectories } from './checks/host.js';
import { checkPorts, parseProcNet } from './checks/ports.js';
import { check7z, checkCgroups, checkLib32, checkNssSystemd, checkOverlayFeatures, checkOverlayfs, checkSystemd } from './checks/system.js';
import { checkServerSandbox, checkUnit, COMPAT_HINT, CONTROLLER_UNIT, WEB_UNIT } from './checks/units.js';
import { debianRelease } from './packages.js';
import { hostProbe, type HostProbe } from './probe.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

/** A temp dir standing for a host: files (host path → text), stand-in tools (name → sh script body). */
function fakeHost(files: Record<string, string> = {}, tools: Record<string, string> = {}): { root: string; probe: HostProbe } {
  const root = mkdtempSync(join(tmpdir(), 'left4me-doctor-'));
  cleanup.push(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const bin = join(root, '.bin');
  mkdirSync(bin);
  for (const [name, body] of Object.entries(tools)) writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return { root, probe: hostProbe({ fsRoot: root, path: bin }) };
}

const systemctlVersion = (v: number) => `case "$1" in --version) echo "systemd ${v} (${v}.1-1)"; echo "+PAM +AUDIT";; esac`;

describe('systemd', () => {
  it('ok at 252 as PID 1; a warning below the tested version; a problem below the directives\' floor or when not PID 1', async () => {
    const at = async (v: number, pid1 = 'systemd') => (await checkSystemd(fakeHost({ '/proc/1/comm': `${pid1}\n` }, { systemctl: systemctlVersion(v) }).probe, '12'));
    expect((await at(252)).status).toBe('ok');
    expect((await at(257)).detail).toBe('systemd 257, running as PID 1');
    expect((await at(250)).status).toBe('warning');
    const old = await at(247);
    expect(old.status).toBe('problem');
    expect(old.detail).toContain('PrivateIPC=');
    const notInit = await at(252, 'bash');
    expect(notInit).toMatchObject({ status: 'problem', detail: expect.stringContaining('PID 1 is "bash"') });
  });

  it('without systemctl names the package', async () => {
    expect(await checkSystemd(fakeHost().probe, '13')).toMatchObject({ status: 'problem', fix: 'apt-get install systemd' });
  });
});

const V2 = 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n';
const HYBRID = 'tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n';

describe('cgroups', () => {
  it('ok on v2 with cpu, memory and pids enabled down to the game slice', async () => {
    const { probe } = fakeHost({
      '/proc/self/mounts': `proc /proc proc rw 0 0\n${V2}`,
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
      '/sys/fs/cgroup/cgroup.subtree_control': 'cpuset cpu io memory pids\n',
      '/sys/fs/cgroup/l4d2.slice/cgroup.subtree_control': 'cpu io memory pids\n',
      '/sys/fs/cgroup/l4d2.slice/l4d2-game.slice/cgroup.subtree_control': 'cpu memory pids\n',
    });
    expect((await checkCgroups(probe)).status).toBe('ok');
  });

  it('a problem when the kernel offers no memory controller; a warning when a slice has it disabled', async () => {
    const off = fakeHost({ '/proc/self/mounts': V2, '/sys/fs/cgroup/cgroup.controllers': 'cpu io pids\n' });
    expect(await checkCgroups(off.probe)).toMatchObject({ status: 'problem', detail: expect.stringContaining('no memory controller'), fix: expect.stringContaining('cgroup_disable=memory') });
    const slice = fakeHost({
      '/proc/self/mounts': V2,
      '/sys/fs/cgroup/cgroup.controllers': 'cpu io memory pids\n',
      '/sys/fs/cgroup/cgroup.subtree_control': 'cpu memory pids\n',
      '/sys/fs/cgroup/l4d2.slice/cgroup.subtree_control': 'cpu pids\n',
    });
    expect(await checkCgroups(slice.probe)).toMatchObject({ status: 'warning', detail: expect.stringContaining('l4d2.slice (no memory)') });
  });

  it('a warning on the v1 hybrid hierarchy; a problem with nothing mounted', async () => {
    expect(await checkCgroups(fakeHost({ '/proc/self/mounts': HYBRID }).probe)).toMatchObject({ status: 'warning', detail: expect.stringContaining('hybrid') });
    expect((await checkCgroups(fakeHost({ '/proc/self/mounts': 'proc /proc proc rw 0 0\n' }).probe)).status).toBe('problem');
  });
});

describe('overlayfs', () => {
  it('ok when registered or when its module is there; a problem otherwise', async () => {
    expect((await checkOverlayfs(fakeHost({ '/proc/filesystems': 'nodev\ttmpfs\nnodev\toverlay\n' }).probe)).status).toBe('ok');
    const module = fakeHost({ '/proc/filesystems': 'nodev\ttmpfs\n', '/proc/sys/kernel/osrelease': '6.1.0-28-amd64\n', '/lib/modules/6.1.0-28-amd64/kernel/fs/overlayfs/overlay.ko.xz': '' });
    expect(await checkOverlayfs(module.probe)).toMatchObject({ status: 'ok', detail: expect.stringContaining('overlay.ko.xz') });
    expect(await checkOverlayfs(fakeHost({ '/proc/filesystems': 'nodev\ttmpfs\n', '/proc/sys/kernel/osrelease': '6.1.0-28-amd64\n' }).probe)).toMatchObject({ status: 'problem', fix: expect.stringContaining('modprobe overlay') });
  });

  it('a warning when the module turns on redirect_dir or metacopy by default; userxattr is reported from the kernel version', async () => {
    const params = (redirect: string, metacopy: string) => ({
      '/proc/sys/kernel/osrelease': '6.1.0-28-amd64\n',
      '/sys/module/overlay/parameters/redirect_dir': `${redirect}\n`,
      '/sys/module/overlay/parameters/metacopy': `${metacopy}\n`,
      '/sys/module/overlay/parameters/xino_auto': 'N\n',
      '/sys/module/overlay/parameters/index': 'N\n',
    });
    expect(await checkOverlayFeatures(fakeHost(params('N', 'N')).probe)).toMatchObject({ status: 'ok', detail: expect.stringContaining('userxattr supported (kernel 6.1)') });
    const on = await checkOverlayFeatures(fakeHost(params('Y', 'Y')).probe);
    expect(on).toMatchObject({ status: 'warning', detail: expect.stringContaining('redirect_dir=Y, metacopy=Y'), fix: expect.stringContaining('/etc/modprobe.d/') });
    expect((await checkOverlayFeatures(fakeHost({ '/proc/sys/kernel/osrelease': '5.10.0-30-amd64\n' }).probe)).detail).toContain('no userxattr');
  });
});

describe('32-bit libraries, nss-systemd and 7z', () => {
  const lib32 = { '/proc/sys/kernel/arch': 'x86_64\n', '/lib/ld-linux.so.2': '', '/usr/lib32/libgcc_s.so.1': '', '/usr/lib32/libstdc++.so.6': '' };

  it('32-bit: ok with the loader, libgcc_s and libstdc++; a problem naming the packages without them, or on another architecture', async () => {
    expect((await checkLib32(fakeHost(lib32).probe, '12')).status).toBe('ok');
    const { '/usr/lib32/libgcc_s.so.1': _gone, ...withoutGcc } = lib32;
    expect(await checkLib32(fakeHost(withoutGcc).probe, '12')).toMatchObject({ status: 'problem', detail: expect.stringContaining('libgcc_s.so.1'), fix: 'apt-get install lib32gcc-s1 lib32stdc++6' });
    expect(await checkLib32(fakeHost({ ...lib32, '/proc/sys/kernel/arch': 'aarch64\n' }).probe, '12')).toMatchObject({ status: 'problem', detail: expect.stringContaining('aarch64') });
  });

  it('nss-systemd: the library and both nsswitch lines', async () => {
    const lib = { '/lib/x86_64-linux-gnu/libnss_systemd.so.2': '' };
    expect((await checkNssSystemd(fakeHost({ ...lib, '/etc/nsswitch.conf': 'passwd:         files systemd\ngroup:          files systemd\n' }).probe, '12')).status).toBe('ok');
    expect(await checkNssSystemd(fakeHost({ ...lib, '/etc/nsswitch.conf': 'passwd: files systemd\ngroup: files\n' }).probe, '12')).toMatchObject({ status: 'problem', detail: expect.stringContaining('for group') });
    expect(await checkNssSystemd(fakeHost({ '/etc/nsswitch.conf': 'passwd: files systemd\n' }).probe, '12')).toMatchObject({ status: 'problem', fix: 'apt-get install libnss-systemd' });
  });

  it('7z: found on the PATH, or the package of the host\'s Debian release', async () => {
    expect((await check7z(fakeHost({}, { '7z': 'exit 0' }).probe, '13')).status).toBe('ok');
    const bookworm = fakeHost({ '/etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n' });
    expect(await check7z(bookworm.probe, await debianRelease(bookworm.probe))).toMatchObject({ status: 'problem', fix: 'apt-get install p7zip-full' });
    const trixie = fakeHost({ '/etc/os-release': 'VERSION_ID="13"\nID=debian\n' });
    expect((await check7z(trixie.probe, await debianRelease(trixie.probe))).fix).toBe('apt-get install 7zip');
    expect((await check7z(fakeHost().probe, undefined)).fix).toBe('apt-get install 7zip (Debian 13) or p7zip-full (Debian 12)');
  });
});

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nleft4me:x:990:990::/var/lib/left4me:/usr/sbin/nologin\nleft4me-build:x:989:989::/var/lib/left4me:/usr/sbin/nologin\nleft4me-web:x:988:988::/var/lib/left4me-web:/usr/sbin/nologin\n';
const GROUP = 'root:x:0:\nleft4me:x:990:\nleft4me-build:x:989:\nleft4me-web:x:988:\n';

describe('accounts, directories and disk', () => {
  it('accounts: all three with their groups, or the missing ones', async () => {
    expect((await checkAccounts(fakeHost({ '/etc/passwd': PASSWD, '/etc/group': GROUP }).probe, hostLayout())).status).toBe('ok');
    const partial = await checkAccounts(fakeHost({ '/etc/passwd': PASSWD.replace(/^left4me-web.*\n/m, ''), '/etc/group': GROUP }).probe, hostLayout());
    expect(partial).toMatchObject({ status: 'problem', detail: 'missing: user left4me-web', fix: expect.stringContaining('systemd-sysusers') });
  });

  it('directories: the tmpfiles layout as shipped, each with owner and mode; missing and foreign-owned are problems, a mode a warning', async () => {
    const tmpfiles = [
      '# a comment',
      'd /etc/left4me                    0755 root    root    -',
      'd /etc/left4me/state              2775 root    left4me-web -',
      'd /var/lib/left4me/secrets        0710 root    left4me-web -',
      'd /var/lib/left4me/trash          0700 root    root    -',
      'd  /var/log/journal/%m.left4me    2755 root    root -',
      'a+ /var/log/journal/%m.left4me    -    -       -       -    d:group:left4me-web:r-x',
    ].join('\n');
    const { root, probe } = fakeHost({ '/etc/passwd': PASSWD, '/etc/group': GROUP, '/etc/machine-id': 'f00dfeed\n' });
    const layout = hostLayout('/srv/l4m');
    expect(tmpfilesDirectories(tmpfiles, 'f00dfeed', layout.dataDir).map((d) => d.path)).toEqual(['/etc/left4me', '/etc/left4me/state', '/srv/l4m/secrets', '/srv/l4m/trash', '/var/log/journal/f00dfeed.left4me']);
    const make = (path: string, mode: number, uid: number, gid: number) => {
      mkdirSync(join(root, path), { recursive: true });
      chownSync(join(root, path), uid, gid);
      chmodSync(join(root, path), mode);
    };
    make('/etc/left4me', 0o755, 0, 0);
    make('/etc/left4me/state', 0o2775, 0, 988);
    make('/srv/l4m/secrets', 0o710, 0, 988);
    make('/srv/l4m/trash', 0o700, 0, 0);
    make('/var/log/journal/f00dfeed.left4me', 0o2755, 0, 0);
    expect(await checkDirectories(probe, layout, tmpfiles)).toMatchObject({ status: 'ok', detail: '5 directories with their owners and modes' });
    chmodSync(join(root, '/srv/l4m/trash'), 0o755);
    expect(await checkDirectories(probe, layout, tmpfiles)).toMatchObject({ status: 'warning', detail: '/srv/l4m/trash has mode 0755, not 0700', fix: expect.stringContaining('systemd-tmpfiles --create') });
    chownSync(join(root, '/etc/left4me/state'), 0, 0);
    expect(await checkDirectories(probe, layout, tmpfiles)).toMatchObject({ status: 'problem', detail: expect.stringContaining('/etc/left4me/state is owned by 0:0, not root:left4me-web') });
    rmSync(join(root, '/etc/left4me'), { recursive: true });
    const gone = await checkDirectories(probe, layout, tmpfiles);
    // The missing parent is named once, not each directory below it.
    expect(gone.detail).toMatch(/^\/etc\/left4me is missing; \/srv\/l4m\/trash has mode/);
  });

  it('disk: free space of the file system under the data directory (which need not exist yet) against the thresholds', async () => {
    const { root, probe } = fakeHost({ '/var/lib/.keep': '' });
    const layout = hostLayout('/var/lib/left4me');
    const free = await probe.freeBytes('/var/lib/left4me');
    const { statfsSync } = await import('node:fs');
    const s = statfsSync(root);
    expect(Math.abs(free - s.bavail * s.bsize)).toBeLessThan(2 ** 30);
    expect((await checkDisk(probe, layout, { warningBytes: 1, problemBytes: 1 })).status).toBe('ok');
    expect(await checkDisk(probe, layout, { warningBytes: free * 4, problemBytes: 1 })).toMatchObject({ status: 'warning', detail: expect.stringContaining('free under /var/lib/left4me') });
    expect(await checkDisk(probe, layout, { warningBytes: free * 8, problemBytes: free * 4 })).toMatchObject({ status: 'problem', fix: expect.stringContaining('--data-dir') });
  });
});

describe('ports', () => {
  it('parses /proc/net tables: TCP listeners and bound UDP sockets only', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:6D7F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:6D80 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1',
    ].join('\n');
    expect(parseProcNet('tcp', tcp)).toEqual([{ protocol: 'tcp', port: 0x6d7f, uid: 0, inode: 4242 }]);
  });

  it('a real socket bound in the range is found with its process; a leased port held by it is a problem; a server uid is left4me\'s', async () => {
    const udp: Socket = createSocket('udp4');
    const port = await new Promise<number>((resolve) => udp.bind(0, '127.0.0.1', () => resolve(udp.address().port)));
    cleanup.push(() => udp.close());
    const tcp: Server = createServer();
    await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', () => resolve()));
    cleanup.push(() => tcp.close());
    const probe = hostProbe();
    const dir = mkdtempSync(join(tmpdir(), 'left4me-doctor-leases-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const leasesFile = join(dir, 'leases.json');
    const uid = process.getuid!();
    const serverUids = { min: 1879048192, max: 1879113727 };
    const opts = { game: { min: port, max: port }, client: { min: port + 1 > 65535 ? port - 1 : port + 1, max: port + 1 > 65535 ? port - 1 : port + 1 }, uidRange: serverUids, leasesFile };

    const found = await checkPorts(probe, opts);
    expect(found.status).toBe('warning');
    expect(found.detail).toContain(`udp ${port} held by node (pid ${process.pid}, uid ${uid})`);
    expect(found.detail).toContain(`tcp ${port} held by node (pid ${process.pid}`);

    writeFileSync(leasesFile, JSON.stringify({ leases: { alpha: { port, clientPort: opts.client.min } } }));
    expect(await checkPorts(probe, opts)).toMatchObject({ status: 'problem', detail: expect.stringContaining('but leased to instance/alpha') });

    // The same sockets owned by a uid of the server range count as a game server's.
    expect(await checkPorts(probe, { ...opts, uidRange: { min: uid, max: uid } })).toMatchObject({ status: 'ok', detail: expect.stringContaining("only left4me's game servers (2 sockets)") });
    udp.close();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    // The sockets are closed; the leases directory is still to be removed.
    cleanup.splice(0, cleanup.length, () => rmSync(dir, { recursive: true, force: true }));
    expect(await checkPorts(probe, opts)).toMatchObject({ status: 'ok', detail: expect.stringContaining('nothing listens there') });
  });
});

describe('units and failed servers', () => {
  // A systemctl stand-in answering `show` with the given properties and `list-units` with the given lines.
  const systemctl = (show: string, failed = '') => `case "$1" in
show) printf '%s\\n' ${show.split('\n').map((l) => `'${l}'`).join(' ')};;
list-units) printf '%s' '${failed}';;
esac`;

  it('the controller unit: active and enabled ok, inactive or missing a problem; the web unit missing only a warning', async () => {
    const active = fakeHost({}, { systemctl: systemctl('LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nUnitFileState=enabled') });
    expect(await checkUnit(active.probe, CONTROLLER_UNIT)).toMatchObject({ status: 'ok', detail: 'active (running), enabled' });
    const dead = fakeHost({}, { systemctl: systemctl('LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\nUnitFileState=enabled') });
    expect(await checkUnit(dead.probe, CONTROLLER_UNIT)).toMatchObject({ status: 'problem', detail: 'failed (failed, result exit-code), enabled', fix: expect.stringContaining('journalctl -u left4me-controller.service') });
    const none = fakeHost({}, { systemctl: systemctl('LoadState=not-found\nActiveState=inactive\nSubState=dead\nResult=success\nUnitFileState=') });
    expect(await checkUnit(none.probe, CONTROLLER_UNIT)).toMatchObject({ status: 'problem', fix: expect.stringContaining('cp deploy/left4me-controller.service /etc/systemd/system/') });
    expect((await checkUnit(none.probe, WEB_UNIT)).status).toBe('warning');
    const disabled = fakeHost({}, { systemctl: systemctl('LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nUnitFileState=disabled') });
    expect(await checkUnit(disabled.probe, WEB_UNIT)).toMatchObject({ status: 'warning', fix: 'systemctl enable left4me-web.service' });
  });

  it('a problem naming systemd\'s own words when it cannot be asked', async () => {
    const down = fakeHost({}, { systemctl: 'echo "System has not been booted with systemd as init system (PID 1). Can\'t operate." >&2; exit 1' });
    expect(await checkUnit(down.probe, CONTROLLER_UNIT)).toMatchObject({ status: 'problem', detail: expect.stringContaining('System has not been booted with systemd') });
  });

  it('a failed server killed by seccomp or W^X gets the compat hint; one that failed otherwise gets its log', async () => {
    const failed = '● left4me-server@alpha.service loaded failed failed left4me game server alpha\nleft4me-server@beta.service loaded failed failed left4me game server beta\n';
    // journalctl stand-in: systemd's lines for alpha in the system journal, beta's own output in the namespace.
    const journalctl = `for a; do case "$a" in --namespace=left4me) ns=1;; left4me-server@*) unit=$a;; esac; done
if [ "$unit" = left4me-server@alpha.service ] && [ -z "$ns" ]; then
  echo "Nov 30 18:02:12 host systemd[1]: left4me-server@alpha.service: Main process exited, code=killed, status=31/SYS"
fi
if [ "$unit" = left4me-server@beta.service ] && [ -n "$ns" ]; then
  echo "Nov 30 18:05:40 host srcds_run[901]: ./srcds_linux: error while loading shared libraries: bin/engine_srv.so: cannot enable executable stack as shared object requires: Permission denied"
fi
exit 0`;
    const { probe } = fakeHost({}, { systemctl: systemctl('', failed), journalctl });
    const r = await checkServerSandbox(probe);
    expect(r.status).toBe('problem');
    expect(r.detail).toContain('left4me-server@alpha.service was killed by the system call filter (seccomp): "Nov 30 18:02:12 host systemd[1]: left4me-server@alpha.service: Main process exited, code=killed, status=31/SYS"');
    expect(r.detail).toContain('left4me-server@beta.service was refused a writable and executable mapping (W^X): "Nov 30 18:05:40 host srcds_run[901]: ./srcds_linux');
    expect(r.fix).toBe(COMPAT_HINT);
    expect(r.fix).toContain('run the controller with --server-sandbox compat');

    const plain = fakeHost({}, { systemctl: systemctl('', 'left4me-server@gamma.service loaded failed failed x\n'), journalctl: 'echo "srcds_run[3]: Could not open file: Permission denied"' });
    expect(await checkServerSandbox(plain.probe)).toMatchObject({ status: 'problem', detail: expect.stringContaining('no sign of a sandbox kill'), fix: expect.stringContaining('left4me logs instance') });
    const none = fakeHost({}, { systemctl: systemctl('', '') });
    expect((await checkServerSandbox(none.probe)).status).toBe('ok');
  });
});
