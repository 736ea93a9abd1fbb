// DbusSystemdAdapter against a real systemd and a real system bus in a
// private host: jobs resolve on `done` and reject with systemd's own result,
// unit changes arrive as signals within milliseconds, and a resync costs a
// constant number of D-Bus calls however many instances run.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemdError, UnitJobError, type UnitState } from '../controller/systemd/adapter.js';
import { DbusSystemdAdapter } from '../controller/systemd/dbus-adapter.js';
import { bootPrivateHost, findHostLeaks, type PrivateHost } from '../controller/demo/private-host/private-host.js';

describe('DbusSystemdAdapter on a private host', () => {
  let host: PrivateHost;
  let systemd: DbusSystemdAdapter;

  const writeUnit = (name: string, text: string) => writeFileSync(join(host.dirs.units, name), text);
  const hostFile = (path: string) => join(host.root, path);

  beforeAll(async () => {
    host = await bootPrivateHost();
    systemd = new DbusSystemdAdapter({ address: host.busAddress });
  });

  afterAll(async () => {
    await systemd?.close();
    const identity = host?.identity;
    await host?.stop();
    if (identity) expect(findHostLeaks(identity)).toEqual({ processes: [], mounts: [], cgroups: [], dirs: [] });
  });

  it('starts a simple service, lists it running with its MainPID, and stops it', async () => {
    writeUnit('l4m-sleep.service', '[Unit]\nDescription=sleeper\n[Service]\nType=simple\nExecStart=/bin/sleep infinity\n');
    await systemd.reload();
    await systemd.start('l4m-sleep.service');
    // Already running: the job ends at once, often before its reply is read.
    await systemd.start('l4m-sleep.service');

    const [unit] = await systemd.listUnits(['l4m-sleep.service']);
    expect(unit).toMatchObject({ name: 'l4m-sleep.service', description: 'sleeper', loadState: 'loaded', activeState: 'active', subState: 'running', result: 'success' });
    expect(unit?.mainPid).toBeGreaterThan(1);
    const machinePid = host.machinePid(unit!.mainPid!);
    expect(readFileSync(`/proc/${machinePid}/cmdline`, 'utf8')).toBe('/bin/sleep\0infinity\0');

    await systemd.stop('l4m-sleep.service');
    expect(await systemd.getUnit('l4m-sleep.service')).toMatchObject({ activeState: 'inactive', subState: 'dead', mainPid: 0 });
  });

  it('reports units systemd does not know as not-found', async () => {
    expect(await systemd.getUnit('l4m-no-such.service')).toMatchObject({ name: 'l4m-no-such.service', loadState: 'not-found', activeState: 'inactive' });
    await expect(systemd.start('l4m-no-such.service')).rejects.toMatchObject({ code: 'call', dbusName: 'org.freedesktop.systemd1.NoSuchUnit' });
  });

  it("rejects start with systemd's job result when the service fails", async () => {
    writeUnit('l4m-false.service', '[Service]\nType=oneshot\nExecStart=/bin/false\n');
    writeUnit('l4m-missing.service', '[Service]\nType=exec\nExecStart=/nonexistent/l4m-binary\n');
    writeUnit('l4m-needs-false.service', '[Unit]\nRequires=l4m-false.service\nAfter=l4m-false.service\n[Service]\nExecStart=/bin/sleep infinity\n');
    await systemd.reload();

    const failed = await systemd.start('l4m-false.service').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(UnitJobError);
    expect(failed).toMatchObject({ code: 'job', unit: 'l4m-false.service', jobType: 'start', result: 'failed', unitResult: 'exit-code' });
    expect((failed as Error).message).toContain('journalctl -u l4m-false.service');

    await expect(systemd.start('l4m-missing.service')).rejects.toMatchObject({ result: 'failed', unitResult: 'exit-code' });
    await expect(systemd.start('l4m-needs-false.service')).rejects.toMatchObject({ result: 'dependency' });

    expect(await systemd.getUnit('l4m-false.service')).toMatchObject({ activeState: 'failed', result: 'exit-code' });
    await systemd.resetFailed('l4m-false.service');
    expect(await systemd.getUnit('l4m-false.service')).toMatchObject({ activeState: 'inactive' });
  });

  it('sees a SIGKILL of the main process from outside through onUnitChanged within 100 ms', async () => {
    writeUnit('l4m-victim.service', '[Service]\nExecStart=/bin/sleep infinity\n');
    await systemd.reload();
    const figures: number[] = [];
    // Machines are noisy: measure up to five times, pass on the first run under the bar.
    for (let attempt = 0; attempt < 5; attempt++) {
      await systemd.resetFailed('l4m-victim.service').catch(() => undefined);
      await systemd.start('l4m-victim.service');
      const { mainPid } = await systemd.getUnit('l4m-victim.service');
      const machinePid = host.machinePid(mainPid!);
      expect(machinePid).not.toBeNull();

      let off: () => void = () => undefined;
      const seen = new Promise<number>((resolve) => {
        off = systemd.onUnitChanged((name) => {
          if (name === 'l4m-victim.service') resolve(performance.now());
        });
      });
      const killedAt = performance.now();
      process.kill(machinePid!, 'SIGKILL');
      const latency = (await seen) - killedAt;
      off();
      figures.push(latency);
      if (latency <= 100) break;
    }
    console.log(`kill -> onUnitChanged latency (ms): ${figures.map((f) => f.toFixed(2)).join(', ')}`);
    expect(Math.min(...figures)).toBeLessThanOrEqual(100);
    expect(await systemd.getUnit('l4m-victim.service')).toMatchObject({ activeState: 'failed', result: 'signal', mainPid: 0 });
  });

  it('enables and disables unit files inside the host only', async () => {
    writeUnit('l4m-enable.service', '[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=left4me-test.target\n');
    await systemd.reload();
    const link = '/etc/systemd/system/left4me-test.target.wants/l4m-enable.service';

    const enabled = await systemd.enableUnitFiles(['l4m-enable.service']);
    expect(enabled).toEqual([{ type: 'symlink', path: link, source: '/run/systemd/system/l4m-enable.service' }]);
    await systemd.reload();
    expect((await host.exec('systemctl', ['is-enabled', 'l4m-enable.service'])).stdout.trim()).toBe('enabled');
    expect(existsSync(link)).toBe(false);

    const disabled = await systemd.disableUnitFiles(['l4m-enable.service']);
    expect(disabled).toEqual([{ type: 'unlink', path: link, source: '' }]);
    await systemd.reload();
    expect((await host.exec('systemctl', ['is-enabled', 'l4m-enable.service'])).stdout.trim()).toBe('disabled');

    const runtime = await systemd.enableUnitFiles(['l4m-enable.service'], { runtime: true });
    expect(runtime[0]?.path).toBe('/run/systemd/system/left4me-test.target.wants/l4m-enable.service');
    await systemd.disableUnitFiles(['l4m-enable.service'], { runtime: true });
  });

  it('runs a transient unit and resolves when its start job is done', async () => {
    await systemd.startTransient('l4m-transient.service', [
      ['Description', 's', 'left4me transient probe'],
      ['Type', 's', 'oneshot'],
      ['RemainAfterExit', 'b', true],
      ['ExecStart', 'a(sasb)', [['/bin/sh', ['/bin/sh', '-c', 'echo built > /run/l4m-transient.out'], false]]],
      ['MemoryMax', 't', 256n * 1024n * 1024n],
    ]);
    expect(readFileSync(hostFile('/run/l4m-transient.out'), 'utf8')).toBe('built\n');
    expect(await systemd.getUnit('l4m-transient.service')).toMatchObject({ activeState: 'active', subState: 'exited', result: 'success' });

    await expect(
      systemd.startTransient('l4m-transient-fail.service', [
        ['Type', 's', 'oneshot'],
        ['ExecStart', 'a(sasb)', [['/bin/false', ['/bin/false'], false]]],
      ]),
    ).rejects.toMatchObject({ result: 'failed', unitResult: 'exit-code' });
  });

  it('runs 100 template instances; a warm resync reads them with one D-Bus call', async () => {
    writeUnit('l4m-game@.service', '[Unit]\nDescription=game %i\n[Service]\nExecStart=/bin/sleep infinity\n');
    await systemd.reload();
    const names = Array.from({ length: 100 }, (_, i) => `l4m-game@srv-${i}.service`);
    await Promise.all(names.map((n) => systemd.start(n)));

    const cold0 = systemd.stats.calls;
    const cold = await systemd.listUnits(['l4m-game@*.service']);
    const coldCalls = systemd.stats.calls - cold0;
    const warm0 = systemd.stats.calls;
    const warm = await systemd.listUnits(['l4m-game@*.service']);
    const warmCalls = systemd.stats.calls - warm0;
    console.log(`listUnits over 100 instances: ${coldCalls} D-Bus calls cold, ${warmCalls} warm`);

    expect(cold).toHaveLength(100);
    expect(warm).toEqual(cold);
    expect(warm.every((u: UnitState) => u.activeState === 'active' && u.subState === 'running' && (u.mainPid ?? 0) > 1)).toBe(true);
    expect(warm.find((u) => u.name === 'l4m-game@srv-7.service')?.description).toBe('game srv-7');
    expect(warmCalls).toBe(1);

    // The cache follows signals: after a stop the resync is still one call, and
    // the stopped instance is either unloaded by systemd already or shown dead.
    await systemd.stop('l4m-game@srv-7.service');
    const after0 = systemd.stats.calls;
    const after = await systemd.listUnits(['l4m-game@*.service']);
    expect(systemd.stats.calls - after0).toBe(1);
    expect(after.filter((u) => u.activeState === 'active')).toHaveLength(99);
    const seven = after.find((u) => u.name === 'l4m-game@srv-7.service');
    if (seven) expect(seven).toMatchObject({ activeState: 'inactive', mainPid: 0 });
    expect(await systemd.getUnit('l4m-game@srv-7.service')).toMatchObject({ loadState: 'loaded', activeState: 'inactive', mainPid: 0 });

    await Promise.all(names.map((n) => systemd.stop(n)));
    const stopped = await systemd.listUnits(['l4m-game@*.service']);
    expect(stopped.filter((u) => u.activeState === 'active')).toEqual([]);
  });

  it('kills a unit, makes no calls while idle, and restarts a unit', async () => {
    writeUnit('l4m-restart.service', '[Service]\nExecStart=/bin/sleep infinity\n');
    await systemd.reload();
    await systemd.start('l4m-restart.service');
    const before = (await systemd.getUnit('l4m-restart.service')).mainPid;
    await systemd.restart('l4m-restart.service');
    const after = (await systemd.getUnit('l4m-restart.service')).mainPid;
    expect(after).toBeGreaterThan(1);
    expect(after).not.toBe(before);

    const idle0 = systemd.stats.calls;
    await new Promise((r) => setTimeout(r, 200));
    expect(systemd.stats.calls).toBe(idle0);

    const changed = new Promise<void>((resolve) => {
      const off = systemd.onUnitChanged((n) => {
        if (n === 'l4m-restart.service') {
          off();
          resolve();
        }
      });
    });
    await systemd.killUnit('l4m-restart.service', 'SIGKILL');
    await changed;
    await expect(systemd.killUnit('l4m-restart.service', 'SIGNOPE')).rejects.toBeInstanceOf(SystemdError);
  });

  it('reconnects after the system bus restarts and keeps receiving signals', async () => {
    const reconnected = new Promise<void>((resolve) => {
      const off = systemd.onReconnected(() => {
        off();
        resolve();
      });
    });
    const connects = systemd.stats.connects;
    const r = await host.exec('systemctl', ['restart', 'dbus.service']);
    expect(r.code).toBe(0);
    await reconnected;
    expect(systemd.stats.connects).toBe(connects + 1);

    writeUnit('l4m-after-restart.service', '[Service]\nExecStart=/bin/sleep infinity\n');
    await systemd.reload();
    const changed = new Promise<void>((resolve) => {
      const off = systemd.onUnitChanged((n) => {
        if (n === 'l4m-after-restart.service') {
          off();
          resolve();
        }
      });
    });
    await systemd.start('l4m-after-restart.service');
    await changed;
    expect(await systemd.getUnit('l4m-after-restart.service')).toMatchObject({ activeState: 'active' });
  });

  it('a job wait in flight when the bus restarts fails with code disconnected, at once, and the same start succeeds after the reconnect', async () => {
    // A start job that runs for a while: its JobRemoved would come after the bus is gone.
    writeUnit('l4m-slow-start.service', '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 4\n');
    await systemd.reload();
    const lost: SystemdError[] = [];
    const offLost = systemd.onDisconnected((err) => lost.push(err));
    const reconnected = new Promise<void>((resolve) => {
      const off = systemd.onReconnected(() => {
        off();
        resolve();
      });
    });
    const started = systemd.start('l4m-slow-start.service').then(
      () => 'resolved',
      (err: unknown) => err,
    );
    // The job is queued in systemd (the reply came) before the bus goes.
    for (let i = 0; i < 100 && !(await systemd.getUnit('l4m-slow-start.service')).job; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await systemd.getUnit('l4m-slow-start.service')).job).toBeDefined();
    expect((await host.exec('systemctl', ['restart', 'dbus.service'])).code).toBe(0);
    const outcome = await started;
    expect(outcome).toBeInstanceOf(SystemdError);
    expect(outcome).toMatchObject({ code: 'disconnected' });
    expect(lost.map((e) => e.code)).toEqual(['disconnected']);
    await reconnected;
    offLost();
    // The caller's retry: systemd finished (or still runs) the first job; a start of an active unit is done at once.
    await systemd.start('l4m-slow-start.service');
    expect(await systemd.getUnit('l4m-slow-start.service')).toMatchObject({ activeState: 'active' });
  });

  it('rejects calls after close', async () => {
    const other = new DbusSystemdAdapter({ address: host.busAddress });
    await other.getUnit('dbus.service');
    await other.close();
    await expect(other.getUnit('dbus.service')).rejects.toMatchObject({ code: 'closed' });
  });
});
