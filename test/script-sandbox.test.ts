// The `script` overlay source in a real private systemd: a script proves its
// sandbox from inside (what it can write, reach and read), a failing and an
// overrunning script end as they should, and systemd-analyze measures the
// sandbox's exposure while a script runs.
import { hostLayout } from '../controller/host/layout.js';
import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressGuard } from '../controller/builds/egress.js';
import { buildScript, ScriptFailedError } from '../controller/builds/script.js';
import type { BuildContext } from '../controller/builds/source.js';
import { DbusSystemdAdapter } from '../controller/systemd/dbus-adapter.js';
import { bootPrivateHost, type PrivateHost } from '../controller/demo/private-host/private-host.js';
import { waitFor } from './support/demo-host.js';

let host: PrivateHost;
let systemd: DbusSystemdAdapter;

beforeAll(async () => {
  host = await bootPrivateHost();
  systemd = new DbusSystemdAdapter({ address: host.busAddress });
  // Secrets and status a script must never see.
  await mkdir(join(host.dirs.etc, 'secrets'), { recursive: true });
  await writeFile(join(host.dirs.etc, 'secrets', 'marker'), 'config secret\n', { mode: 0o644 });
  await mkdir(join(host.dirs.varLib, 'status'), { recursive: true });
  await writeFile(join(host.dirs.varLib, 'status', 'marker'), 'status secret\n', { mode: 0o644 });
}, 60_000);

afterAll(async () => {
  await systemd?.close();
  await host?.stop();
});

/** A fresh unfinished build dir of an overlay, as the pipeline makes it, and a context for one step. */
async function buildContext(overlay: string, signal = new AbortController().signal) {
  const hostDir = `/var/lib/left4me/overlays/${overlay}/.tmp-${randomBytes(4).toString('hex')}`;
  const dir = join(host.root, hostDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const lines: string[] = [];
  const ctx: BuildContext = {
    overlay,
    step: 0,
    dir,
    hostDir,
    cacheDir: join(host.dirs.varLib, 'cache'),
    tmpDir: join(host.dirs.varLib, 'scratch'),
    log: (line) => lines.push(line),
    signal,
    systemd,
    steamApiBase: 'http://127.0.0.1:9',
    maxDownloadBytes: 1024,
    egress: new EgressGuard(),
    layout: hostLayout(),
  };
  return { ctx, dir, lines };
}

async function buildUnitsLeft(): Promise<string[]> {
  return (await systemd.listUnits(['left4me-build-*'])).map((u) => u.name);
}

function listen(): Promise<{ server: Server; port: number; accepted: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, accepted: () => count })));
}

describe('script sandbox', () => {
  it('lets a script write /overlay only, reach no local or private address, and read no secrets', async () => {
    // The private host shares this machine's network namespace: a listener
    // here is on the script's loopback too, unless the IP filter stops it.
    const { server, port, accepted } = await listen();
    try {
      const { ctx, dir, lines } = await buildContext('proof');
      await mkdir(join(dir, 'left4dead2/cfg'), { recursive: true });
      await mkdir(join(dir, 'left4dead2/addons'), { recursive: true });
      await writeFile(join(dir, 'left4dead2/cfg/earlier.cfg'), 'from an earlier step\n');
      // A workshop item is hard-linked from the shared cache; a script must not change the cache's copy.
      // (Both paths through host.root: a hard link cannot cross from one mount of the tree to another.)
      const cached = join(host.root, '/var/lib/left4me/cache/item.vpk');
      await mkdir(join(cached, '..'), { recursive: true });
      await writeFile(cached, 'cached vpk\n');
      await link(cached, join(dir, 'left4dead2/addons/item.vpk'));

      const probe = (name: string, cmd: string) => `if ${cmd}; then echo "${name}: yes"; else echo "${name}: no"; fi`;
      const run = [
        'echo "uid: $(id -u)"',
        probe('write overlay', 'echo made in the sandbox > /overlay/proof.txt'),
        probe('append earlier step', 'echo appended >> /overlay/left4dead2/cfg/earlier.cfg'),
        probe('modify cached item', 'echo changed >> /overlay/left4dead2/addons/item.vpk 2>/dev/null'),
        probe('write /tmp', 'echo x > /tmp/x'),
        ...['/var/lib/left4me/x', '/etc/x', '/root/x', '/usr/x', '/x'].map((p) => probe(`write ${p}`, `echo x > ${p} 2>/dev/null`)),
        ...['/etc/left4me/secrets/marker', '/var/lib/left4me/status/marker'].map((p) => probe(`read ${p}`, `cat ${p} 2>/dev/null`)),
        probe('see the system bus', 'test -e /run/dbus/system_bus_socket'),
        // The IP filter drops a TCP SYN, so a TCP connect would hang until its own timeout.
        probe('tcp loopback', `timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null`),
        // UDP shows the refusal at once: the kernel fails the send with EPERM before anything leaves.
        'udp_loop=$( { echo ping > /dev/udp/127.0.0.1/' + port + '; } 2>&1 )',
        'echo "udp loopback: ${udp_loop##*: }"',
        // Only once the filter is proven attached, try a private address: refused locally, nothing leaves the host.
        'case "$udp_loop" in',
        '  *"Operation not permitted"*) udp_private=$( { echo ping > /dev/udp/10.0.0.1/9; } 2>&1 ); echo "udp 10.0.0.1: ${udp_private##*: }" ;;',
        '  *) echo "udp 10.0.0.1: not tried, the filter is not attached" ;;',
        'esac',
        'exit 0',
      ].join('\n');
      const started = Date.now();
      await buildScript({ run, timeout: '1m' }, ctx);
      const answers = Object.fromEntries(lines.filter((l) => l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));

      expect(answers.uid).toBe(String(host.buildAccount.uid));
      expect(answers['write overlay']).toBe('yes');
      expect(answers['append earlier step']).toBe('yes');
      expect(answers['modify cached item']).toBe('no');
      expect(answers['write /tmp']).toBe('yes');
      for (const p of ['/var/lib/left4me/x', '/etc/x', '/root/x', '/usr/x', '/x']) expect(answers[`write ${p}`], p).toBe('no');
      expect(answers['read /etc/left4me/secrets/marker']).toBe('no');
      expect(answers['read /var/lib/left4me/status/marker']).toBe('no');
      expect(answers['see the system bus']).toBe('no');
      expect(answers['tcp loopback']).toBe('no');
      expect(answers['udp loopback']).toBe('Operation not permitted');
      expect(answers['udp 10.0.0.1']).toBe('Operation not permitted');
      expect(Date.now() - started).toBeLessThan(15_000);

      // The listener was there all along: this process reaches it, the script never did.
      await new Promise<void>((resolve, reject) => connect(port, '127.0.0.1', resolve).on('error', reject));
      await waitFor('the test connection', async () => accepted() === 1);
      expect(accepted()).toBe(1);

      // The output is in the build dir, taken back by root and world-readable; the cache is untouched.
      expect(await readFile(join(dir, 'proof.txt'), 'utf8')).toBe('made in the sandbox\n');
      expect(await readFile(join(dir, 'left4dead2/cfg/earlier.cfg'), 'utf8')).toBe('from an earlier step\nappended\n');
      expect(await readFile(cached, 'utf8')).toBe('cached vpk\n');
      expect((await stat(cached)).nlink).toBe(2);
      for (const p of ['', 'proof.txt', 'left4dead2', 'left4dead2/cfg/earlier.cfg']) {
        const st = await stat(join(dir, p));
        expect([st.uid, st.gid, st.mode & 0o7777], p || '.').toEqual([0, 0, st.isDirectory() ? 0o755 : 0o644]);
      }
      expect(await buildUnitsLeft()).toEqual([]);
      expect(await readdir(join(host.root, '/var/lib/left4me/build-runs'))).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('reports a failing script with its exit status and last lines, and leaves no unit behind', async () => {
    const { ctx, dir, lines } = await buildContext('fails');
    const err = await buildScript({ run: 'echo preparing\nmkdir -p /overlay/half\necho "giving up" >&2\nexit 3\n', timeout: '1m' }, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScriptFailedError);
    const e = err as ScriptFailedError;
    expect(e.overlay).toBe('fails');
    expect(e.step).toBe(0);
    expect(e.result).toBe('exit-code');
    expect(e.exitStatus).toBe(3);
    expect(e.tail).toEqual(['preparing', 'giving up']);
    expect(e.message).toMatch(/^script of overlay fails \(step 0\) exited with status 3 \(result exit-code\);/);
    expect(e.message).toContain('  giving up');
    expect(lines).toContain('left4me: script exited with status 3');
    expect((await stat(join(dir, 'half'))).uid).toBe(0);
    expect(await buildUnitsLeft()).toEqual([]);
  });

  it('kills a script that overruns its timeout (result timeout)', async () => {
    const { ctx } = await buildContext('slow');
    const started = Date.now();
    const err = await buildScript({ run: 'echo started\nsleep 300\n', timeout: '2s' }, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScriptFailedError);
    expect((err as ScriptFailedError).result).toBe('timeout');
    expect((err as ScriptFailedError).message).toContain('was killed after its timeout of 2 s');
    expect((err as ScriptFailedError).tail).toEqual(['started']);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await buildUnitsLeft()).toEqual([]);
  });

  it('measures its exposure with systemd-analyze while a script runs, and stops it when the build is cancelled', async () => {
    const cancel = new AbortController();
    const { ctx } = await buildContext('analyzed', cancel.signal);
    const running = buildScript({ run: 'echo sleeping\nsleep 300\n', timeout: '10m' }, ctx).catch((e: unknown) => e);
    const [unit] = await waitFor('a running script unit', async () => {
      const units = await systemd.listUnits(['left4me-build-analyzed-*']);
      return units.filter((u) => u.activeState === 'activating').map((u) => u.name).at(0) ? units.map((u) => u.name) : null;
    });
    const analysis = await host.exec('systemd-analyze', ['security', '--no-pager', unit!]);
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(analysis.stdout);
    expect(m, analysis.stdout + analysis.stderr).not.toBeNull();
    const score = Number(m![1]);
    const open = analysis.stdout.split('\n').filter((l) => l.startsWith('✗')).map((l) => l.replace(/\s{2,}/g, ' | ').trim());
    console.log(`systemd-analyze security ${unit}: exposure ${m![1]}\n  remaining: ${open.join('\n             ')}`);
    // Left open by design: the network (public internet is the point), AF_UNIX and
    // AF_INET sockets, a deny list rather than an allow list, world-readable output,
    // and the read-only RTC that ProtectClock= itself allows.
    expect(score).toBeLessThanOrEqual(1.0);

    cancel.abort();
    const err = await running;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('cancelled');
    await waitFor('the cancelled unit to go', async () => (await buildUnitsLeft()).length === 0);
  });

  it('runs as the build account, which cannot signal a game server', async () => {
    // A stand-in game server: a process of the left4me account, as left4me-server@ units run.
    const started = await host.exec('systemd-run', ['--unit=fake-game-server', `--uid=${host.account.name}`, '--property=Type=exec', '/bin/sleep', 'infinity']);
    expect(started.code, started.stderr).toBe(0);
    const pid = (await host.exec('systemctl', ['show', '-P', 'MainPID', 'fake-game-server.service'])).stdout.trim();
    expect(Number(pid)).toBeGreaterThan(0);
    try {
      const { ctx, lines } = await buildContext('signal');
      await buildScript({ run: `if kill -0 ${pid} 2>/dev/null; then echo "signal game server: yes"; else echo "signal game server: no"; fi\necho "uid: $(id -u)"`, timeout: '1m' }, ctx);
      expect(lines).toContain('signal game server: no');
      expect(lines).toContain(`uid: ${host.buildAccount.uid}`);
      expect(host.buildAccount.uid).not.toBe(host.account.uid);
    } finally {
      await host.exec('systemctl', ['stop', 'fake-game-server.service']);
    }
  });
});
