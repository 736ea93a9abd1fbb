// The "reboot" scenario of the reliability suite: the private host is powered
// off (its init killed) and a new one boots on the same disks. Every server
// that should run comes back on its port through systemd alone (enabled
// units), the stopped ones stay stopped, and the controller then finds
// nothing to change. Sized by its caller: test/chaos-reboot.test.ts (short)
// and test/chaos/reboot.chaos.ts (npm run chaos).
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BASE_DOCS, bootDemoHost, queryServer, rcon, unitFacts, waitFor, type DemoHost } from '../support/demo-host.js';
import { chaosSetup, checkHost, controllerProcess, desiredState, readLeases, serverFacts, setChaosSetup, settle, statusProblems, type ChaosSetup, type HostCheck } from '../support/chaos.js';


/** A game-protocol answer within `ms`, else undefined: a client that never settles must not hang a poll (waitFor checks its deadline between probes). */
function within<T>(ms: number, answer: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  return Promise.race([answer.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}

/** Ports of this scenario (the port table in demo-host.ts); units in /etc so that they outlive the host, as on a machine. */
const REBOOT_SETUP: Partial<ChaosSetup> = {
  game: { min: 30040, max: 30059 },
  client: { min: 31040, max: 31059 },
  unitDir: '/etc/systemd/system',
};

/** A host on disks that outlive it: `demo` is replaced by every reboot; the caller stops the last one and removes `disks`. */
export interface RebootRig {
  disks: string;
  demo: DemoHost;
}

/** Boots the first host on `disks` (an empty directory the caller owns). */
export async function bootRebootRig(disks: string): Promise<RebootRig> {
  return { disks, demo: await bootOn(disks) };
}

async function bootOn(disks: string): Promise<DemoHost> {
  const demo = await bootDemoHost({ disks });
  setChaosSetup(demo, REBOOT_SETUP);
  return demo;
}

/** A hard power-off (kill -9 of the host's init: nothing shuts down cleanly), then a new host boots on the same disks. */
export async function reboot(rig: RebootRig): Promise<void> {
  await rig.demo.stop();
  rig.demo = await bootOn(rig.disks);
}

/** A script overlay: its build runs in the build sandbox, and its output is a lower layer the server needs at boot; a new `version` is a new build. */
const builtDocs = (version: number) => `---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: built}
spec:
  sources:
    - script:
        run: |
          mkdir -p /overlay/left4dead2/maps && echo generated ${version} > /overlay/left4dead2/maps/l4m_built.bsp
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: built}
spec:
  overlays: [maps, built]
`;

interface Wanted {
  hostname: string;
  state: 'running' | 'stopped';
  blueprint: 'coop' | 'built';
}

function doc(name: string, w: Wanted): string {
  return [
    'apiVersion: left4me/v1',
    'kind: Instance',
    `metadata: {name: ${name}}`,
    'spec:',
    `  blueprint: ${w.blueprint}`,
    '  updatePolicy: immediate',
    `  state: ${w.state}`,
    `  cvars: {hostname: "${w.hostname}"}`,
  ].join('\n') + '\n';
}

/** What the host held before the power-off, to be found again after it. */
interface Before {
  ports: Map<string, number>;
  passwords: Map<string, string>;
}

async function leasedPorts(demo: DemoHost): Promise<Map<string, number>> {
  return new Map(Object.entries(await readLeases(demo)).map(([n, l]) => [n, l.port]));
}

/** Records every instance's leased port (checked against A2S for the running ones) and RCON password. */
async function record(demo: DemoHost, wanted: Map<string, Wanted>): Promise<Before> {
  const ports = await leasedPorts(demo);
  const passwords = new Map<string, string>();
  for (const [n, w] of wanted) {
    const port = ports.get(n);
    if (port === undefined) throw new Error(`${n} has no lease before the power-off`);
    if (w.state === 'running') {
      const a2s = await waitFor(`A2S of ${n} on ${port} before the power-off`, () => within(5_000, queryServer(port)), 20_000);
      if (a2s.name !== w.hostname) throw new Error(`${n} answers as "${a2s.name}" on ${port}, not "${w.hostname}"`);
    }
    passwords.set(n, await demo.rconPassword(n));
  }
  return { ports, passwords };
}

const instanceStatus = /^status\/instance\/[^/]+\.json$/;

/** An instance status without its server's pid: the one fact a reboot really changes, which the controller must report. */
function withoutPid(text: string): string {
  const status = JSON.parse(text) as { unit?: { mainPid?: number } };
  delete status.unit?.mainPid;
  return JSON.stringify(status, null, 1).replace(/\(pid \d+\)/g, '(pid)');
}

/**
 * Content, inode and mode of every file of the product: a rewrite of identical text still shows (new inode).
 * Instance statuses are compared without the server's pid (new after a boot: reporting it is a rewrite that must happen).
 */
async function fileFacts(demo: DemoHost): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, keep: (rel: string) => boolean, rel = ''): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (!keep(r)) continue;
      const p = join(dir, r);
      const st = await lstat(p);
      if (st.isDirectory()) await walk(dir, keep, r);
      else if (st.isSymbolicLink()) out.set(p, `link ${await readlink(p)}`);
      else if (instanceStatus.test(r)) out.set(p, `${st.mode.toString(8)} ${withoutPid(await readFile(p, 'utf8'))}`);
      else out.set(p, `${st.ino} ${st.mode.toString(8)} ${createHash('sha256').update(await readFile(p)).digest('hex')}`);
    }
  };
  const ours = (r: string) => /^(left4me|var-lib-left4me|l4d2|multi-user\.target\.wants)/.test(r) && !/^multi-user\.target\.wants\/(?!left4me)/.test(r);
  await walk(join(demo.host.root, chaosSetup(demo).unitDir), ours);
  await walk(join(demo.host.root, '/etc/userdb'), () => true);
  // Status, leases, secrets, each instance's launch files; not the servers' writable layers (theirs to change).
  const data = demo.host.dirs.varLib;
  await walk(data, (r) => r === 'status' || r.startsWith('status/') || r === 'secrets' || r.startsWith('secrets/') || /^instances(\/[^/]+(\/[^/]+\.(env|cfg|json))?)?$/.test(r));
  return out;
}

function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, f] of before) {
    const a = after.get(p);
    if (a === f) continue;
    // The first line that differs says what changed (a status is compared as text).
    const was = f.split('\n');
    const now = a?.split('\n') ?? [];
    const i = was.findIndex((l, k) => l !== now[k]);
    out.push(a === undefined ? `${p} removed` : `${p} rewritten${i > 0 ? `: ${was[i]!.trim()} → ${now[i]?.trim()}` : ''}`);
  }
  for (const p of after.keys()) if (!before.has(p)) out.push(`${p} created`);
  return out;
}

/** The instances whose server is enabled on disk (what a boot starts). */
async function enabledOnDisk(demo: DemoHost): Promise<string[]> {
  const wants = await readdir(join(demo.host.root, chaosSetup(demo).unitDir, 'multi-user.target.wants')).catch(() => [] as string[]);
  return wants.filter((f) => f.startsWith('left4me-server@')).map((f) => f.slice('left4me-server@'.length, -'.service'.length).replace(/\\x2d/g, '-'));
}

async function overlayMounts(demo: DemoHost): Promise<string[]> {
  const mountinfo = await readFile(`/proc/${demo.host.pid}/mountinfo`, 'utf8');
  return mountinfo
    .split('\n')
    .filter((l) => l.includes(' - overlay '))
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith('/var/lib/left4me/runtime/'))
    .map((m) => m.slice('/var/lib/left4me/runtime/'.length))
    .sort();
}

/**
 * After a boot, with no controller anywhere: every server enabled on disk is
 * active, its overlay is mounted and it answers A2S on its port before the
 * power-off with its hostname; RCON takes the password from before; every
 * other server is inactive (not failed) and unmounted.
 */
async function cameBack(demo: DemoHost, wanted: Map<string, Wanted>, before: Before, running: readonly string[]): Promise<void> {
  const stopped = [...wanted.keys()].filter((n) => !running.includes(n));
  await waitFor(
    `${running.length} servers back after the boot, without a controller`,
    async () => {
      for (const n of running) {
        const f = await unitFacts(demo.host, `left4me-server@${n}.service`);
        if (f.ActiveState !== 'active') return false;
        const a2s = await within(5_000, queryServer(before.ports.get(n)!));
        if (a2s?.name !== wanted.get(n)!.hostname) return false;
      }
      return true;
    },
    60_000,
    250,
  ).catch(async (err: Error) => {
    const states = await Promise.all([...wanted.keys()].map(async (n) => `${n} ${(await unitFacts(demo.host, `left4me-server@${n}.service`)).ActiveState}`));
    const failed = (await demo.host.exec('systemctl', ['list-units', '--state=failed', '--no-legend', '--plain'])).stdout.trim();
    throw new Error(`${err.message}\nservers: ${states.join(', ')}\nfailed units: ${failed || 'none'}`);
  });
  const problems: string[] = [];
  for (const n of stopped) {
    const f = await unitFacts(demo.host, `left4me-server@${n}.service`);
    if (f.ActiveState !== 'inactive') problems.push(`${n} should stay stopped but is ${f.ActiveState}`);
  }
  const mounts = await overlayMounts(demo);
  if (JSON.stringify(mounts) !== JSON.stringify([...running].sort())) problems.push(`overlay mounts after the boot: [${mounts.join(', ')}], want [${[...running].sort().join(', ')}]`);
  for (const n of running) {
    const status = await waitFor(`RCON on ${n}`, () => within(5_000, rcon(before.ports.get(n)!, before.passwords.get(n)!, 'status')), 20_000).catch(() => undefined);
    if (!status?.includes(wanted.get(n)!.hostname)) problems.push(`RCON with ${n}'s password from before the power-off: ${JSON.stringify(status)}`);
  }
  const ports = await leasedPorts(demo);
  for (const [n, p] of before.ports) if (ports.get(n) !== p) problems.push(`${n}'s lease moved: ${p} → ${ports.get(n)}`);
  if (problems.length > 0) throw new Error(`after the boot:\n  ${problems.join('\n  ')}`);
}

/** One `controller --once` pass that must end within `ms`; killed and reported with its stderr otherwise. */
async function passOnce(demo: DemoHost, ms = 120_000): Promise<void> {
  const c = controllerProcess(demo, ['--once', '--log-level', 'info']);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), ms);
  const code = await c.exited.finally(() => clearTimeout(timer));
  if (code !== 0) throw new Error(`left4me controller --once exited ${code ?? 'by a signal (timed out?)'}: ${c.stderr().slice(-4000)}`);
}

/** The controller's first pass after a boot changes nothing: no server restarted, no file of the product written. */
export async function nothingToChange(demo: DemoHost, running: readonly string[]): Promise<void> {
  const facts = await serverFacts(demo, running);
  const files = await fileFacts(demo);
  await passOnce(demo);
  const problems = changedFiles(files, await fileFacts(demo));
  const after = await serverFacts(demo, running);
  for (const n of running) {
    const a = facts.get(n)!;
    const b = after.get(n)!;
    if (a.InvocationID !== b.InvocationID || a.ExecMainPID !== b.ExecMainPID) problems.push(`the pass restarted ${n}`);
  }
  if (problems.length > 0) throw new Error(`the first controller pass after the boot changed the host:\n  ${problems.join('\n  ')}`);
}

/** What one scenario run did, for its report line. */
export interface RebootReport extends HostCheck {
  seed: number;
  detail: string;
}

/**
 * `instances` servers (one stopped, one on a built overlay when there are
 * three or more), converged; then `reboots` rounds. A clean round powers the
 * settled host off and checks that everything comes back without a
 * controller and that the controller's first pass changes nothing. A
 * mid-converge round (`midConverge` of them, never the last) edits documents, runs a controller
 * and powers off under it at a random moment: the new host starts exactly what
 * was enabled on disk, then a controller converges it. Ends with checkHost.
 */
export async function reboots(rig: RebootRig, opts: { instances: number; reboots: number; /** How many power-offs land mid-converge. */ midConverge: number; seed: number; random: () => number }): Promise<RebootReport> {
  const { random } = opts;
  const wanted = new Map<string, Wanted>();
  for (let i = 0; i < opts.instances; i++) {
    wanted.set(`r${i}`, { hostname: `Reboot r${i}`, state: i === 1 ? 'stopped' : 'running', blueprint: i === 2 ? 'built' : 'coop' });
  }
  const write = (demo: DemoHost, n: string) => demo.write(`instances/${n}.yaml`, doc(n, wanted.get(n)!));
  let version = 1;
  await rig.demo.write('base.yaml', BASE_DOCS + builtDocs(version));
  for (const n of wanted.keys()) await write(rig.demo, n);
  await settle(rig.demo);

  // Which rounds power off mid-converge (seeded); the last round is always clean: the check ends on a settled host.
  const midRounds = new Set<number>();
  while (midRounds.size < Math.min(opts.midConverge, opts.reboots - 1)) midRounds.add(Math.floor(random() * (opts.reboots - 1)));
  const counts = { clean: 0, midConverge: 0, edits: 0, builds: 0, unfinished: 0 };
  for (let round = 0; round < opts.reboots; round++) {
    const mid = midRounds.has(round);
    if (!mid) {
      const before = await record(rig.demo, wanted);
      await reboot(rig);
      const running = [...wanted].filter(([, w]) => w.state === 'running').map(([n]) => n);
      await cameBack(rig.demo, wanted, before, running);
      await nothingToChange(rig.demo, running);
      counts.clean++;
      continue;
    }
    const before = await record(rig.demo, wanted);
    const names = [...wanted.keys()];
    const pick = (from: string[]) => from[Math.floor(random() * from.length)]!;
    for (let e = 1 + Math.floor(random() * 2); e > 0; e--) {
      let n = pick(names);
      if (random() < 0.5) {
        // A stop or a start, keeping about three in four running so that every round has servers to bring back.
        const running = names.filter((m) => wanted.get(m)!.state === 'running');
        n = pick(running.length > names.length * 0.75 ? running : names.filter((m) => !running.includes(m)));
        const w = wanted.get(n)!;
        w.state = w.state === 'running' ? 'stopped' : 'running';
      } else wanted.get(n)!.hostname = `Reboot ${n} ${Math.floor(random() * 1e6)}`;
      await write(rig.demo, n);
      counts.edits++;
    }
    // A new build of the built overlay (its instance restarts on it): the power may go while it runs.
    if (random() < 0.5) {
      await rig.demo.write('base.yaml', BASE_DOCS + builtDocs(++version));
      counts.builds++;
    }
    const c = controllerProcess(rig.demo);
    await sleep(100 + random() * 2500);
    if (c.child.exitCode !== null) throw new Error(`the controller exited by itself (${c.child.exitCode}): ${c.stderr()}`);
    // The power goes: the host's init first (its processes die with it, and the controller's paths
    // into the host vanish), then the controller, which would have died with a real host.
    process.kill(rig.demo.host.pid, 'SIGKILL');
    c.child.kill('SIGKILL');
    await c.exited;
    await reboot(rig);
    // What was enabled on disk when the power went is what the boot starts; servers whose edit
    // the controller had not applied yet come back as they were (their old hostname).
    const enabled = await enabledOnDisk(rig.demo);
    await waitFor(
      `the ${enabled.length} servers enabled on disk active after the boot`,
      async () => {
        for (const n of wanted.keys()) {
          const f = await unitFacts(rig.demo.host, `left4me-server@${n}.service`);
          if (f.ActiveState !== (enabled.includes(n) ? 'active' : 'inactive')) return false;
        }
        return true;
      },
      60_000,
      250,
    );
    for (const n of enabled) {
      const port = before.ports.get(n);
      if (port !== undefined) await waitFor(`A2S of ${n} on ${port} after the boot`, () => within(5_000, queryServer(port)), 30_000);
    }
    // Work the controller had not finished when the power went (a status not yet current): the new host's controller does it.
    if ((await statusProblems(rig.demo, await desiredState(rig.demo))).length > 0) counts.unfinished++;
    await settle(rig.demo);
    // settle() ends when every status is current and Ready, which can come before a stopped instance's
    // pass after its overlay's new build is ready (its units still name the old build; found here with
    // seed 629361): one more pass finishes that, so the next round starts from a host really at rest.
    await passOnce(rig.demo);
    counts.midConverge++;
  }
  const check = await checkHost(rig.demo, { untouched: await serverFacts(rig.demo, [...wanted].filter(([, w]) => w.state === 'running').map(([n]) => n)) });
  return { ...check, seed: opts.seed, detail: `${opts.reboots} power-offs (${counts.clean} of a settled host, ${counts.midConverge} mid-converge after ${counts.edits} instance edits and ${counts.builds} new builds, ${counts.unfinished} of them with work left undone) of ${opts.instances} instances` };
}
