// Issue 13: the game servers' sandbox profiles in a real private systemd.
// The demo server converges under `strict`, then the controller restarts
// with `--server-sandbox compat`: the changed template rolls out through the
// instance's update policy (a restart, not a wait for one), the server
// answers A2S under compat, and `systemd-analyze security` of the running
// unit is measured for each profile (figures in README's security table).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControllerConfigInput } from '../controller/config.js';
import { BASE_DOCS, bootDemoHost, instanceDoc, queryServer, startController, UNIT_DIR, unitFacts, waitFor, type DemoHost, type UnitFacts } from './support/demo-host.js';

// Private hosts share the machine's network namespace: this suite leases its own ports, apart from the others'.
const PORTS: ControllerConfigInput = { portRanges: { game: { min: 28992, max: 28995 }, client: { min: 29992, max: 29995 } } };
const UNIT = 'left4me-server@sb.service';
let demo: DemoHost;

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  await demo.write('instances/sb.yaml', instanceDoc('sb', ['cvars: {hostname: "Sandboxed"}']));
}, 60_000);

afterAll(async () => {
  await demo?.stop();
});

/** The port the instance leased. */
async function gamePort(): Promise<number> {
  const leases = JSON.parse(await readFile(join(demo.host.dirs.varLib, 'status', 'leases.json'), 'utf8')) as { leases: Record<string, { port: number }> };
  return leases.leases.sb!.port;
}

/** `systemd-analyze security` of the running server's unit, as systemd on the host prints it. */
async function exposure(): Promise<number> {
  const r = await demo.host.exec('systemd-analyze', ['security', '--no-pager', UNIT]);
  const m = /Overall exposure level for left4me-server@sb\.service: ([0-9.]+)/.exec(r.stdout);
  expect(m, r.stdout + r.stderr).not.toBeNull();
  return Number(m![1]);
}

/** One directive of the loaded unit, as systemd parsed it. */
async function property(name: string): Promise<string> {
  return (await demo.host.exec('systemctl', ['show', UNIT, '-p', name, '--value'])).stdout.trim();
}

describe('server sandbox profiles on a real systemd', () => {
  let strictFacts: UnitFacts;

  it('strict: the demo server runs and answers A2S; exposure 1.2 or better', async () => {
    const c = await startController(demo, PORTS);
    try {
      await waitFor('server active', async () => (await demo.server('sb')).activeState === 'active', 60_000);
      const port = await gamePort();
      const q = await waitFor('A2S answer', () => queryServer(port).catch(() => undefined), 30_000);
      expect(q.name).toBe('Sandboxed');
    } finally {
      await c.stop();
    }
    expect(await readFile(join(demo.host.root, UNIT_DIR, 'left4me-server@.service'), 'utf8')).toContain('# Sandbox profile strict ');
    expect(await property('SystemCallErrorNumber')).toBe('1'); // EPERM, as systemctl show prints it
    strictFacts = await unitFacts(demo.host, UNIT);
    const score = await exposure();
    console.log(`systemd-analyze security ${UNIT} (strict): ${score}`);
    expect(score).toBeLessThanOrEqual(1.2);
  }, 120_000);

  it('compat: a controller with --server-sandbox compat restarts the server onto it; it answers A2S; exposure 2.0 or better', async () => {
    expect(strictFacts, 'the strict test ran first').toBeDefined();
    const c = await startController(demo, { ...PORTS, units: { server: { sandbox: 'compat' } } });
    try {
      // The instance's drop-in names the new template, so its update policy (whenEmpty; nobody plays) restarts it.
      const after = await waitFor('restarted under compat', async () => {
        const f = await unitFacts(demo.host, UNIT);
        return f.ActiveState === 'active' && f.InvocationID !== strictFacts.InvocationID ? f : undefined;
      }, 60_000);
      expect(after.ExecMainPID).not.toBe(strictFacts.ExecMainPID);
      const q = await waitFor('A2S answer', async () => queryServer(await gamePort()).catch(() => undefined), 30_000).catch(async (e) => {
        console.log((await demo.host.exec('systemctl', ['status', '--no-pager', '-l', UNIT]).catch((x) => x)).stdout);
        console.log((await demo.host.exec('journalctl', ['--namespace=left4me', '--no-pager', '-n', '60']).catch((x) => x)).stdout);
        console.log((await demo.host.exec('journalctl', ['--no-pager', '-n', '60', '-u', UNIT]).catch((x) => x)).stdout);
        throw e;
      });
      expect(q.name).toBe('Sandboxed');
    } finally {
      await c.stop();
    }
    expect(await readFile(join(demo.host.root, UNIT_DIR, 'left4me-server@.service'), 'utf8')).toContain('# Sandbox profile compat ');
    expect(await readFile(join(demo.host.root, UNIT_DIR, `${UNIT}.d`, '10-user.conf'), 'utf8')).toMatch(/^# Runs under left4me-server@\.service compat sha256:/m);
    // What systemd loaded is compat's: no errno for denied calls (they kill), every architecture's syscalls.
    expect(await property('SystemCallErrorNumber')).not.toBe('1');
    expect(await property('SystemCallArchitectures')).toBe('');
    expect(await property('TemporaryFileSystem')).toContain('/var/lib');
    const score = await exposure();
    console.log(`systemd-analyze security ${UNIT} (compat): ${score}`);
    expect(score).toBeLessThanOrEqual(2.0);
  }, 120_000);
});
