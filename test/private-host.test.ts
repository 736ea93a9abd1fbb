// The private test host against the real thing: a systemd booted in its own
// namespaces, its bus, its privacy, and above all that it leaves nothing
// behind on the machine — after stop(), after a test that throws, after an
// uncaught exception in its process, and after that process is SIGKILLed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import dbus from 'dbus-next';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPrivateHost, bootThrowawayRoot, diskMounts, findHostLeaks, sweepStaleHosts, systemdVersion, withPrivateHost, type HostIdentity, type HostLeaks, type PrivateHost } from '../controller/demo/private-host/private-host.js';

const NO_LEAKS: HostLeaks = { processes: [], mounts: [], cgroups: [], dirs: [] };

describe('private host', () => {
  let host: PrivateHost;
  let sentinel: string;
  let devBefore: string[];

  beforeAll(async () => {
    sentinel = join(tmpdir(), `left4me-sentinel-${process.pid}`);
    writeFileSync(sentinel, 'must survive every private host\n');
    devBefore = readdirSync('/dev').sort();
    host = await bootPrivateHost();
    console.log(`private host booted in ${host.bootMs} ms (pid ${host.pid})`);
  });

  afterAll(async () => {
    const identity = host?.identity;
    await host?.stop();
    if (identity) expect(findHostLeaks(identity)).toEqual(NO_LEAKS);
    expect(existsSync(sentinel)).toBe(true);
    rmSync(sentinel, { force: true });
    expect(readdirSync('/dev').sort()).toEqual(devBefore);
  });

  it('boots a systemd whose manager answers on the host bus', async () => {
    const bus = dbus.sessionBus({ busAddress: host.busAddress });
    bus.on('error', () => undefined);
    try {
      expect(await systemdVersion(bus)).toMatch(/^\d+/);
    } finally {
      bus.disconnect();
    }
    expect(host.bootMs).toBeLessThan(10_000);
    expect(readFileSync(`/proc/${host.pid}/comm`, 'utf8').trim()).toBe('systemd');
  });

  it('runs commands inside the host, as its PID namespace sees them', async () => {
    const r = await host.exec('systemctl', ['is-active', 'dbus.service']);
    expect(r).toMatchObject({ code: 0, stdout: 'active\n' });
    const comm = await host.exec('cat', ['/proc/1/comm']);
    expect(comm.stdout.trim()).toBe('systemd');
    const failing = await host.exec('sh', ['-c', 'echo oops >&2; exit 3']);
    expect(failing).toMatchObject({ code: 3, stderr: 'oops\n' });
    const piped = await host.exec('cat', [], { input: 'through stdin' });
    expect(piped.stdout).toBe('through stdin');
  });

  it('covers every directory systemd could clean with private tmpfs, and /etc, /var with overlays', async () => {
    const r = await host.exec('stat', ['-f', '-c', '%n %T', '/run', '/tmp', '/var/tmp', '/etc', '/var', '/dev']);
    expect(r.stdout.trim().split('\n')).toEqual(['/run tmpfs', '/tmp tmpfs', '/var/tmp tmpfs', '/etc overlayfs', '/var overlayfs', '/dev tmpfs']);
    const seen = await host.exec('test', ['-e', `/tmp/${sentinel.split('/').pop()}`]);
    expect(seen.code).not.toBe(0);
    const sysctl = await host.exec('sh', ['-c', 'echo 1 > /proc/sys/kernel/printk_ratelimit']);
    expect(sysctl.code).not.toBe(0);
  });

  it('has the left4me system account and the private product directories', async () => {
    const id = await host.exec('id', ['left4me']);
    expect(id.stdout).toContain(`uid=${host.account.uid}(left4me) gid=${host.account.gid}(left4me)`);
    const pw = await host.exec('getent', ['passwd', 'left4me']);
    expect(pw.stdout.trim()).toMatch(/^left4me:x:\d+:\d+:.*:\/var\/lib\/left4me:\/(usr\/)?sbin\/nologin$/);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toMatch(/^left4me:x:/m);

    writeFileSync(join(host.dirs.etc, 'from-outside'), 'hello');
    expect((await host.exec('cat', ['/etc/left4me/from-outside'])).stdout).toBe('hello');
    await host.exec('sh', ['-c', 'echo inside > /var/lib/left4me/from-inside']);
    expect(readFileSync(join(host.dirs.varLib, 'from-inside'), 'utf8')).toBe('inside\n');
    expect(existsSync('/etc/left4me/from-outside')).toBe(false);
  });

  it('takes unit files from /run/systemd/system and maps pids back to the machine', async () => {
    writeFileSync(join(host.dirs.units, 'l4m-probe.service'), '[Service]\nExecStart=/bin/sleep infinity\n');
    expect((await host.exec('systemctl', ['daemon-reload'])).code).toBe(0);
    expect((await host.exec('systemctl', ['start', 'l4m-probe.service'])).code).toBe(0);
    const shown = await host.exec('systemctl', ['show', '-P', 'MainPID', 'l4m-probe.service']);
    const nsPid = Number(shown.stdout.trim());
    expect(nsPid).toBeGreaterThan(1);
    const machinePid = host.machinePid(nsPid);
    expect(machinePid).not.toBeNull();
    expect(readFileSync(`/proc/${machinePid}/cmdline`, 'utf8')).toBe('/bin/sleep\0infinity\0');
    // The host's cgroups are a subtree of ours, not the machine's /system.slice.
    expect(readFileSync(`/proc/${machinePid}/cgroup`, 'utf8')).toMatch(/^0::\/.*left4me-test-\d+-\d+\/system\.slice\/l4m-probe\.service$/m);
  });

  it('binds extra directories and leaves nothing behind when the test inside throws', async () => {
    const extra = mkdtempSync(join(tmpdir(), 'left4me-extra-'));
    writeFileSync(join(extra, 'tree.txt'), 'installation');
    let identity: HostIdentity | undefined;
    try {
      await expect(
        withPrivateHost(
          async (h) => {
            identity = h.identity;
            expect((await h.exec('cat', ['/var/lib/left4me/installation/tree.txt'])).stdout).toBe('installation');
            const write = await h.exec('sh', ['-c', 'echo x > /var/lib/left4me/installation/new']);
            expect(write.code).not.toBe(0);
            throw new Error('boom inside the host');
          },
          { binds: [{ source: extra, target: '/var/lib/left4me/installation', readOnly: true }] },
        ),
      ).rejects.toThrow('boom inside the host');
      expect(identity).toBeDefined();
      expect(findHostLeaks(identity!)).toEqual(NO_LEAKS);
    } finally {
      rmSync(extra, { recursive: true, force: true });
    }
  });

  it('boots again on the same disks: what was enabled on the host starts, never what the machine enabled', async () => {
    const disks = mkdtempSync(join(tmpdir(), 'left4me-disks-'));
    const unit = '[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n';
    const machineWants = readdirSync('/etc/systemd/system/multi-user.target.wants').filter((n) => n.endsWith('.service'));
    const activeState = async (h: PrivateHost, name: string) => (await h.exec('systemctl', ['show', '-P', 'ActiveState', name])).stdout.trim();
    const identities: HostIdentity[] = [];
    try {
      await withPrivateHost(
        async (h) => {
          identities.push(h.identity);
          for (const n of ['l4m-enabled', 'l4m-disabled']) writeFileSync(join(h.root, `/etc/systemd/system/${n}.service`), unit);
          expect((await h.exec('systemctl', ['enable', 'l4m-enabled.service'])).code).toBe(0);
          // Enabling does not start: nothing runs it before the reboot.
          expect(await activeState(h, 'l4m-enabled.service')).toBe('inactive');
          writeFileSync(join(h.dirs.varLib, 'kept'), 'on disk\n');
        },
        { disks },
      );
      expect(findHostLeaks(identities[0]!)).toEqual(NO_LEAKS);
      expect(readFileSync(join(disks, 'var-lib-left4me', 'kept'), 'utf8')).toBe('on disk\n');

      // The next boot (the first host was killed: a power-off) starts the enabled unit by itself.
      await withPrivateHost(
        async (h) => {
          identities.push(h.identity);
          await expect.poll(() => activeState(h, 'l4m-enabled.service'), { timeout: 10_000 }).toBe('active');
          expect(await activeState(h, 'l4m-disabled.service')).toBe('inactive');
          for (const n of machineWants) expect(`${n} ${await activeState(h, n)}`).toBe(`${n} inactive`);
          expect((await h.exec('cat', ['/var/lib/left4me/kept'])).stdout).toBe('on disk\n');
        },
        { disks },
      );
      expect(findHostLeaks(identities[1]!)).toEqual(NO_LEAKS);
      // The enable link lives on the disks (the /etc overlay's upper dir), which stop() leaves to their owner.
      expect(readlinkSync(join(disks, 'etc.upper', 'systemd', 'system', 'multi-user.target.wants', 'l4m-enabled.service'))).toBe('/etc/systemd/system/l4m-enabled.service');
    } finally {
      rmSync(disks, { recursive: true, force: true });
    }
  });
});

describe('throwaway root', () => {
  it('overlays the machine\'s disk mounts, parents first, and nothing virtual or outside the system', () => {
    const mountinfo = [
      '1 0 8:1 / / rw - ext4 /dev/vda rw',
      '2 1 8:2 / /home rw - xfs /dev/vdb rw',
      '3 1 0:5 / /proc rw - proc proc rw',
      '4 1 0:6 / /tmp rw - ext4 /dev/vdc rw',
      '5 1 8:3 / /usr rw - btrfs /dev/vdd rw',
      '6 5 8:4 / /usr/local rw - ext4 /dev/vde rw',
      '7 1 0:7 / /mnt/backup rw - ext4 /dev/vdf rw',
      '8 1 0:8 / /srv/games\\040x rw - ext4 /dev/vdg rw',
      '9 1 0:9 / /run/user/0 rw - fuse.portal portal rw',
    ].join('\n');
    expect(diskMounts(mountinfo)).toEqual(['/', '/home', '/usr', '/srv/games x', '/usr/local']);
    expect(() => diskMounts('3 1 0:5 / / rw - tmpfs tmpfs rw')).toThrow(/not a disk filesystem/);
  });

  it('keeps every write of the host off the machine, starts with no left4me account, and leaves nothing behind', async () => {
    const host = await bootThrowawayRoot();
    const marker = `left4me-throwaway-${process.pid}`;
    try {
      expect((await host.exec('stat', ['-f', '-c', '%T', '/'])).stdout.trim()).toBe('overlayfs');
      expect((await host.exec('getent', ['passwd', 'left4me'])).code).not.toBe(0);
      // Everywhere an installer writes: the package prefix, /etc, root's home, a whole new directory.
      const w = await host.exec('sh', ['-c', `touch /usr/local/bin/${marker} /etc/${marker} /root/${marker} && mkdir /opt/${marker}`]);
      expect(w.code, w.stderr).toBe(0);
      for (const p of [`/usr/local/bin/${marker}`, `/etc/${marker}`, `/root/${marker}`, `/opt/${marker}`]) {
        expect(existsSync(join(host.root, p)), p).toBe(true);
        expect(existsSync(p), p).toBe(false);
      }
      // The upper layer shows exactly what the host wrote.
      expect(readdirSync(join(host.upperLayers.get('/')!, 'usr/local/bin'))).toContain(marker);
      // The data directory is a real filesystem (overlay upper layers live there), not the overlay.
      expect((await host.exec('stat', ['-f', '-c', '%T', '/var/lib/left4me'])).stdout.trim()).not.toBe('overlayfs');
      // A command's working directory is the host's, not the machine's path of the same name.
      expect((await host.exec('sh', ['-c', 'pwd; ls'], { cwd: '/root' })).stdout).toContain(`/root\n`);
      expect((await host.exec('ls', [], { cwd: '/root' })).stdout).toContain(marker);
    } finally {
      await host.stop();
    }
    expect(findHostLeaks(host.identity)).toEqual(NO_LEAKS);
  });
});

describe('private host safety net', () => {
  let dir: string;
  let bundle: string;

  beforeAll(async () => {
    // The crash must happen in a process of its own; bundle the harness for plain node.
    dir = mkdtempSync(join(tmpdir(), 'left4me-crash-child-'));
    bundle = join(dir, 'child.cjs');
    await build({
      entryPoints: [fileURLToPath(new URL('./support/host-crash-child.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: bundle,
      // Optional requires of dbus-next that it guards with try/catch at run time.
      external: ['usocket', 'x11'],
      logLevel: 'error',
    });
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('kills the host from the exit handler when its process dies of an uncaught exception', async () => {
    const { identity, exit } = await runChild(bundle, 'throw');
    const { code } = await exit;
    expect(code).not.toBe(0);
    expect(findHostLeaks(identity)).toEqual(NO_LEAKS);
  });

  it('kills the host through parent-death signals when its process is SIGKILLed', async () => {
    const { identity, child, exit } = await runChild(bundle, 'hang');
    child.kill('SIGKILL');
    await exit;
    await until(() => findHostLeaks(identity).processes.length === 0 && findHostLeaks(identity).mounts.length === 0, 5_000);
    // Nothing ran its teardown; the next boot's sweep removes the empty cgroups and temp dir.
    sweepStaleHosts();
    expect(findHostLeaks(identity)).toEqual(NO_LEAKS);
  });
});

async function runChild(bundle: string, mode: 'throw' | 'hang') {
  const child = spawn(process.execPath, [bundle, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on('exit', () => reject(new Error(`child exited before reporting its host: ${stderr}`)));
  });
  const { identity } = JSON.parse(line) as { pid: number; identity: HostIdentity };
  return { identity, child, exit };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
