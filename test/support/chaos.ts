// The reliability suite's frame: seeds that replay a run, controller processes
// a scenario can kill, and the one final check every scenario ends with — the
// private host is exactly what the documents ask for, nothing leaked, and no
// server restarted that the scenario did not touch.
import type { ChildProcess } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { documentLoadOptions } from '../../controller/config.js';
import { loadState, type DesiredState } from '../../controller/documents/loader.js';
import { spawnController, unitFacts, UNIT_DIR, waitFor, type DemoHost, type UnitFacts } from './demo-host.js';
import { mulberry32 } from './prng.js';

/** The seed of one scenario run: LEFT4ME_CHAOS_SEED replays one; printed either way. */
export function chaosSeed(scenario: string): { seed: number; random: () => number } {
  const given = process.env.LEFT4ME_CHAOS_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) : Math.floor(Math.random() * 1_000_000);
  if (!Number.isSafeInteger(seed)) throw new Error(`LEFT4ME_CHAOS_SEED must be an integer, not "${given}"`);
  console.log(`chaos ${scenario}: seed ${seed} (LEFT4ME_CHAOS_SEED=${seed} replays it)`);
  return { seed, random: mulberry32(seed) };
}

/** How a scenario's controllers run on one host: its port ranges (see the port table in demo-host.ts), where units go, extra flags. */
export interface ChaosSetup {
  game: { min: number; max: number };
  client: { min: number; max: number };
  /** The unit directory inside the host; UNIT_DIR (a tmpfs) unless a scenario needs units to outlive the host. */
  unitDir: string;
  /** Flags every controller of this host gets. */
  args: string[];
  /**
   * Where the checks read the data directory; the host's bind source (host.dirs.varLib) unless given. A scenario
   * that mounts over part of it inside the host (the disk-full tmpfs) gives the host's own view, under host.root.
   */
  dataDir?: string;
}

/** The ranges of `npm run chaos` and chaos-short when a suite sets nothing else. */
const DEFAULT_SETUP: ChaosSetup = { game: { min: 28060, max: 28099 }, client: { min: 29060, max: 29099 }, unitDir: UNIT_DIR, args: [] };
const setups = new WeakMap<DemoHost, ChaosSetup>();

/** Gives one host's scenario its own ports, unit directory or flags (suites that run beside chaos-short need their own ports). */
export function setChaosSetup(demo: DemoHost, setup: Partial<ChaosSetup>): void {
  setups.set(demo, { ...DEFAULT_SETUP, ...setup });
}

/** The setup of one host (the defaults unless setChaosSetup gave others). */
export function chaosSetup(demo: DemoHost): ChaosSetup {
  return setups.get(demo) ?? DEFAULT_SETUP;
}

/** The controller flags of a host's setup (spawnController already names UNIT_DIR; a later --unit-dir wins). */
export function chaosArgs(demo: DemoHost): string[] {
  const s = chaosSetup(demo);
  return ['--port-range', `${s.game.min}-${s.game.max}`, '--client-port-range', `${s.client.min}-${s.client.max}`, ...(s.unitDir === UNIT_DIR ? [] : ['--unit-dir', s.unitDir]), ...s.args];
}

/** Where the checks read a host's data directory: its setup's dataDir, else the host's bind source. */
function dataDirOf(demo: DemoHost): string {
  return chaosSetup(demo).dataDir ?? demo.host.dirs.varLib;
}

/** The host's port leases by instance (an empty table before the first lease is written). */
export async function readLeases(demo: DemoHost): Promise<Record<string, { port: number; clientPort: number }>> {
  const text = await readFile(join(dataDirOf(demo), 'status', 'leases.json'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '{"leases": {}}';
    throw err;
  });
  return (JSON.parse(text) as { leases: Record<string, { port: number; clientPort: number }> }).leases;
}

/** A controller process of a scenario, with its stderr kept for failure messages. */
export interface ControllerProcess {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Starts `left4me controller` against the host (a daemon, or one pass with `--once`); `env` adds to its environment (e.g. a stepped clock). */
export function controllerProcess(demo: DemoHost, args: string[] = [], env?: Record<string, string>): ControllerProcess {
  const child = spawnController(demo, [...chaosArgs(demo), '--pid-file', join(demo.host.dirs.base, 'controller.pid'), ...args], env);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
  return { child, stderr: () => err, exited };
}

/** One controller pass to the end; fails with its stderr when it does not exit 0. */
export async function controllerOnce(demo: DemoHost, extra: string[] = [], timeoutMs = 180_000): Promise<void> {
  const c = controllerProcess(demo, ['--once', ...extra]);
  // A pass that hangs fails with what it printed, instead of holding the suite until its own timeout says nothing.
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), timeoutMs)));
  const code = await Promise.race([c.exited, hung]);
  clearTimeout(timer);
  if (code === 'hung') {
    c.child.kill('SIGKILL');
    await c.exited;
    throw new Error(`left4me controller --once did not finish in ${timeoutMs / 1000} s; its stderr:\n${c.stderr().slice(-4000)}`);
  }
  if (code !== 0) throw new Error(`left4me controller --once exited ${code}: ${c.stderr()}`);
}

/** systemd's facts (InvocationID, NRestarts, …) of some instances' servers. */
export async function serverFacts(demo: DemoHost, names: Iterable<string>): Promise<Map<string, UnitFacts>> {
  const out = new Map<string, UnitFacts>();
  for (const n of names) out.set(n, await unitFacts(demo.host, `left4me-server@${n}.service`));
  return out;
}

/** The documents as the controller reads them. */
export function desiredState(demo: DemoHost): Promise<DesiredState> {
  return loadState(demo.stateDir, documentLoadOptions(demo.config()));
}

/** What the documents ask this host to run and keep. */
function desired(state: DesiredState): { all: string[]; running: string[] } {
  const all = [...state.instances.keys()].sort();
  const running = all.filter((n) => state.instances.get(n)!.spec.state !== 'stopped');
  return { all, running };
}

const diff = (what: string, got: readonly string[], want: readonly string[]): string[] => {
  const g = [...got].sort();
  const w = [...want].sort();
  return JSON.stringify(g) === JSON.stringify(w) ? [] : [`${what}: got [${g.join(', ')}], want [${w.join(', ')}]`];
};

/**
 * Status: every document's status speaks of its current generation and is
 * Ready (an instance that should run: running and answering A2S), and no
 * status or lease is kept for an instance that is gone. Empty when all holds.
 */
export async function statusProblems(demo: DemoHost, state: DesiredState): Promise<string[]> {
  const problems: string[] = [];
  const kinds = [
    ['Installation', state.installations],
    ['Overlay', state.overlays],
    ['Blueprint', state.blueprints],
    ['Instance', state.instances],
  ] as const;
  for (const [kind, docs] of kinds) {
    for (const [name, doc] of docs) {
      const s = await demo.status.read(kind, name);
      if (!s) {
        problems.push(`${kind}/${name}: no status`);
        continue;
      }
      if (s.observedGeneration !== doc.generation) problems.push(`${kind}/${name}: observedGeneration ${s.observedGeneration}, document ${doc.generation}`);
      const ready = s.conditions.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True' || ready.observedGeneration !== doc.generation) problems.push(`${kind}/${name}: Ready ${ready?.status ?? 'missing'} (${ready?.reason ?? ''}: ${ready?.message ?? ''})`);
      const stalled = s.conditions.find((c) => c.type === 'Stalled');
      if (stalled) problems.push(`${kind}/${name}: Stalled (${stalled.reason}: ${stalled.message})`);
    }
  }
  // Every server stacks the ready builds, or says it waits to (RestartPending): a server still on an older build
  // with nothing pending has a restart to come, however Ready its status looked a moment before the build landed.
  const ready = new Map<string, string>();
  for (const [kind, dir, docs] of [['Overlay', 'overlays', state.overlays], ['Installation', 'installation', state.installations]] as const) {
    for (const n of docs.keys()) {
      const b = (await demo.status.read(kind, n))?.build?.ready;
      if (b) ready.set(`${dir}/${n}`, b);
    }
  }
  for (const n of desired(state).running) {
    const unit = join(demo.host.root, chaosSetup(demo).unitDir, `var-lib-left4me-runtime-${n.replace(/-/g, '\\x2d')}.mount`);
    const options = /^Options=(.*)$/m.exec(await readFile(unit, 'utf8').catch(() => ''))?.[1] ?? '';
    const pending = (await demo.status.read('Instance', n))?.conditions.some((c) => c.type === 'RestartPending' && c.status === 'True');
    for (const d of options.split(',').find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? []) {
      const m = /^\/var\/lib\/left4me\/(overlays|installation)\/([^/]+)\/([^/]+)$/.exec(d);
      const want = m ? ready.get(`${m[1]}/${m[2]}`) : undefined;
      if (want && want !== m![3] && !pending) problems.push(`Instance/${n}: stacks ${m![1]}/${m![2]}/${m![3]}, not the ready build ${want}, and no restart is pending`);
    }
  }

  // Deletions finished: no status or lease left of an instance whose document is gone.
  for (const n of await demo.status.names('Instance')) if (!state.instances.has(n)) problems.push(`Instance/${n}: status kept after its document was deleted`);
  for (const n of Object.keys(await readLeases(demo))) if (!state.instances.has(n)) problems.push(`Instance/${n}: lease kept after its document was deleted`);
  return problems;
}

/** Names under `dir` (recursively, not following links) that a killed writer leaves behind. */
async function temporaries(dir: string, depth = 0): Promise<string[]> {
  const found: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return found;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (/^\.[0-9a-f]{12}\.tmp$/.test(e) || /^\.tmp-[0-9a-f]{12}/.test(e) || /\.part-[0-9a-f]+$/.test(e)) found.push(p);
    const st = await lstat(p).catch(() => undefined);
    // Game files of writable layers are the servers' own; what the controller writes lies a few levels down at most.
    if (st?.isDirectory() && depth < 5) found.push(...(await temporaries(p, depth + 1)));
  }
  return found;
}

/** What the final check saw, for the scenario's report line. */
export interface HostCheck {
  running: number;
  stopped: number;
  untouched: number;
}

/**
 * The one final check of every scenario, on a quiet host (no controller
 * running): units, mounts, leases, secrets, status, leaks, untouched
 * servers, and a last `--once` pass that changes nothing. Throws one error
 * listing every discrepancy.
 */
export async function checkHost(demo: DemoHost, opts: { untouched?: ReadonlyMap<string, UnitFacts> } = {}): Promise<HostCheck> {
  const state = await desiredState(demo);
  const problems: string[] = [];
  if (state.problems.length > 0) problems.push(`the documents have problems: ${state.problems.map((p) => p.message).join('; ')}`);
  const { all, running } = desired(state);
  const root = demo.host.root;
  const data = dataDirOf(demo);

  // Units: every server that should run is active; nothing else is loaded as anything but inactive.
  const services = await demo.systemd.listUnits(['left4me-server@*.service']);
  const name = (unit: string) => unit.slice('left4me-server@'.length, -'.service'.length);
  problems.push(...diff('active servers', services.filter((u) => u.activeState === 'active').map((u) => name(u.name)), running));
  for (const u of services) if (u.activeState !== 'active' && u.activeState !== 'inactive') problems.push(`${u.name} is ${u.activeState}/${u.subState}`);
  const mounts = await demo.systemd.listUnits(['var-lib-left4me-runtime-*.mount']);
  problems.push(...diff('active mount units', mounts.filter((u) => u.activeState === 'active').map((u) => u.name), running.map((n) => `var-lib-left4me-runtime-${n.replace(/-/g, '\\x2d')}.mount`)));
  for (const u of mounts) if (u.activeState !== 'active' && u.activeState !== 'inactive') problems.push(`${u.name} is ${u.activeState}/${u.subState}`);

  // Mounts: the host's own mount table has one overlay per running instance, on its runtime dir (the
  // private host's own overlays of /etc and /var are its frame, not the product's).
  const mountinfo = await readFile(`/proc/${demo.host.pid}/mountinfo`, 'utf8');
  const overlays = mountinfo
    .split('\n')
    .filter((l) => l.includes(' - overlay '))
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith('/var/lib/left4me/'));
  problems.push(...diff('overlay mounts', overlays, running.map((n) => `/var/lib/left4me/runtime/${n}`)));

  // Unit files: one mount unit per instance document, enabled servers = running ones, no temp files.
  const unitDir = chaosSetup(demo).unitDir;
  const unitFiles = await readdir(join(root, unitDir));
  problems.push(...diff('mount unit files', unitFiles.filter((f) => f.startsWith('var-lib-left4me-runtime-') && f.endsWith('.mount')), all.map((n) => `var-lib-left4me-runtime-${n.replace(/-/g, '\\x2d')}.mount`)));
  const wants = await readdir(join(root, unitDir, 'multi-user.target.wants')).catch(() => [] as string[]);
  problems.push(...diff('enabled servers', wants.filter((f) => f.startsWith('left4me-server@')).map(name), running));

  // Leases: exactly one per instance document, no port twice, all in range.
  const leases = Object.entries(await readLeases(demo));
  problems.push(...diff('leases', leases.map(([n]) => n), all));
  for (const field of ['port', 'clientPort'] as const) {
    const ports = leases.map(([, l]) => l[field]);
    if (new Set(ports).size !== ports.length) problems.push(`a ${field} is leased twice: ${ports.join(', ')}`);
    const range = field === 'port' ? chaosSetup(demo).game : chaosSetup(demo).client;
    for (const [n, l] of leases) if (l[field] < range.min || l[field] > range.max) problems.push(`${n}'s ${field} ${l[field]} is outside ${range.min}-${range.max}`);
  }

  // Secrets: one RCON password per instance document.
  const secrets = JSON.parse(await readFile(join(data, 'secrets', 'rcon.json'), 'utf8')) as Record<string, string>;
  problems.push(...diff('RCON passwords', Object.keys(secrets), all));

  // Status: current and Ready for every document; none left for deleted instances.
  problems.push(...(await statusProblems(demo, state)));
  for (const n of await readdir(join(data, 'instances')).catch(() => [] as string[])) {
    if (!all.includes(n)) problems.push(`instances/${n} is left of a deleted instance`);
  }
  for (const n of await readdir(join(data, 'instances')).catch(() => [] as string[])) {
    if (!state.instances.has(n) && (await demo.status.read('Instance', n))) problems.push(`a status is kept for deleted instance ${n}`);
  }

  // Leaks: no transient unit still loaded and active, no failed unit, no temporaries, no abandoned build run.
  const failed = (await demo.host.exec('systemctl', ['list-units', '--state=failed', '--no-legend', '--plain'])).stdout.trim();
  if (failed) problems.push(`failed units: ${failed}`);
  const transient = (await demo.systemd.listUnits(['left4me-build-*', 'left4me-steamcmd-*', 'run-*'])).filter((u) => u.activeState !== 'inactive');
  if (transient.length > 0) problems.push(`transient units left: ${transient.map((u) => `${u.name} ${u.activeState}`).join(', ')}`);
  const temps = [...(await temporaries(data)), ...(await temporaries(join(root, unitDir)))];
  if (temps.length > 0) problems.push(`temporaries left: ${temps.join(', ')}`);
  if ((await readdir(join(data, 'build-runs')).catch(() => [] as string[])).length > 0) problems.push('build-runs is not empty');

  // Servers the scenario did not touch were never restarted.
  for (const [n, before] of opts.untouched ?? []) {
    const now = await unitFacts(demo.host, `left4me-server@${n}.service`);
    if (now.InvocationID !== before.InvocationID || now.NRestarts !== before.NRestarts) {
      problems.push(`untouched server ${n} restarted: InvocationID ${before.InvocationID} → ${now.InvocationID}, NRestarts ${before.NRestarts} → ${now.NRestarts}`);
    }
  }

  // And the host is at rest: one more pass changes no server.
  const rested = problems.length === 0;
  if (rested) {
    const before = await serverFacts(demo, running);
    await controllerOnce(demo);
    const after = await serverFacts(demo, running);
    for (const n of running) {
      const a = before.get(n)!;
      const b = after.get(n)!;
      if (a.InvocationID !== b.InvocationID || a.ExecMainPID !== b.ExecMainPID) problems.push(`one more pass restarted ${n}`);
    }
  }

  // Builds: each overlay and Steam installation names a complete build as ready; every mounted stack is made of
  // complete builds only; and after that full pass (it collects), nothing is kept but ready and mounted builds.
  const built = [...[...state.overlays.keys()].map((n) => ['Overlay', 'overlays', n] as const), ...[...state.installations.values()].filter((d) => d.spec.source === 'steam').map((d) => ['Installation', 'installation', d.metadata.name] as const)];
  const ready = new Map<string, string>();
  for (const [kind, dir, n] of built) {
    const s = await demo.status.read(kind, n);
    const b = s?.build;
    if (!b?.ready || b.ready !== b.wanted || b.result !== 'Succeeded') problems.push(`${kind}/${n}: build ready ${b?.ready ?? 'none'}, wanted ${b?.wanted ?? 'none'}, result ${b?.result ?? 'none'}`);
    if (s?.building) problems.push(`${kind}/${n}: still says it is building ${s.building.build}`);
    if (s?.progress) problems.push(`${kind}/${n}: still shows install progress`);
    if (b?.ready) {
      ready.set(`${dir}/${n}`, b.ready);
      if (!(await lstat(join(data, dir, n, b.ready)).then((st) => st.isDirectory(), () => false))) problems.push(`${kind}/${n}: its ready build ${b.ready} does not exist`);
    }
  }
  const mountedLowers = new Set<string>();
  for (const line of mountinfo.split('\n').filter((l) => l.includes(' - overlay ') && (l.split(' ')[4] ?? '').startsWith('/var/lib/left4me/runtime/'))) {
    const options = line.slice(line.indexOf(' - overlay ')).split(' ')[4] ?? '';
    for (const d of options.split(',').find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? []) mountedLowers.add(d);
  }
  const unitLowers = new Set<string>();
  for (const f of unitFiles.filter((f) => f.endsWith('.mount'))) {
    const options = /^Options=(.*)$/m.exec(await readFile(join(root, unitDir, f), 'utf8'))?.[1] ?? '';
    for (const d of options.split(',').find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? []) unitLowers.add(d);
  }
  for (const d of [...mountedLowers, ...unitLowers]) {
    const m = /^\/var\/lib\/left4me\/(overlays|installation)\/([^/]+)\/([^/]+)$/.exec(d);
    if (!m) continue;
    // A build is complete once renamed from its dot name; a half build keeps the dot name until then.
    if (m[3]!.startsWith('.') || !(await lstat(join(root, d)).then((st) => st.isDirectory(), () => false))) problems.push(`a stack names ${d}, which is not a complete build`);
    if (mountedLowers.has(d) && !unitLowers.has(d)) problems.push(`${d} is mounted but no mount unit names it`);
  }
  if (rested) {
    for (const dir of ['overlays', 'installation']) {
      for (const n of await readdir(join(data, dir)).catch(() => [] as string[])) {
        if (dir === 'installation' && !ready.has(`${dir}/${n}`)) continue; // a directory installation lies where it likes
        for (const b of await readdir(join(data, dir, n)).catch(() => [] as string[])) {
          if (!b.startsWith('.') && ready.get(`${dir}/${n}`) !== b && !unitLowers.has(`/var/lib/left4me/${dir}/${n}/${b}`)) problems.push(`${dir}/${n}/${b} is neither ready nor stacked, yet not collected`);
        }
      }
    }
  }

  if (problems.length > 0) throw new Error(`the host is not the desired state:\n  ${problems.join('\n  ')}`);
  return { running: running.length, stopped: all.length - running.length, untouched: opts.untouched?.size ?? 0 };
}

/**
 * Runs a controller daemon until it has made its first full pass and every document's status is current and
 * Ready, then stops it (SIGTERM). Statuses on disk alone do not say the host is settled: a controller killed
 * mid-restart (server stopped, not yet started) left the Ready of its previous pass, so a daemon stopped before
 * its own first pass ended would leave that half-done restart behind. A reconcile in flight at the stop (a
 * server restarting onto a build that just landed) finishes during the stop and may write a status that is not
 * Ready yet: then another daemon runs, until a stop leaves all Ready.
 */
export async function settle(demo: DemoHost, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let lives = 1; ; lives++) {
    // At info, the daemon says when its first pass over every key is done.
    const c = controllerProcess(demo, ['--log-level', 'info']);
    let last: string[] = [];
    try {
      await waitFor(
        'a first full pass, then every status current and Ready',
        async () => {
          if (c.child.exitCode !== null) throw new Error(`the controller exited ${c.child.exitCode}: ${c.stderr()}`);
          if (!c.stderr().includes('"msg":"initial pass done"')) {
            last = ['the controller has not finished its first pass'];
            return false;
          }
          last = await statusProblems(demo, await desiredState(demo));
          return last.length === 0;
        },
        Math.max(1000, deadline - Date.now()),
        250,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nstill: ${last.slice(0, 8).join('; ')}\ncontroller stderr:\n${c.stderr().slice(-4000)}`);
      });
    } finally {
      c.child.kill('SIGTERM');
      await c.exited;
    }
    const after = await statusProblems(demo, await desiredState(demo));
    if (after.length === 0) return;
    if (Date.now() > deadline) throw new Error(`not settled after ${lives} controller lives: ${after.slice(0, 8).join('; ')}`);
  }
}
