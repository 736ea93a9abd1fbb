// The controller running as deploy/left4me-controller.service, hardening and
// all, inside a private systemd: it converges the documents, and stopping or
// restarting the controller unit stops no game server.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeDemoInstallation } from '../controller/demo/game-server/installation.js';
import { packageRoot } from '../controller/package-root.js';
import { StatusStore } from '../controller/status/store.js';
import { DbusSystemdAdapter } from '../controller/systemd/dbus-adapter.js';
import { bootPrivateHost, type PrivateHost } from '../controller/demo/private-host/private-host.js';
import { BASE_DOCS, condition, instanceDoc, queryServer, waitFor } from './support/demo-host.js';

let host: PrivateHost;
let systemd: DbusSystemdAdapter;
let status: StatusStore;
const APP = '/var/lib/left4me-app';

beforeAll(async () => {
  // The checkout, read-only, where the unit's drop-in runs the CLI from (the host has no /usr/local/bin/left4me).
  host = await bootPrivateHost({ binds: [{ source: packageRoot(), target: APP, readOnly: true }] });
  systemd = new DbusSystemdAdapter({ address: host.busAddress });
  status = new StatusStore(join(host.root, '/var/lib/left4me/status'));
  await placeDemoInstallation(host);
  await mkdir(join(host.dirs.etc, 'state'), { recursive: true });
  await writeFile(join(host.dirs.etc, 'state', 'base.yaml'), BASE_DOCS);
  for (const n of ['u1', 'u2']) await writeFile(join(host.dirs.etc, 'state', `${n}.yaml`), instanceDoc(n, [`cvars: {hostname: "Unit ${n}"}`]));
  await copyFile(join(packageRoot(), 'deploy', 'left4me-controller.service'), join(host.dirs.units, 'left4me-controller.service'));
  await mkdir(join(host.dirs.units, 'left4me-controller.service.d'), { recursive: true });
  await writeFile(
    join(host.dirs.units, 'left4me-controller.service.d', 'test.conf'),
    [
      '[Service]',
      'ExecStart=',
      `ExecStart=/usr/bin/node ${APP}/controller/bin/left4me.js controller --state /etc/left4me/state --pid-file /run/left4me/controller.pid --unit-dir /run/systemd/system --port-range 28400-28499 --client-port-range 29400-29499`,
      'ExecReload=',
      `ExecReload=/usr/bin/node ${APP}/controller/bin/left4me.js reconcile --main-pid $MAINPID --pid-file /run/left4me/controller.pid`,
      // Test hosts keep unit files under /run; production writes /etc/systemd/system.
      'ReadWritePaths=/run/systemd/system',
      '',
    ].join('\n'),
  );
  await systemd.reload();
}, 60_000);

/** systemd's own facts about a unit (`systemctl show`), as strings. */
async function unitFacts(unit: string): Promise<Record<string, string>> {
  const out = await host.exec('systemctl', ['show', unit, '-p', 'ExecMainPID,NRestarts,InvocationID,ActiveState']);
  return Object.fromEntries(out.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

afterAll(async () => {
  await systemd?.close();
  await host?.stop();
});

describe('the controller as its hardened systemd unit', () => {
  it('converges the documents', async () => {
    await systemd.start('left4me-controller.service');
    for (const n of ['u1', 'u2']) {
      await waitFor(`${n} Ready`, async () => condition(await status.read('Instance', n), 'Ready') === 'True', 30_000);
      expect((await queryServer((await status.read('Instance', n))!.port!)).name).toBe(`Unit ${n}`);
    }
    const log = await host.exec('journalctl', ['--no-pager', '-u', 'left4me-controller.service']);
    expect(log.stdout).not.toMatch(/EACCES|EPERM|Read-only file system/);
  });

  it('stopping and restarting the controller unit stops no game server', async () => {
    const pids = await Promise.all(['u1', 'u2'].map(async (n) => (await systemd.getUnit(`left4me-server@${n}.service`)).mainPid));
    await systemd.stop('left4me-controller.service');
    for (const [i, n] of ['u1', 'u2'].entries()) {
      const u = await systemd.getUnit(`left4me-server@${n}.service`);
      expect(u.activeState).toBe('active');
      expect(u.mainPid).toBe(pids[i]);
    }
    // A reload right after the (re)start: systemd calls a Type=exec unit started at exec, long
    // before the controller has loaded. ExecReload= waits until it handles SIGHUP.
    const before = await unitFacts('left4me-controller.service');
    await systemd.restart('left4me-controller.service');
    const reload = await host.exec('systemctl', ['reload', 'left4me-controller.service']);
    expect(reload.code).toBe(0);
    const after = await unitFacts('left4me-controller.service');
    expect(after.InvocationID).not.toBe(before.InvocationID);
    await waitFor('the reload answered', async () => (await host.exec('journalctl', ['--no-pager', '-u', 'left4me-controller.service', `_SYSTEMD_INVOCATION_ID=${after.InvocationID}`])).stdout.match(/SIGHUP (during start|: reconciling)/), 60_000);
    // Still the process systemd started, never restarted by a SIGHUP that killed it.
    const now = await unitFacts('left4me-controller.service');
    expect(now.ExecMainPID).toBe(after.ExecMainPID);
    expect(now.NRestarts).toBe('0');
    expect(now.ActiveState).toBe('active');
    for (const [i, n] of ['u1', 'u2'].entries()) expect((await systemd.getUnit(`left4me-server@${n}.service`)).mainPid).toBe(pids[i]);
  }, 90_000);

  it('`left4me reconcile` asks a controller under systemd through the unit\'s reload', async () => {
    const facts = await unitFacts('left4me-controller.service');
    const out = await host.exec('/usr/bin/node', [`${APP}/controller/bin/left4me.js`, 'reconcile']);
    expect(out.stdout).toContain(`(left4me-controller.service, pid ${facts.ExecMainPID})`);
    await waitFor('a reload job in the journal', async () => (await host.exec('journalctl', ['--no-pager', '-u', 'left4me-controller.service', `_SYSTEMD_INVOCATION_ID=${facts.InvocationID}`])).stdout.includes('SIGHUP: reconciling everything now'));
    const journal = await host.exec('journalctl', ['--no-pager', '-u', 'left4me-controller.service', '-o', 'cat']);
    expect(journal.stdout).toMatch(/Reloaded left4me-controller\.service/);
    expect((await unitFacts('left4me-controller.service')).ExecMainPID).toBe(facts.ExecMainPID);
  });
});
