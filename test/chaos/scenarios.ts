// The reliability suite's scenarios, each sized by its caller: a short seeded
// run in `npm test` (test/chaos-short.test.ts), a long one in `npm run chaos`
// (test/chaos/*.chaos.ts). Each ends with checkHost (support/chaos.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { join } from 'node:path';
import { BASE_DOCS, instanceDoc, unitFacts, waitFor, type DemoHost } from '../support/demo-host.js';
import { checkHost, controllerProcess, desiredState, serverFacts, settle, statusProblems, type HostCheck } from '../support/chaos.js';


/** What one scenario run did, for its report line. */
export interface ScenarioReport extends HostCheck {
  seed: number;
  detail: string;
}

/** Instances that exist before the scenario and that it never changes: none of them may restart. */
async function bystanders(demo: DemoHost, count: number): Promise<string[]> {
  await demo.write('base.yaml', BASE_DOCS);
  const names = Array.from({ length: count }, (_, i) => `bystander-${i}`);
  for (const n of names) await demo.write(`instances/${n}.yaml`, instanceDoc(n, [`cvars: {hostname: "Bystander ${n}"}`]));
  await settle(demo);
  return names;
}

/** The document of a churned instance: its hostname and state are what the scenario edits. */
function churnedDoc(name: string, doc: { hostname: string; state: 'running' | 'stopped' }): string {
  return instanceDoc(name, ['updatePolicy: immediate', `state: ${doc.state}`, `cvars: {hostname: "${doc.hostname}"}`]);
}

/**
 * kill -9 of the controller at random moments while it converges `instances`
 * new servers, with document edits (a changed cvar, a stop, a start, a
 * delete, a re-create) landing between and during its lives. Then one
 * controller runs until every status is Ready, and the host is checked.
 */
export async function controllerKills(demo: DemoHost, opts: { instances: number; kills: number; bystanders: number; seed: number; random: () => number }): Promise<ScenarioReport> {
  const { random } = opts;
  const still = await bystanders(demo, opts.bystanders);
  const untouched = await serverFacts(demo, still);

  const docs = new Map<string, { hostname: string; state: 'running' | 'stopped' } | undefined>();
  const names = Array.from({ length: opts.instances }, (_, i) => `s${i}`);
  for (const n of names) {
    docs.set(n, { hostname: `Server ${n}`, state: 'running' });
    await demo.write(`instances/${n}.yaml`, churnedDoc(n, docs.get(n)!));
  }
  const edits = { cvar: 0, stop: 0, start: 0, delete: 0, create: 0 };
  const churn = async () => {
    const n = names[Math.floor(random() * names.length)]!;
    const doc = docs.get(n);
    const file = `instances/${n}.yaml`;
    if (!doc) {
      edits.create++;
      docs.set(n, { hostname: `Server ${n} again`, state: 'running' });
      return demo.write(file, churnedDoc(n, docs.get(n)!));
    }
    const r = random();
    if (r < 0.5) {
      edits.cvar++;
      doc.hostname = `Server ${n} ${Math.floor(random() * 1e6)}`;
    } else if (r < 0.8) {
      edits[doc.state === 'running' ? 'stop' : 'start']++;
      doc.state = doc.state === 'running' ? 'stopped' : 'running';
    } else {
      edits.delete++;
      docs.set(n, undefined);
      return rm(join(demo.stateDir, file));
    }
    return demo.write(file, churnedDoc(n, doc));
  };

  for (let k = 0; k < opts.kills; k++) {
    const c = controllerProcess(demo);
    // A moment anywhere from the controller's start-up to well into its pass; an edit may land during its life.
    const life = 150 + random() * 1500;
    const editAt = random() < 0.4 ? random() * life : undefined;
    if (editAt !== undefined) {
      await sleep(editAt);
      await churn();
      await sleep(life - editAt);
    } else await sleep(life);
    if (c.child.exitCode !== null) throw new Error(`the controller exited by itself (${c.child.exitCode}) before kill ${k + 1}: ${c.stderr()}`);
    c.child.kill('SIGKILL');
    await c.exited;
  }
  await settle(demo, 300_000);
  const check = await checkHost(demo, { untouched });
  return { ...check, seed: opts.seed, detail: `${opts.kills} kills over ${opts.instances} instances + ${opts.bystanders} bystanders; edits ${JSON.stringify(edits)}` };
}

/** The machine's pid of an instance's server process, once systemd runs it (0 while it has none). */
async function serverPid(demo: DemoHost, name: string): Promise<number> {
  const f = await unitFacts(demo.host, `left4me-server@${name}.service`);
  return f.ActiveState === 'active' && f.ExecMainPID > 0 ? (demo.host.machinePid(f.ExecMainPID) ?? 0) : 0;
}

/** The lastTransitionTime of an instance's condition, as a number (0 when absent). */
async function transitionTime(demo: DemoHost, name: string, type: string): Promise<number> {
  const s = await demo.status.read('Instance', name);
  return Date.parse(s?.conditions.find((c) => c.type === type)?.lastTransitionTime ?? '') || 0;
}

/**
 * Game servers in trouble under a running controller: one killed (systemd
 * restarts it; the controller reports the fall and the return), one hung
 * (SIGSTOP: Healthy and Ready turn False; today's rule is to report and not
 * restart — a stopped process may hold players' state), and one crash-
 * looping (killed at every start until systemd's start limit is hit: the
 * controller reports Stalled with the log tail and does not start it again
 * until a person asks, here with the restartedAt annotation).
 */
export async function serverFaults(demo: DemoHost, opts: { bystanders: number; seed: number; random: () => number }): Promise<ScenarioReport> {
  const still = await bystanders(demo, opts.bystanders);
  const victims = ['killed', 'hung', 'looping'];
  for (const n of victims) await demo.write(`instances/${n}.yaml`, instanceDoc(n, [`cvars: {hostname: "Victim ${n}"}`]));
  await settle(demo);
  const untouched = await serverFacts(demo, still);
  // A hung server is found by the periodic pass (a healthy server is not probed otherwise): a short one here.
  const c = controllerProcess(demo, ['--log-level', process.env.LEFT4ME_CHAOS_LOG ?? 'info', '--resync-seconds', '5']);
  const alive = () => {
    if (c.child.exitCode !== null) throw new Error(`the controller exited ${c.child.exitCode}: ${c.stderr()}`);
  };
  try {
    // Killed: systemd restarts it (Restart=on-failure); the controller reports it down, then Ready again.
    const before = await unitFacts(demo.host, 'left4me-server@killed.service');
    const killedAt = Date.now();
    process.kill(await serverPid(demo, 'killed'), 'SIGKILL');
    await waitFor('the killed server restarted by systemd', async () => {
      alive();
      const now = await unitFacts(demo.host, 'left4me-server@killed.service');
      return now.ActiveState === 'active' && now.NRestarts === before.NRestarts + 1 && now.ExecMainPID !== before.ExecMainPID;
    }, 30_000);
    await waitFor('the killed server reported and Ready again', async () => {
      alive();
      const s = await demo.status.read('Instance', 'killed');
      return (await transitionTime(demo, 'killed', 'Running')) > killedAt && s?.conditions.find((x) => x.type === 'Ready')?.status === 'True' && s.unit?.mainPid === (await unitFacts(demo.host, 'left4me-server@killed.service')).ExecMainPID;
    }, 30_000);

    // Hung: health fails and Ready says so; the controller does not restart it.
    const hungBefore = await unitFacts(demo.host, 'left4me-server@hung.service');
    const hungPid = await serverPid(demo, 'hung');
    process.kill(hungPid, 'SIGSTOP');
    try {
      await waitFor('the hung server reported not answering', async () => {
        alive();
        const s = await demo.status.read('Instance', 'hung');
        const healthy = s?.conditions.find((x) => x.type === 'Healthy');
        const ready = s?.conditions.find((x) => x.type === 'Ready');
        return healthy?.status === 'False' && healthy.reason === 'NotAnswering' && ready?.status === 'False';
      }, 60_000);
      const hungNow = await unitFacts(demo.host, 'left4me-server@hung.service');
      if (hungNow.InvocationID !== hungBefore.InvocationID || hungNow.NRestarts !== hungBefore.NRestarts) throw new Error('the controller restarted the hung server');
    } finally {
      process.kill(hungPid, 'SIGCONT');
    }
    await waitFor('the hung server Ready again after SIGCONT', async () => {
      alive();
      return (await demo.status.read('Instance', 'hung'))?.conditions.find((x) => x.type === 'Ready')?.status === 'True';
    }, 60_000);

    // Crash-looping: killed at every start until systemd gives up (StartLimitBurst).
    let kills = 0;
    let looping = true;
    const injector = (async () => {
      while (looping) {
        // systemd finds the unit's processes itself: a crash right after every start, whatever its pid.
        const f = await unitFacts(demo.host, 'left4me-server@looping.service').catch(() => undefined);
        if (f?.ActiveState === 'active') {
          await demo.host.exec('systemctl', ['kill', '-s', 'SIGKILL', 'left4me-server@looping.service']).then(() => kills++, () => undefined);
        }
        await sleep(50);
      }
    })();
    try {
      let seen = '';
      await waitFor('systemd gives up on the crash-looping server', async () => {
        alive();
        seen = `${(await demo.host.exec('systemctl', ['show', 'left4me-server@looping.service', '-p', 'Result,ActiveState,SubState,NRestarts'])).stdout.trim().replace(/\n/g, ' ')} kills=${kills}`;
        // systemd 252 keeps the crash's Result when its start limit refuses an automatic restart; the count stays at the burst.
        return seen.includes('ActiveState=failed') && (seen.includes('Result=start-limit-hit') || Number(/NRestarts=(\d+)/.exec(seen)?.[1]) >= 5);
      }, 120_000, 250).catch(async (err: Error) => {
        const journal = (await demo.host.exec('journalctl', ['-u', 'left4me-server@looping.service', '-n', '60', '--no-pager', '-o', 'short-precise']).catch((e: Error) => ({ stdout: e.message }))).stdout;
        throw new Error(`${err.message}; systemd: ${seen}; journal:\n${journal}\ncontroller: ${c.stderr().slice(-6000)}`);
      });
      const gaveUp = await unitFacts(demo.host, 'left4me-server@looping.service');
      await waitFor('the crash loop reported Stalled with the log tail', async () => {
        alive();
        const s = await demo.status.read('Instance', 'looping');
        const stalled = s?.conditions.find((x) => x.type === 'Stalled');
        return stalled?.reason === 'CrashLoop' && s?.conditions.find((x) => x.type === 'Ready')?.status === 'False' && /last log lines/.test(stalled.message);
      }, 30_000);
      // Not retried: through a full pass (SIGHUP) and a window after it, the unit stays failed, never started again.
      c.child.kill('SIGHUP');
      await waitFor('the SIGHUP pass', async () => c.stderr().includes('SIGHUP: reconciling everything now'));
      const until = Date.now() + 8_000;
      while (Date.now() < until) {
        const later = await unitFacts(demo.host, 'left4me-server@looping.service');
        if (later.InvocationID !== gaveUp.InvocationID || later.ActiveState !== 'failed') throw new Error(`the controller started the crash-looping server again (${later.ActiveState})`);
        await sleep(250);
      }
    } finally {
      looping = false;
      await injector;
    }
    // A person fixes the cause and asks for a restart: it runs again.
    await demo.write('instances/looping.yaml', instanceDoc('looping', [`cvars: {hostname: "Victim looping"}`]).replace('metadata: {name: looping}', `metadata: {name: looping, annotations: {left4me/restartedAt: "${new Date().toISOString()}"}}`));
    await waitFor('the crash-looping server runs again after restartedAt', async () => {
      alive();
      return (await demo.status.read('Instance', 'looping'))?.conditions.find((x) => x.type === 'Ready')?.status === 'True';
    }, 60_000);
    console.log(`chaos server-faults: the crash loop took ${kills} kills before systemd's start limit`);
  } finally {
    c.child.kill('SIGTERM');
    await c.exited;
  }
  await settle(demo);
  const check = await checkHost(demo, { untouched });
  return { ...check, seed: opts.seed, detail: `1 server killed, 1 hung (SIGSTOP), 1 crash-looping; ${opts.bystanders} bystanders` };
}

/**
 * Torn state files at controller start, as a full disk or a careless edit
 * leaves them: leases.json, uid-leases.json, some status files (cut at a
 * random byte, or valid JSON of the wrong shape) and the RCON secrets. The
 * controller must come up and stay up; leases and status are rebuilt from
 * the host with every server on its port and uid and none restarted; the
 * secrets file, which the host cannot rebuild, is reported on the instances
 * and never overwritten with new passwords, until a person restores it.
 */
export async function corruptFiles(demo: DemoHost, opts: { instances: number; rounds: number; seed: number; random: () => number }): Promise<ScenarioReport> {
  const { random } = opts;
  await demo.write('base.yaml', BASE_DOCS);
  const names = Array.from({ length: opts.instances }, (_, i) => `c${i}`);
  for (const n of names) await demo.write(`instances/${n}.yaml`, instanceDoc(n, [`cvars: {hostname: "Corrupt ${n}"}`]));
  await settle(demo);
  const untouched = await serverFacts(demo, names);
  const data = demo.host.dirs.varLib;
  const file = {
    leases: join(data, 'status', 'leases.json'),
    uids: join(data, 'status', 'uid-leases.json'),
    rcon: join(data, 'secrets', 'rcon.json'),
    status: (kind: string, n: string) => join(data, 'status', kind, `${n}.json`),
  };
  const leases = await readFile(file.leases, 'utf8');
  const uids = await readFile(file.uids, 'utf8');
  const rcon = await readFile(file.rcon, 'utf8');
  // Cut before the closing brace: never valid JSON by chance.
  const cut = (text: string) => text.slice(0, Math.floor(random() * (text.length - 2)));
  const damaged: string[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const tornRcon = cut(rcon);
    await writeFile(file.leases, cut(leases));
    await writeFile(file.uids, random() < 0.5 ? cut(uids) : '{"uids": null}\n');
    await writeFile(file.rcon, tornRcon);
    const picked = names.filter(() => random() < 0.5);
    const victims = picked.length > 0 ? picked : [names[Math.floor(random() * names.length)]!];
    for (const n of victims) await writeFile(file.status('instance', n), random() < 0.5 ? cut(await readFile(file.status('instance', n), 'utf8')) : 'null\n');
    await writeFile(file.status('overlay', 'maps'), '[]\n');
    damaged.push(`round ${round + 1}: leases, uid leases, rcon.json, overlay/maps and ${victims.length} instance status file(s)`);

    const c = controllerProcess(demo, ['--log-level', 'info']);
    const alive = () => {
      if (c.child.exitCode !== null) throw new Error(`the controller exited ${c.child.exitCode}: ${c.stderr()}`);
    };
    try {
      await waitFor('the controller up after its first pass', async () => (alive(), c.stderr().includes('initial pass done')), 60_000);
      // Rebuilt from the host: the same ports and uids as before.
      expect(JSON.parse(await readFile(file.leases, 'utf8'))).toEqual(JSON.parse(leases));
      expect(JSON.parse(await readFile(file.uids, 'utf8'))).toEqual(JSON.parse(uids));
      // The secrets are reported on each instance and left as they are: no password silently regenerated.
      await waitFor('every instance reporting the unreadable secrets file', async () => {
        alive();
        for (const n of names) if (!(await demo.status.read('Instance', n))?.lastError?.message.includes('rcon.json is not a JSON object')) return false;
        return true;
      }, 60_000);
      expect(await readFile(file.rcon, 'utf8')).toBe(tornRcon);
      // A person restores the file from a backup and asks for a pass.
      await writeFile(file.rcon, rcon);
      c.child.kill('SIGHUP');
      await waitFor('every status current and Ready again', async () => (alive(), (await statusProblems(demo, await desiredState(demo))).length === 0), 120_000, 250);
    } finally {
      c.child.kill('SIGTERM');
      await c.exited;
    }
    expect(await readFile(file.rcon, 'utf8')).toBe(rcon);
  }
  const check = await checkHost(demo, { untouched });
  return { ...check, seed: opts.seed, detail: `${opts.instances} instances, ${opts.rounds} round(s) of damage (${damaged.join('; ')})` };
}
