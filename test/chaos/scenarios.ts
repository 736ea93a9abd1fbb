// The reliability suite's scenarios, each sized by its caller: a short seeded
// run in `npm test` (test/chaos-short.test.ts), a long one in `npm run chaos`
// (test/chaos/*.chaos.ts). Each ends with checkHost (support/chaos.ts).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BASE_DOCS, instanceDoc, type DemoHost } from '../support/demo-host.js';
import { checkHost, controllerProcess, serverFacts, settle, type HostCheck } from '../support/chaos.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
