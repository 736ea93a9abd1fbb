// kill -9 the controller at random points of a 20-instance converge, ten
// times; the next run must converge to exactly the desired state, with no
// leaked mounts, units, leases or half-written files.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbusSystemdAdapter } from '../controller/systemd/dbus-adapter.js';
import { BASE_DOCS, bootDemoHost, instanceDoc, spawnController, UNIT_DIR, waitFor, type DemoHost } from './support/demo-host.js';
import { mulberry32 } from './support/prng.js';

const N = 20;
// Private hosts share the machine's network namespace: this suite leases its own ports, apart from the others'.
const PORTS = ['--port-range', '28015-28115', '--client-port-range', '29015-29115'];
const KILLS = 10;
let demo: DemoHost;

function exited(child: ReturnType<typeof spawnController>): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  for (let i = 0; i < N; i++) await demo.write(`instances/s${i}.yaml`, instanceDoc(`s${i}`, [`cvars: {hostname: "Server ${i}"}`]));
}, 60_000);

afterAll(async () => {
  await demo?.stop();
});

describe('crash recovery', () => {
  it(`converges exactly after ${KILLS} kill -9s at random points`, async () => {
    const seed = Number(process.env.LEFT4ME_CRASH_SEED ?? Date.now() % 100000);
    const random = mulberry32(seed);
    console.log(`crash-recovery seed ${seed} (set LEFT4ME_CRASH_SEED to replay)`);
    for (let k = 0; k < KILLS; k++) {
      const child = spawnController(demo, PORTS);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise((r) => setTimeout(r, 150 + random() * 1500));
      expect(child.exitCode, `controller died early: ${stderr}`).toBeNull();
      child.kill('SIGKILL');
      await exited(child);
    }

    const last = spawnController(demo, [...PORTS, '--once']);
    let stderr = '';
    last.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await exited(last), stderr).toBe(0);

    const systemd = new DbusSystemdAdapter({ address: demo.host.busAddress });
    try {
      const services = (await systemd.listUnits(['left4me-server@*.service'])).filter((u) => u.activeState !== 'inactive');
      expect(services.map((u) => `${u.name} ${u.activeState}`).sort()).toEqual(
        Array.from({ length: N }, (_, i) => `left4me-server@s${i}.service active`).sort(),
      );
      const pids = new Map(services.map((u) => [u.name, u.mainPid]));

      // Exactly one overlay mount per instance in the host's mount table.
      const mountinfo = await readFile(`/proc/${demo.host.pid}/mountinfo`, 'utf8');
      const overlays = mountinfo.split('\n').filter((l) => l.includes(' - overlay ') && l.includes('/var/lib/left4me/runtime/'));
      expect(overlays).toHaveLength(N);

      // Unit files: slices, the template and one mount per instance; no temp files.
      const unitFiles = (await readdir(join(demo.host.root, UNIT_DIR))).filter((f) => f.startsWith('l4d2') || f.startsWith('left4me-server') || f.startsWith('var-lib-left4me') || f.endsWith('.tmp'));
      expect(unitFiles.filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(unitFiles.filter((f) => f.endsWith('.mount'))).toHaveLength(N);
      expect((await readdir(join(demo.host.root, UNIT_DIR, 'multi-user.target.wants'))).filter((f) => f.startsWith('left4me-server@')).sort()).toEqual(
        Array.from({ length: N }, (_, i) => `left4me-server@s${i}.service`).sort(),
      );

      // Leases: one per instance, all distinct.
      const leases = (JSON.parse(await readFile(join(demo.host.dirs.varLib, 'status', 'leases.json'), 'utf8')) as { leases: Record<string, { port: number; clientPort: number }> }).leases;
      expect(Object.keys(leases).sort()).toEqual(Array.from({ length: N }, (_, i) => `s${i}`).sort());
      expect(new Set(Object.values(leases).map((l) => l.port)).size).toBe(N);
      expect(new Set(Object.values(leases).map((l) => l.clientPort)).size).toBe(N);

      // No unfinished builds.
      for (const dir of ['overlays/maps', 'overlays/rates']) {
        expect((await readdir(join(demo.host.dirs.varLib, dir))).filter((e) => e.startsWith('.'))).toEqual([]);
      }

      // And the state is stable: one more pass changes nothing.
      const again = spawnController(demo, [...PORTS, '--once']);
      expect(await exited(again)).toBe(0);
      const after = (await systemd.listUnits(['left4me-server@*.service'])).filter((u) => u.activeState === 'active');
      expect(new Map(after.map((u) => [u.name, u.mainPid]))).toEqual(pids);
    } finally {
      await systemd.close();
    }
  }, 240_000);

  it('left4me reconcile asks the running controller for a full pass (SIGHUP through its pid file)', async () => {
    const pidFile = join(demo.host.dirs.base, 'controller.pid');
    const child = spawnController(demo, [...PORTS, '--pid-file', pidFile, '--log-level', 'info']);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor('pid file', async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() === String(child.pid));
      await waitFor('first pass', async () => stderr.includes('initial pass done'));
      const { main } = await import('../controller/cli/main.js');
      let out = '';
      expect(await main(['reconcile', '--pid-file', pidFile], { out: (t) => void (out += t), err: () => undefined })).toBe(0);
      expect(out).toBe(`asked the controller (pid ${child.pid}) to reconcile everything now\n`);
      await waitFor('SIGHUP handled', async () => stderr.includes('SIGHUP: reconciling everything now'));
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    // A clean stop removes the pid file.
    await expect(readFile(pidFile, 'utf8')).rejects.toThrow();
  });
});
