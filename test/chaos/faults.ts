// The reliability suite's host-fault scenarios: the system bus restarted
// under a running controller, and a full disk under the data directory
// during builds and during status writes. Sized by the caller: a short
// seeded run in test/chaos-faults.test.ts, a long one in faults.chaos.ts.
// Each ends with checkHost (support/chaos.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BASE_DOCS, instanceDoc, queryServer, waitFor, type DemoHost } from '../support/demo-host.js';
import { checkHost, controllerProcess, desiredState, readLeases, serverFacts, setChaosSetup, settle, statusProblems, type ControllerProcess, type HostCheck } from '../support/chaos.js';


/** What one scenario run did, for its report line. */
export interface FaultReport extends HostCheck {
  seed: number;
  detail: string;
}

/** This suite's ports (see the port table in demo-host.ts); `dataDir` reads the data directory as the host sees it, tmpfs mounts included. */
export function faultsSetup(demo: DemoHost): void {
  setChaosSetup(demo, { game: { min: 30020, max: 30039 }, client: { min: 31020, max: 31039 }, dataDir: join(demo.host.root, 'var/lib/left4me') });
}

/** Runs a command inside the host; fails with its output when it exits non-zero. */
async function hostRun(demo: DemoHost, cmd: string, args: string[]): Promise<string> {
  const r = await demo.host.exec(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Throws with the controller's stderr when it exited: every scenario's controller must stay up through its faults. */
function aliveCheck(c: ControllerProcess): () => void {
  return () => {
    if (c.child.exitCode !== null || c.child.signalCode !== null) throw new Error(`the controller exited (${c.child.exitCode ?? c.child.signalCode}): ${c.stderr().slice(-4000)}`);
  };
}

/** Waits until every document's status is current and Ready, under a controller that must stay up. */
async function converged(demo: DemoHost, c: ControllerProcess, what: string, timeoutMs = 120_000): Promise<void> {
  const alive = aliveCheck(c);
  let last: string[] = [];
  await waitFor(
    what,
    async () => {
      alive();
      last = await statusProblems(demo, await desiredState(demo));
      return last.length === 0;
    },
    timeoutMs,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nstill: ${last.slice(0, 8).join('; ')}\ncontroller stderr:\n${c.stderr().slice(-6000)}`);
  });
  alive();
}

/** The game port an instance holds (its lease). */
async function leasedPort(demo: DemoHost, name: string): Promise<number> {
  const port = (await readLeases(demo))[name]?.port;
  if (port === undefined) throw new Error(`${name} holds no lease`);
  return port;
}

/**
 * `systemctl restart dbus.service` inside the host, `restarts` times at seeded
 * moments (some back to back), while one controller daemon converges
 * `instances` new servers and document edits land between the restarts. The
 * same controller must notice every loss, reconnect, resync, and converge an
 * edit made after the last restart; bystanders are never restarted.
 */
export async function busRestarts(demo: DemoHost, opts: { instances: number; restarts: number; bystanders: number; seed: number; random: () => number }): Promise<FaultReport> {
  const { random } = opts;
  await demo.write('base.yaml', BASE_DOCS);
  const still = Array.from({ length: opts.bystanders }, (_, i) => `bystander-${i}`);
  for (const n of still) await demo.write(`instances/${n}.yaml`, instanceDoc(n, [`cvars: {hostname: "Bystander ${n}"}`]));
  await settle(demo);
  const untouched = await serverFacts(demo, still);

  // No periodic pass within the scenario: only the reconnect's own resync may find what the lost signals said.
  const c = controllerProcess(demo, ['--log-level', 'info', '--resync-seconds', '3600']);
  const alive = aliveCheck(c);
  const names = Array.from({ length: opts.instances }, (_, i) => `bus-${i}`);
  const doc = (n: string, hostname: string) => instanceDoc(n, ['updatePolicy: immediate', `cvars: {hostname: "${hostname}"}`]);
  let edits = 0;
  let bursts = 0;
  let logged = '';
  try {
    for (const n of names) await demo.write(`instances/${n}.yaml`, doc(n, `Bus ${n}`));
    let done = 0;
    while (done < opts.restarts) {
      // Anywhere from the converge's first job to well into it; an edit may land just before.
      await sleep(100 + random() * 1400);
      if (random() < 0.4) {
        const n = names[Math.floor(random() * names.length)]!;
        await demo.write(`instances/${n}.yaml`, doc(n, `Bus ${n} ${Math.floor(random() * 1e6)}`));
        edits++;
      }
      // Sometimes several in a row: the controller may be mid-reconnect when the next one comes.
      const burst = random() < 0.25 ? 2 + Math.floor(random() * 2) : 1;
      if (burst > 1) bursts++;
      for (let b = 0; b < burst && done < opts.restarts; b++) {
        // systemd's own start limit for dbus (5 starts in 10 s) is the test host's rule, not the fault under
        // test: cleared first, so a seed with restarts close together restarts the bus every time it says.
        await hostRun(demo, 'systemctl', ['reset-failed', 'dbus.service']);
        await hostRun(demo, 'systemctl', ['restart', 'dbus.service']);
        done++;
      }
      alive();
    }
    // An edit made after the last restart is converged by the same controller: it reconnected and watches again.
    const last = names[Math.floor(random() * names.length)]!;
    const hostname = `Bus ${last} after the restarts`;
    await demo.write(`instances/${last}.yaml`, doc(last, hostname));
    await converged(demo, c, 'every status current and Ready after the last bus restart');
    const port = await leasedPort(demo, last);
    await waitFor(`${last} answering with its new hostname`, async () => (await queryServer(port).catch(() => undefined))?.name === hostname, 30_000, 250);
    // The loss and the return were logged, once per reconnect at least.
    const lost = c.stderr().split('lost the connection to the system bus').length - 1;
    const back = c.stderr().split('reconnected to the system bus; resyncing everything').length - 1;
    if (lost < 1 || back < 1) throw new Error(`the controller logged ${lost} losses and ${back} reconnects of the bus over ${opts.restarts} restarts:\n${c.stderr().slice(-4000)}`);
    logged = `${lost} losses and ${back} reconnects logged (a restart during a reconnect finds no connection to lose)`;
  } finally {
    c.child.kill('SIGTERM');
    await c.exited;
  }
  const check = await checkHost(demo, { untouched });
  return { ...check, seed: opts.seed, detail: `${opts.restarts} bus restarts (${bursts} bursts) over a ${opts.instances}-instance converge + ${opts.bystanders} bystanders, ${logged}; ${edits + 1} edits` };
}

/** A small tmpfs inside the host (never on the machine), with the data directory's `subdirs` copied onto it and bound over the originals. */
interface SmallDisk {
  top: string;
  fill(): Promise<void>;
  free(): Promise<void>;
}

async function smallDisk(demo: DemoHost, name: string, subdirs: string[]): Promise<SmallDisk> {
  // Under the host's own /var/tmp (a tmpfs of its namespace), not /run: systemd would list a run-*.mount unit there.
  const top = `/var/tmp/left4me-full-${name}`;
  await hostRun(demo, 'mkdir', ['-p', top]);
  // The host's mount namespace is private (SYSTEMD-SANDBOX.md): this mount and the binds below exist only in it.
  await hostRun(demo, 'mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', `left4me-full-${name}`, top]);
  for (const sub of subdirs) {
    const dir = `/var/lib/left4me/${sub}`;
    await hostRun(demo, 'mkdir', ['-p', `${top}/${sub}`]);
    // `-a` of `dir/.` also gives the copy the directory's own owner and mode (secrets is not world-readable).
    await hostRun(demo, 'cp', ['-a', `${dir}/.`, `${top}/${sub}/`]);
    await hostRun(demo, 'mount', ['--bind', `${top}/${sub}`, dir]);
    const [before, after] = await Promise.all([hostRun(demo, 'stat', ['-c', '%a %U %G', `${top}/${sub}`]), hostRun(demo, 'stat', ['-c', '%a %U %G', dir])]);
    if (before !== after) throw new Error(`the bind of ${dir} shows ${after.trim()}, its copy ${before.trim()}`);
  }
  return {
    top,
    async fill() {
      // dd stops at ENOSPC (its non-zero exit is the point); the filler is outside the data directory's names.
      await demo.host.exec('dd', ['if=/dev/zero', `of=${top}/filler`, 'bs=64k']);
      const avail = (await hostRun(demo, 'stat', ['-f', '-c', '%a', top])).trim();
      if (avail !== '0') throw new Error(`${top} still has ${avail} free blocks after filling it`);
    },
    async free() {
      await hostRun(demo, 'rm', ['-f', `${top}/filler`]);
    },
  };
}

/** Every status, lease and secrets file under the host's data directory; each must parse as JSON whenever it is read. */
async function jsonFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      // Temp files are half-written by design until their rename; only real names must always parse.
      else if (e.name.endsWith('.json') && !e.name.startsWith('.')) out.push(p);
    }
  };
  await walk(join(root, 'status'));
  await walk(join(root, 'secrets'));
  return out;
}

/** Reads every JSON file over and over until stopped; collects any that does not parse (ENOENT between list and read is fine). */
function jsonWatch(root: string): { stop(): Promise<{ reads: number; torn: string[] }> } {
  let running = true;
  let reads = 0;
  const torn: string[] = [];
  const loop = (async () => {
    while (running) {
      for (const f of await jsonFiles(root)) {
        const text = await readFile(f, 'utf8').catch(() => undefined);
        if (text === undefined) continue;
        reads++;
        try {
          JSON.parse(text);
        } catch {
          torn.push(`${f}: ${JSON.stringify(text.slice(0, 80))}`);
        }
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { reads, torn };
    },
  };
}

const PLAIN_BLUEPRINT = `---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: plain}
spec:
  overlays: [rates]
`;

/**
 * A full disk under a running controller, `cycles` times: (a) the disk with
 * the overlay builds and their logs fills while an edit asks for a new build
 * — the build fails naming ENOSPC, leaves no temp dirs, and the servers keep
 * the previous build, untouched; once space is back the retry builds it —
 * and (b) the disk with the status, lease and secrets files fills while
 * documents change (an instance created or deleted, a cvar edited) — the
 * controller reports the failed writes and stays up, every such file parses
 * at every read, and once space is back everything converges. Two small
 * disks, so each half's own failure can be reported where people look.
 */
export async function diskFull(demo: DemoHost, opts: { cycles: number; seed: number; random: () => number }): Promise<FaultReport> {
  const { random } = opts;
  const base = (content: string) => BASE_DOCS.replace('content: "vpk"}', `content: "${content}"}`) + PLAIN_BLUEPRINT;
  await demo.write('base.yaml', base('vpk'));
  const served = ['full-a', 'full-b'];
  for (const n of served) await demo.write(`instances/${n}.yaml`, instanceDoc(n, [`cvars: {hostname: "Full ${n}"}`]));
  await demo.write('instances/steady.yaml', instanceDoc('steady', ['cvars: {hostname: "Steady"}']).replace('blueprint: coop', 'blueprint: plain'));
  await settle(demo);
  const untouched = await serverFacts(demo, ['steady']);

  const builds = await smallDisk(demo, 'builds', ['overlays', 'logs']);
  const state = await smallDisk(demo, 'state', ['status', 'secrets']);
  const data = join(demo.host.root, 'var/lib/left4me');
  // No periodic pass within the scenario: recovering must not wait for one (a failed read of the documents retries by itself).
  const c = controllerProcess(demo, ['--log-level', 'info', '--resync-seconds', '3600']);
  const alive = aliveCheck(c);
  let reads = 0;
  let fresh = false;
  try {
    await waitFor('the controller up after its first pass', async () => (alive(), c.stderr().includes('initial pass done')), 60_000);
    for (let cycle = 0; cycle < opts.cycles; cycle++) {
      // (a) A build on a full disk.
      const previous = (await demo.status.read('Overlay', 'maps'))?.build?.ready;
      if (!previous) throw new Error('overlay maps has no ready build before the disk fills');
      const before = await serverFacts(demo, served);
      await builds.fill();
      await demo.write('base.yaml', base(`vpk ${cycle + 1}`));
      const generation = (await desiredState(demo)).overlays.get('maps')!.generation;
      await waitFor(
        'the build on the full disk failed, naming ENOSPC',
        async () => {
          alive();
          const s = await demo.status.read('Overlay', 'maps');
          const ready = s?.conditions.find((x) => x.type === 'OverlaysReady');
          return s?.observedGeneration === generation && ready?.status === 'False' && ready.reason === 'BuildFailed' && /ENOSPC/.test(ready.message) && s.build?.ready === previous;
        },
        60_000,
      );
      // The previous build keeps serving: the servers were not restarted and still mount it; the failed build left nothing.
      const during = await serverFacts(demo, served);
      for (const n of served) {
        if (during.get(n)!.InvocationID !== before.get(n)!.InvocationID) throw new Error(`${n} restarted while its new build failed on a full disk`);
      }
      const mountinfo = await readFile(`/proc/${demo.host.pid}/mountinfo`, 'utf8');
      for (const n of served) {
        const line = mountinfo.split('\n').find((l) => l.split(' ')[4] === `/var/lib/left4me/runtime/${n}`);
        if (!line?.includes(`/overlays/maps/${previous}`)) throw new Error(`${n} does not mount the previous build ${previous}: ${line ?? 'no mount'}`);
      }
      const left = (await readdir(join(data, 'overlays', 'maps'))).filter((e) => e.startsWith('.'));
      if (left.length > 0) throw new Error(`the failed build left ${left.join(', ')}`);
      await sleep(random() * 1500);
      await builds.free();
      await converged(demo, c, 'the build retried and every status Ready once space was back');
      const now = (await demo.status.read('Overlay', 'maps'))?.build?.ready;
      if (!now || now === previous) throw new Error(`overlay maps still serves ${now ?? 'nothing'} after space came back`);

      // (b) Status, lease and secrets writes on a full disk.
      const watch = jsonWatch(data);
      const logged = c.stderr().length;
      await state.fill();
      fresh = !fresh;
      if (fresh) await demo.write('instances/fresh.yaml', instanceDoc('fresh', ['cvars: {hostname: "Fresh"}']));
      else await rm(join(demo.stateDir, 'instances/fresh.yaml'));
      await demo.write('instances/full-b.yaml', instanceDoc('full-b', [`cvars: {hostname: "Full full-b ${cycle + 1}"}`]));
      await waitFor('the controller reporting the failed writes', async () => (alive(), c.stderr().slice(logged).includes('ENOSPC')), 60_000);
      await sleep(500 + random() * 2500);
      alive();
      await state.free();
      await converged(demo, c, 'every status current and Ready once the status disk had space again');
      const seen = await watch.stop();
      if (seen.torn.length > 0) throw new Error(`status, lease or secrets files read torn while the disk was full:\n  ${seen.torn.slice(0, 10).join('\n  ')}`);
      if (seen.reads === 0) throw new Error('no status file was read while the disk was full');
      reads += seen.reads;
    }
  } finally {
    c.child.kill('SIGTERM');
    await c.exited;
  }
  const check = await checkHost(demo, { untouched });
  return { ...check, seed: opts.seed, detail: `${opts.cycles} fill/free cycles of a 4 MiB builds disk and a 4 MiB status disk; ${reads} reads of status, lease and secrets files, none torn` };
}
