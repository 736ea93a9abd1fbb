// Reconciler benchmarks in a private systemd host with demo game servers and
// prebuilt overlays, each against a baseline measured in the same host and
// run: the same unit files written and started directly over D-Bus.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DbusSystemdAdapter } from '../../controller/systemd/dbus-adapter.js';
import { mountUnitName } from '../../controller/systemd/units.js';
import { BASE_DOCS, bootDemoHost, instanceDoc, spawnController, startController, UNIT_DIR, waitFor, type DemoHost } from '../support/demo-host.js';
import { percentile } from './measure.js';
import { median, type BenchResult } from './report.js';

const N = Number(process.env.LEFT4ME_BENCH_INSTANCES ?? 100);
const EDITS = Number(process.env.LEFT4ME_BENCH_EDITS ?? 50);
const names = Array.from({ length: N }, (_, i) => `b${i}`);
const service = (n: string) => `left4me-server@${n}.service`;

async function allActive(systemd: DbusSystemdAdapter, count: number): Promise<boolean> {
  const units = await systemd.listUnits(['left4me-server@*.service']);
  return units.filter((u) => u.activeState === 'active').length === count;
}

/** Stops every server and mount and removes the per-instance unit files and launch.env (keeping builds and config layers). */
async function teardownUnits(demo: DemoHost, systemd: DbusSystemdAdapter): Promise<Map<string, string>> {
  const saved = new Map<string, string>();
  await Promise.all(names.map((n) => systemd.stop(service(n)).catch(() => undefined)));
  await Promise.all(names.map((n) => systemd.stop(mountUnitName(`/var/lib/left4me/runtime/${n}`)).catch(() => undefined)));
  for (const n of names) {
    const unitFile = join(demo.host.root, UNIT_DIR, mountUnitName(`/var/lib/left4me/runtime/${n}`));
    const env = join(demo.host.dirs.varLib, 'instances', n, 'launch.env');
    for (const f of [unitFile, env]) {
      saved.set(f, await readFile(f, 'utf8'));
      await rm(f);
    }
  }
  await systemd.reload();
  return saved;
}

/** The benchmarks of issue 4: cold converge, edit → active, no-op resync. */
export async function benchReconcile(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const demo = await bootDemoHost();
  const systemd = new DbusSystemdAdapter({ address: demo.host.busAddress });
  try {
    await demo.write('base.yaml', BASE_DOCS);
    for (const n of names) await demo.write(`instances/${n}.yaml`, instanceDoc(n, ['updatePolicy: immediate']));

    // Warm-up: one full converge builds the overlays and config layers ("prebuilt"), leases ports, writes units.
    let ctl = await startController(demo, {}, { watch: false });
    await ctl.controller.idle();
    await waitFor('warm-up converge', () => allActive(systemd, N), 180_000, 250);
    await ctl.stop();

    // (a) Baseline: write the same files, one reload, start all directly over D-Bus.
    const files = await teardownUnits(demo, systemd);
    let t = performance.now();
    for (const [path, text] of files) await writeFile(path, text);
    await systemd.reload();
    await Promise.all(names.map((n) => systemd.start(service(n))));
    const directCold = performance.now() - t;

    // (a) The controller from the same starting point (builds present, units absent).
    await teardownUnits(demo, systemd);
    t = performance.now();
    ctl = await startController(demo, {}, { watch: false });
    await ctl.controller.idle();
    await waitFor('controller cold converge', () => allActive(systemd, N), 180_000, 50);
    const controllerCold = performance.now() - t;
    results.push({ name: `cold converge, ${N} instances (to every unit active)`, value: controllerCold, unit: 'ms', baseline: directCold, baselineName: 'write units + start over D-Bus directly', target: 1.5 });

    // (c) No-op resync at N instances: D-Bus calls, CPU and memory of this process.
    await ctl.controller.idle();
    await new Promise((r) => setTimeout(r, 3000)); // let health requeues settle
    await ctl.controller.idle();
    const adapter = ctl.systemd;
    // The periodic resync in steady state: one pass to warm up (JIT, first garbage collection of builds), then the median of three.
    await ctl.controller.reconcileAll();
    const cpuMs: number[] = [];
    const wallMs: number[] = [];
    const calls: number[] = [];
    for (let i = 0; i < 3; i++) {
      const callsBefore = adapter.stats.calls;
      const cpuBefore = process.cpuUsage();
      t = performance.now();
      await ctl.controller.reconcileAll();
      wallMs.push(performance.now() - t);
      const cpu = process.cpuUsage(cpuBefore);
      cpuMs.push((cpu.user + cpu.system) / 1000);
      calls.push(adapter.stats.calls - callsBefore);
    }
    results.push({ name: `no-op resync, ${N} instances: D-Bus calls (all reads)`, value: median(calls), unit: 'calls' });
    results.push({ name: `no-op resync, ${N} instances: controller CPU incl. ${N} A2S queries (median of 3)`, value: median(cpuMs), unit: 'ms' });
    results.push({ name: `no-op resync, ${N} instances: wall time (median of 3)`, value: median(wallMs), unit: 'ms' });
    await ctl.stop();

    // RSS of the controller alone: `left4me controller` as its own process, after its first pass over N instances and a resync.
    const child = spawnController(demo, ['--log-level', 'info', '--pid-file', join(demo.host.dirs.base, 'bench-controller.pid')]);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor('controller first pass', async () => stderr.includes('initial pass done'), 120_000, 100);
      process.kill(child.pid!, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 5000));
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
      results.push({ name: `controller process RSS at ${N} instances (after a pass and a resync)`, value: rss, unit: 'MiB' });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }

    // (b) One document edit → unit active, vs starting that unit directly.
    ctl = await startController(demo, {}, { watch: true });
    await ctl.controller.idle();
    const edit: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < EDITS; i++) {
      const n = names[i % N]!;
      // Direct: the unit stopped, then started over D-Bus.
      await systemd.stop(service(n));
      t = performance.now();
      await systemd.start(service(n));
      direct.push(performance.now() - t);
      // Edit: the document says stopped, the controller stops it; then an edit says running.
      await demo.write(`instances/${n}.yaml`, instanceDoc(n, ['updatePolicy: immediate', 'state: stopped']));
      await waitFor(`${n} stopped`, async () => (await systemd.getUnit(service(n))).activeState === 'inactive', 30_000, 10);
      await ctl.controller.idle();
      t = performance.now();
      await demo.write(`instances/${n}.yaml`, instanceDoc(n, ['updatePolicy: immediate']));
      await waitFor(`${n} active`, async () => (await systemd.getUnit(service(n))).activeState === 'active', 30_000, 2);
      edit.push(performance.now() - t);
    }
    results.push({ name: `document edit → unit active, p50 of ${EDITS}`, value: median(edit), unit: 'ms', baseline: median(direct), baselineName: 'StartUnit directly, p50', target: 1.15 });
    results.push({ name: `document edit → unit active, p95 of ${EDITS}`, value: percentile(edit, 95), unit: 'ms', baseline: percentile(direct, 95), baselineName: 'StartUnit directly, p95' });
    await ctl.stop();
  } finally {
    await systemd.close().catch(() => undefined);
    await demo.stop();
  }
  return results;
}
