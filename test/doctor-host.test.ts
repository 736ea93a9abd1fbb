// `left4me doctor` inside a private systemd host, run there as an operator
// runs it: it finds the controller unit in the state it really has (active,
// then stopped), takes the port ranges from that unit's command line, counts
// the game server's sockets as left4me's and a stranger's as not, and reads a
// real seccomp kill out of a failed server unit's journal.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../controller/package-root.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, waitFor, type DemoHost } from './support/demo-host.js';

const APP = '/var/lib/left4me-app';
const GAME = '28180-28189';
const CLIENT = '29180-29189';
const CONTROLLER = 'left4me-controller.service';

interface Report {
  checks: Array<{ id: string; status: string; detail: string; fix?: string }>;
  controllerFlags: Record<string, string>;
}

let demo: DemoHost;

/** `left4me doctor -o json` inside the host; its exit code and report. */
async function doctor(): Promise<{ code: number; report: Report; check(id: string): Report['checks'][number] }> {
  const r = await demo.host.exec('/usr/bin/node', [`${APP}/controller/bin/left4me.js`, 'doctor', '-o', 'json']);
  const report = JSON.parse(r.stdout) as Report;
  return { code: r.code, report, check: (id) => report.checks.find((c) => c.id === id)! };
}

beforeAll(async () => {
  // The checkout, read-only: the controller unit and the doctor run the CLI from it.
  demo = await bootDemoHost({ binds: [{ source: packageRoot(), target: APP, readOnly: true }] });
  await writeFile(join(demo.stateDir, 'base.yaml'), BASE_DOCS);
  await writeFile(join(demo.stateDir, 'd1.yaml'), instanceDoc('d1'));
  const units = demo.host.dirs.units;
  await copyFile(join(packageRoot(), 'deploy', CONTROLLER), join(units, CONTROLLER));
  await mkdir(join(units, `${CONTROLLER}.d`), { recursive: true });
  await writeFile(
    join(units, `${CONTROLLER}.d`, 'test.conf'),
    [
      '[Service]',
      'ExecStart=',
      `ExecStart=/usr/bin/node ${APP}/controller/bin/left4me.js controller --state /etc/left4me/state --pid-file /run/left4me/controller.pid --unit-dir /run/systemd/system --port-range ${GAME} --client-port-range ${CLIENT}`,
      'ExecReload=',
      'ReadWritePaths=/run/systemd/system',
      '',
    ].join('\n'),
  );
  await demo.systemd.reload();
}, 60_000);

afterAll(async () => {
  await demo?.stop();
});

describe('left4me doctor inside a private host', () => {
  it('reads a real seccomp kill out of a failed (or crash-looping) server unit\'s journal and names the compat profile', async () => {
    // A unit of the servers' name whose process makes a system call its filter kills: SIGSYS, as srcds would get.
    const run = await demo.host.exec('systemd-run', ['--unit=left4me-server@sigsys.service', '--wait', '-p', 'SystemCallFilter=~uname', '/usr/bin/uname']);
    expect(run.code).not.toBe(0);
    const { check } = await doctor();
    const sandbox = check('server-sandbox');
    expect(sandbox.status).toBe('problem');
    expect(sandbox.detail).toContain('left4me-server@sigsys.service was killed by the system call filter (seccomp)');
    expect(sandbox.detail).toMatch(/status=31\/SYS/);
    expect(sandbox.fix).toContain('run the controller with --server-sandbox compat');
    await demo.host.exec('systemctl', ['reset-failed', 'left4me-server@sigsys.service']);
    expect((await doctor()).check('server-sandbox')).toMatchObject({ status: 'ok', detail: 'no game server has failed' });

    // One that restarts on failure is found while it waits to crash again, before its start limit makes it failed.
    await demo.host.exec('systemd-run', ['--unit=left4me-server@loop.service', '-p', 'Restart=on-failure', '-p', 'RestartSec=1h', '-p', 'SystemCallFilter=~uname', '/usr/bin/uname']);
    await waitFor('loop waiting to restart', async () => (await demo.host.exec('systemctl', ['show', 'left4me-server@loop.service', '-p', 'SubState', '--value'])).stdout.trim() === 'auto-restart');
    expect((await doctor()).check('server-sandbox').detail).toContain('left4me-server@loop.service was killed by the system call filter (seccomp)');
    await demo.host.exec('systemctl', ['stop', 'left4me-server@loop.service']);
    await demo.host.exec('systemctl', ['reset-failed', 'left4me-server@loop.service']);
    expect((await doctor()).check('server-sandbox').status).toBe('ok');
  }, 60_000);

  it('finds the controller unit active, its port ranges, and only left4me\'s server in them', async () => {
    await demo.systemd.enableUnitFiles([CONTROLLER], { runtime: true });
    await demo.systemd.reload();
    await demo.systemd.start(CONTROLLER);
    await waitFor('d1 Ready', async () => condition(await demo.status.read('Instance', 'd1'), 'Ready') === 'True', 60_000);
    const { report, check } = await doctor();
    expect(report.controllerFlags).toMatchObject({ 'port-range': GAME, 'client-port-range': CLIENT });
    expect(check('controller-unit')).toMatchObject({ status: 'ok', detail: 'active (running), enabled-runtime' });
    expect(check('web-unit')).toMatchObject({ status: 'warning', detail: expect.stringContaining('not installed') });
    expect(check('systemd')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^systemd \d+, running as PID 1$/) });
    expect(check('accounts').status).toBe('ok');
    const port = (await demo.status.read('Instance', 'd1'))!.port!;
    expect(port).toBeGreaterThanOrEqual(28180);
    expect(check('ports')).toMatchObject({ status: 'ok', detail: expect.stringMatching(new RegExp(`^${GAME} \\(game\\), ${CLIENT} \\(client\\): only left4me's game servers \\(\\d+ sockets\\)$`)) });
  }, 90_000);

  it('a stranger listening in the range is named, the server still counted as left4me\'s', async () => {
    const stranger = createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(28189, '127.0.0.1', () => resolve()));
    try {
      const ports = (await doctor()).check('ports');
      expect(ports.status).toBe('warning');
      expect(ports.detail).toContain('udp 28189 held by');
      expect(ports.detail).not.toMatch(new RegExp(`(udp|tcp) ${(await demo.status.read('Instance', 'd1'))!.port!} held by`));
    } finally {
      await new Promise<void>((resolve) => stranger.close(() => resolve()));
    }
  });

  it('finds the controller unit stopped once it is, and says so with exit 1', async () => {
    await demo.systemd.stop(CONTROLLER);
    const { code, check } = await doctor();
    expect(check('controller-unit')).toMatchObject({ status: 'problem', detail: expect.stringMatching(/^inactive \(dead\)/), fix: expect.stringContaining(`systemctl enable --now ${CONTROLLER}`) });
    expect(code).toBe(1);
  }, 60_000);
});
