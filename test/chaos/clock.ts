// The reliability suite's clock-jump scenario (issue 14): the wall clock of a
// running controller is stepped a day or an hour either way, as NTP steps a
// host's, while its monotonic clock runs on (support/faketime.ts). Timed
// decisions must follow real time (controller/reconcile/elapsed.ts):
//   - a whenEmpty restart with players on waits exactly maxUpdateDelay of
//     real time — a step forward does not end the wait, a step back does not
//     stretch it (the "prompt" server, and "patient", whose delay never ends);
//   - a deleted instance's writable layer stays in the trash for the
//     retention of real time — not emptied early, not kept for the step;
//   - servers with nothing to apply never restart (InvocationID, NRestarts).
// Ends with checkHost, whose last pass runs on the real clock.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BASE_DOCS, instanceDoc, queryServer, rcon, unitFacts, waitFor, type DemoHost } from '../support/demo-host.js';
import { checkHost, controllerProcess, serverFacts, setChaosSetup, settle, type ControllerProcess } from '../support/chaos.js';
import { steppedClock, type SteppedClock } from '../support/faketime.js';
import type { ScenarioReport } from './scenarios.js';

/** This suite's port ranges (the port table in support/demo-host.ts). */
const PORTS = { game: { min: 30060, max: 30079 }, client: { min: 31060, max: 31079 } };
const DAY = 86_400;
/** The steps a round draws from (offsets from real time, seconds): the first four have both signs, in pairs. */
const OFFSETS = [DAY, -DAY, 3600, -3600, 0];

/** The system's monotonic clock in ms, the one systemd's *TimestampMonotonic properties count in (µs). */
const monotonicMs = () => Number(process.hrtime.bigint() / 1_000_000n);

export interface ClockOptions {
  /** Rounds: each changes "prompt", deletes one instance, and steps the clock during the wait. */
  rounds: number;
  /** Servers that nothing changes: none may restart. */
  steady: number;
  /** prompt's maxUpdateDelay and the trash retention, in seconds (real time both). */
  delaySeconds: number;
  seed: number;
  random: () => number;
}

/** A server's status condition. */
async function conditionOf(demo: DemoHost, name: string, type: string) {
  return (await demo.status.read('Instance', name))?.conditions.find((c) => c.type === type);
}

/** Puts `count` fake players on a server (the demo server's console) and waits until A2S shows them. */
async function players(demo: DemoHost, name: string, count: number): Promise<void> {
  const port = (await demo.status.read('Instance', name))!.port!;
  await waitFor(`${name} shows ${count} players`, async () => {
    await rcon(port, await demo.rconPassword(name), `demo_players ${count}`);
    return (await queryServer(port)).numplayers === count;
  }, 30_000, 250);
}

/** When systemd last started a server's main process, on the monotonic clock (ms). */
async function startedAtMonotonic(demo: DemoHost, name: string): Promise<number> {
  const out = await demo.host.exec('systemctl', ['show', `left4me-server@${name}.service`, '-p', 'ExecMainStartTimestampMonotonic', '--value']);
  return Number(out.stdout.trim()) / 1000;
}

/** The wall clock the controller reads, as its counters file last stamped it, minus real time (ms); undefined before the first write. */
async function controllerSkewMs(demo: DemoHost): Promise<number | undefined> {
  const text = await readFile(join(demo.host.dirs.varLib, 'status', 'metrics.json'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const written = Date.parse((JSON.parse(text) as { writtenAt?: string }).writtenAt ?? '');
  return Number.isFinite(written) ? written - Date.now() : undefined;
}

/**
 * Steps the controller's clock to `offset` seconds from real time and waits
 * until the controller has read it (its counters file, written every few
 * seconds, carries a stamp of that clock).
 */
async function step(demo: DemoHost, clock: SteppedClock, c: ControllerProcess, offset: number): Promise<void> {
  await clock.set(offset);
  await waitFor(`the controller's clock at ${offset} s`, async () => {
    if (c.child.exitCode !== null) throw new Error(`the controller exited ${c.child.exitCode}: ${c.stderr().slice(-4000)}`);
    const skew = await controllerSkewMs(demo);
    // Offsets differ by an hour at least; a minute of slack covers a stamp written just before a read.
    return skew !== undefined && Math.abs(skew - offset * 1000) < 60_000;
  }, 30_000, 200);
}

/**
 * Watches, in the background, for the moment `gone` first holds (monotonic
 * ms, seen within a tenth of a second): a wait in the foreground must not
 * hide a trash entry emptied early. Gives up after `forMs`.
 */
function watchGone(gone: () => Promise<boolean>, forMs = 300_000): { goneAt(): number | undefined } {
  let at: number | undefined;
  const until = monotonicMs() + forMs;
  void (async () => {
    while (at === undefined && monotonicMs() < until) {
      if (await gone().catch(() => false)) at = monotonicMs();
      else await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { goneAt: () => at };
}

/** The trash entries of one deleted instance (`<name>-<stamp>-<hex>`). */
async function trashEntries(demo: DemoHost, name: string): Promise<string[]> {
  const all = await readdir(join(demo.host.dirs.varLib, 'trash')).catch(() => [] as string[]);
  return all.filter((e) => e.startsWith(`${name}-`) && /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{9}Z-[0-9a-f]{6}$/.test(e.slice(name.length + 1)));
}

/**
 * Clock jumps under a running controller, over `rounds` rounds. Each round
 * changes prompt's hostname (it has players: RestartPending) and deletes one
 * instance (its writable layer goes to the trash), then steps the clock once
 * or twice while both waits run; prompt must restart and the trash entry go
 * no earlier than `delaySeconds` of real time after the test asked, and not
 * much later. patient (players on, a delay of hours) and the steady servers
 * never restart.
 */
export async function clockJumps(demo: DemoHost, opts: ClockOptions): Promise<ScenarioReport> {
  const { random } = opts;
  const delayMs = opts.delaySeconds * 1000;
  const config = join(demo.host.dirs.base, 'clock-controller.yaml');
  await writeFile(config, `trashRetention: ${opts.delaySeconds}s\n`, { mode: 0o600 });
  setChaosSetup(demo, { ...PORTS, args: ['--config', config] });

  const steady = Array.from({ length: opts.steady }, (_, i) => `steady-${i}`);
  const doomed = Array.from({ length: opts.rounds }, (_, i) => `doomed-${i}`);
  const waiting = ['updatePolicy: whenEmpty'];
  await demo.write('base.yaml', BASE_DOCS);
  for (const n of [...steady, ...doomed]) await demo.write(`instances/${n}.yaml`, instanceDoc(n, [`cvars: {hostname: "${n}"}`]));
  const patientDoc = (v: number) => instanceDoc('patient', [...waiting, 'maxUpdateDelay: 6h', `cvars: {hostname: "patient ${v}"}`]);
  const promptDoc = (v: number) => instanceDoc('prompt', [...waiting, `maxUpdateDelay: ${opts.delaySeconds}s`, `cvars: {hostname: "prompt ${v}"}`]);
  await demo.write('instances/patient.yaml', patientDoc(0));
  await demo.write('instances/prompt.yaml', promptDoc(0));
  await settle(demo);
  await players(demo, 'patient', 2);
  await players(demo, 'prompt', 2);
  const untouched = await serverFacts(demo, [...steady, 'patient']);

  const clock = await steppedClock(demo.host.dirs.base);
  // A short resync: every full pass sweeps the trash and plans every instance again with the clock as it reads then.
  const c = controllerProcess(demo, ['--resync-seconds', '2', '--log-level', process.env.LEFT4ME_CHAOS_LOG ?? 'warn'], clock.env);
  const seen: string[] = [];
  let steps = 0;
  try {
    await step(demo, clock, c, 0);
    // patient: a change that waits for its two players longer than this scenario runs, whatever the clock says.
    const patientAsked = monotonicMs();
    await demo.write('instances/patient.yaml', patientDoc(1));
    await waitFor('patient RestartPending', async () => (await conditionOf(demo, 'patient', 'RestartPending'))?.status === 'True', 30_000, 200);

    for (let r = 0; r < opts.rounds; r++) {
      const promptBefore = await unitFacts(demo.host, 'left4me-server@prompt.service');
      const asked = monotonicMs();
      await demo.write('instances/prompt.yaml', promptDoc(r + 1));
      await rm(join(demo.stateDir, 'instances', `${doomed[r]}.yaml`));
      await waitFor(`round ${r}: prompt RestartPending`, async () => (await conditionOf(demo, 'prompt', 'RestartPending'))?.reason === 'WaitingForEmpty', 30_000, 100);
      await waitFor(`round ${r}: ${doomed[r]} in the trash`, async () => (await trashEntries(demo, doomed[r]!)).length === 1, 30_000, 100);
      const trash = watchGone(() => trashEntries(demo, doomed[r]!).then((e) => e.length === 0));
      // Steps of the clock while both waits run, one each way at least (a day or an hour), sometimes one more; none
      // may end or stretch them.
      const first = Math.sign(OFFSETS[Math.floor(random() * 4)]!);
      const jumps = 2 + Math.floor(random() * 2);
      for (let j = 0; j < jumps; j++) {
        const choices = OFFSETS.filter((o) => o !== clock.offsetSeconds && (j === 0 ? Math.sign(o) === first : j === 1 ? Math.sign(o) === -first : true));
        const offset = choices[Math.floor(random() * choices.length)]!;
        await step(demo, clock, c, offset);
        steps++;
        seen.push(`${offset > 0 ? '+' : ''}${offset / 3600}h`);
      }

      // prompt restarts once its delay of real time is over, not before, and not a step later.
      await waitFor(`round ${r}: prompt restarted after its maxUpdateDelay`, async () => {
        const now = await unitFacts(demo.host, 'left4me-server@prompt.service');
        return now.ActiveState === 'active' && now.InvocationID !== promptBefore.InvocationID;
      }, delayMs + 45_000, 200);
      const restartedAfter = (await startedAtMonotonic(demo, 'prompt')) - asked;
      if (restartedAfter < delayMs) throw new Error(`round ${r}: prompt restarted ${restartedAfter} ms after its change, before its maxUpdateDelay of ${delayMs} ms (clock steps ${seen.join(', ')})`);
      // The trash entry goes once the retention of real time is over: never seen gone before it.
      const goneAt = await waitFor(`round ${r}: ${doomed[r]}'s trash emptied after the retention (clock steps ${seen.join(', ')})`, async () => trash.goneAt(), delayMs + 45_000, 200);
      if (goneAt - asked < delayMs) throw new Error(`round ${r}: ${doomed[r]}'s trash entry was emptied ${goneAt - asked} ms after its deletion, before the retention of ${delayMs} ms (clock steps ${seen.join(', ')})`);
      // A restarted demo server comes up empty: players for the next round's wait.
      await waitFor('prompt Ready', async () => (await conditionOf(demo, 'prompt', 'Ready'))?.status === 'True', 30_000, 200);
      if (r + 1 < opts.rounds) await players(demo, 'prompt', 2);
    }

    // Back to real time before the real-clock check: the pending restart's stamp follows (observe.ts pendingSince).
    await step(demo, clock, c, 0);
    // It began after the test asked for it, by real time: within the controller's tolerance of the two clocks, not a step away.
    const stampOk = async () => {
      const s = await demo.status.read('Instance', 'patient');
      const asked = Date.now() - (monotonicMs() - patientAsked);
      return s?.restartPendingSince !== undefined && Math.abs(Date.parse(s.restartPendingSince) - asked) < 30_000;
    };
    await waitFor("patient's pending stamp back on the real clock", stampOk, 30_000, 200);
  } catch (err) {
    throw new Error(`${(err as Error).message}\ncontroller stderr:\n${c.stderr().slice(-4000)}`);
  } finally {
    c.child.kill('SIGTERM');
    await c.exited;
  }
  if ((await conditionOf(demo, 'patient', 'RestartPending'))?.status !== 'True') throw new Error('patient no longer waits for its players');
  const check = await checkHost(demo, { untouched });
  return { ...check, seed: opts.seed, detail: `${opts.rounds} rounds, ${steps} clock steps (${seen.join(' ')}); ${opts.rounds} whenEmpty restarts and ${opts.rounds} trash entries each after ${opts.delaySeconds} s of real time` };
}
