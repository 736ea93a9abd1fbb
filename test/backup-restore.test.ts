// Issue 13's backup acceptance: two servers converge on one private host on
// ports that are not the first of the range (a third instance took that one
// and was deleted), `left4me backup create` saves the host, the host goes
// away; a second, fresh host gets `left4me backup restore` and a controller,
// and the same two servers answer A2S on the same ports and accept the same
// RCON passwords, with the web's account restored beside them. A document
// changed there makes a second restore refuse, and --force puts it back.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../controller/package-root.js';
import { UserStore } from '../controller/web/users.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, queryServer, rcon, startController, waitFor, type DemoHost } from './support/demo-host.js';

// Private hosts share the machine's network namespace: ports apart from the other suites' ranges.
const PORTS = { game: { min: 28116, max: 28119 }, client: { min: 29116, max: 29119 } };
const BIN = join(packageRoot(), 'controller', 'bin', 'left4me.js');
const WEB = 'var/lib/left4me-web';
const scratch = mkdtempSync(join(tmpdir(), 'left4me-backup-acceptance-'));
const archive = join(scratch, 'host-a.tar');

let first: DemoHost | undefined;
let second: DemoHost | undefined;
let controller: Awaited<ReturnType<typeof startController>> | undefined;

afterAll(async () => {
  await controller?.stop();
  await first?.stop();
  await second?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs the installed launcher as an operator would; never rejects on a non-zero exit. */
async function left4me(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(BIN, args);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

type Leases = { leases: Record<string, { port: number; clientPort: number }> };
const leasesOf = async (demo: DemoHost) => (JSON.parse(await readFile(join(demo.host.dirs.varLib, 'status', 'leases.json'), 'utf8')) as Leases).leases;
/** True once the instance is Ready; otherwise throws its conditions, so a timeout says where it stuck. */
async function ready(demo: DemoHost, name: string): Promise<boolean> {
  const status = await demo.status.read('Instance', name);
  if (condition(status, 'Ready') === 'True') return true;
  throw new Error(`${name}: ${JSON.stringify(status?.conditions ?? 'no status')}`);
}
const hostname = (name: string) => `Backed up ${name}`;

describe('backup and restore onto a fresh host', () => {
  const seen = { ports: {} as Record<string, number>, passwords: {} as Record<string, string>, uids: '' };

  it('host A: two servers converge on ports past the first, then backup create saves the host', async () => {
    first = await bootDemoHost();
    await first.write('base.yaml', BASE_DOCS);
    // The first port goes to an instance deleted before the backup, so a fresh lease on host B would differ.
    // Written before the controller starts: a document in a directory made while the watcher starts can be missed.
    await first.write('instances/filler.yaml', instanceDoc('filler'));
    controller = await startController(first, { portRanges: PORTS });
    await waitFor('filler Ready', () => ready(first!, 'filler'), 90_000);
    for (const name of ['a', 'b']) await first.write(`instances/${name}.yaml`, instanceDoc(name, [`cvars: {hostname: "${hostname(name)}"}`]));
    await waitFor('a and b Ready', async () => (await ready(first!, 'a')) && (await ready(first!, 'b')), 90_000);
    await rm(join(first.stateDir, 'instances', 'filler.yaml'));
    await waitFor('filler gone, its lease released', async () => !('filler' in (await leasesOf(first!))) && (await first!.server('filler')).activeState !== 'active', 60_000);
    const leases = await leasesOf(first);
    seen.ports = { a: leases.a!.port, b: leases.b!.port };
    expect(Object.values(seen.ports)).not.toContain(PORTS.game.min);
    for (const name of ['a', 'b']) {
      seen.passwords[name] = await first.rconPassword(name);
      const status = await waitFor(`RCON on ${name}`, () => rcon(seen.ports[name]!, seen.passwords[name]!, 'status').catch(() => undefined), 30_000);
      expect(status).toContain(`hostname: ${hostname(name)}`);
    }
    seen.uids = await readFile(join(first.host.dirs.varLib, 'status', 'uid-leases.json'), 'utf8');
    await new UserStore(join(first.host.root, WEB)).add('alice', 'alice password 1', 'admin');
    await controller.stop();
    controller = undefined;

    const r = await left4me('backup', 'create', archive, '--fs-root', first.host.root, '--state', first.stateDir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*host-a\.tar: \d+ files/);
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    for (const p of Object.values(seen.passwords)) expect(r.stdout).not.toContain(p);

    await first.stop();
    first = undefined;
  }, 240_000);

  it('host B: backup restore, a controller, and the same servers on the same ports with the same RCON passwords', async () => {
    second = await bootDemoHost();
    const r = await left4me('backup', 'restore', archive, '--fs-root', second.host.root, '--state', second.stateDir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restored \d+ files from the backup of /);
    // A document changed here makes the host no longer empty: restoring over it is refused.
    await second.write('instances/a.yaml', instanceDoc('a', ['cvars: {hostname: "changed on B"}']));
    const again = await left4me('backup', 'restore', archive, '--fs-root', second.host.root, '--state', second.stateDir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/this host is not empty \(state\/instances\/a\.yaml\)/);
    expect(await readFile(join(second.stateDir, 'instances', 'a.yaml'), 'utf8')).toContain('changed on B');
    // --force puts the archive's back, keeping a copy of what it replaced.
    const forced = await left4me('backup', 'restore', archive, '--force', '--fs-root', second.host.root, '--state', second.stateDir);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/kept what this restore replaces in .*\/var\/lib\/left4me\/backups\/replaced-.*\.tar/);
    expect(await readFile(join(second.stateDir, 'instances', 'a.yaml'), 'utf8')).toContain(hostname('a'));
    expect(await readFile(join(second.host.dirs.varLib, 'status', 'uid-leases.json'), 'utf8')).toBe(seen.uids);

    controller = await startController(second, { portRanges: PORTS });
    await waitFor('a and b Ready on host B', async () => (await ready(second!, 'a')) && (await ready(second!, 'b')), 90_000);
    expect(await leasesOf(second)).toEqual({ a: expect.objectContaining({ port: seen.ports.a }), b: expect.objectContaining({ port: seen.ports.b }) });
    for (const name of ['a', 'b']) {
      const port = seen.ports[name]!;
      const info = await waitFor(`A2S on ${port}`, () => queryServer(port).catch(() => undefined), 30_000);
      expect(info.name).toBe(hostname(name));
      expect(await second.rconPassword(name)).toBe(seen.passwords[name]);
      const status = await waitFor(`RCON on ${name}`, () => rcon(port, seen.passwords[name]!, 'status').catch(() => undefined), 30_000);
      expect(status).toContain(`hostname: ${hostname(name)}`);
    }
    await expect(rcon(seen.ports.a!, 'not-the-password-at-all', 'status')).rejects.toThrow();
    expect(await new UserStore(join(second.host.root, WEB)).verify('alice', 'alice password 1')).toMatchObject({ name: 'alice', role: 'admin' });
  }, 240_000);
});
