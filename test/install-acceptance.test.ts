// Issue 13's acceptance, as an operator meets it: a throwaway root (the whole
// machine's / as an overlay whose upper layer dies with the host, a real
// systemd booted in it) gets the packed release installed by
// deploy/install.sh with npm's default prefix, the demo's documents applied
// with the installed CLI and its servers converged; a second install changes
// no file and no unit; `left4me doctor` finds nothing wrong; a backup is made;
// the uninstall leaves nothing but state and data. A second throwaway root
// gets the install and the backup, and the same servers answer on the same
// ports with the same RCON passwords. The exposure of every unit the install
// runs is measured there (README's security table).
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_INSTALLATION_PATH, writeDemoInstallation } from '../controller/demo/game-server/installation.js';
import { bootThrowawayRoot, type ExecResult, type ThrowawayRoot } from '../controller/demo/private-host/private-host.js';
import { packageRoot } from '../controller/package-root.js';
import { fileHashes, unitProperties } from './support/host-files.js';
import { releaseTarball } from './support/pack.js';
import { queryServer, rcon, waitFor } from './support/demo-host.js';

// Private hosts share the machine's network: this suite's own ports (test/support/demo-host.ts).
const GAME_PORTS = '30300-30309';
const CLIENT_PORTS = '31300-31309';
const WEB = '127.0.0.1:30310';
const INSTALL_ARGS = ['--web-listen', WEB, '--game-ports', GAME_PORTS, '--client-ports', CLIENT_PORTS];
// The machine's npm cache answers what it can, as in test/package.test.ts; the registry the rest.
const ENV = { npm_config_prefer_offline: 'true' };
const SERVICES = ['left4me-controller.service', 'left4me-web.service'];
const DEMO = ['demo-1', 'demo-2', 'demo-3'];

let scratch: string;
let tarball: string;
let first: ThrowawayRoot | undefined;
let second: ThrowawayRoot | undefined;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'left4me-acceptance-'));
  tarball = await releaseTarball();
}, 240_000);

afterAll(async () => {
  await first?.stop();
  await second?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Puts the release where an operator has it (root's home), unpacked beside the tarball for its deploy/ scripts. */
async function bringRelease(host: ThrowawayRoot): Promise<void> {
  copyFileSync(tarball, join(host.root, 'root/left4me.tgz'));
  const r = await host.exec('tar', ['-xzf', '/root/left4me.tgz', '-C', '/root']);
  expect(r.code, r.stderr).toBe(0);
}

const install = (host: ThrowawayRoot): Promise<ExecResult> => host.exec('sh', ['/root/package/deploy/install.sh', '/root/left4me.tgz', ...INSTALL_ARGS], { cwd: '/root', env: ENV, timeoutMs: 300_000 });
const left4me = (host: ThrowawayRoot, ...args: string[]): Promise<ExecResult> => host.exec('/usr/local/bin/left4me', args, { timeoutMs: 240_000 });

/** The paths install.sh reported writing or finding unchanged. */
const reported = (out: string) => [...out.matchAll(/^left4me install: (wrote|unchanged) (\/\S+)/gm)].map((m) => ({ what: m[1]!, path: m[2]! }));

const unitFacts = (host: ThrowawayRoot, unit: string) => unitProperties(host, unit, ['LoadState', 'ActiveState', 'UnitFileState', 'InvocationID', 'MainPID', 'NRestarts']);
const hashes = (host: ThrowawayRoot, paths: string[]) => fileHashes(host.root, paths);

/** Every path the host wrote on `/` since boot (its upper layer), with `deleted ` before whiteouts. */
function written(host: ThrowawayRoot): string[] {
  const upper = host.upperLayers.get('/')!;
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(upper, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      // overlayfs records a deletion as a 0/0 character device.
      out.push(e.isCharacterDevice() ? `deleted ${r}` : r);
      if (e.isDirectory()) walk(r);
    }
  };
  walk('');
  return out.sort();
}

type Leases = Record<string, { port: number; clientPort: number }>;
const leases = (host: ThrowawayRoot): Leases => (JSON.parse(readFileSync(join(host.dirs.varLib, 'status', 'leases.json'), 'utf8')) as { leases: Leases }).leases;
const passwords = (host: ThrowawayRoot): Record<string, string> => JSON.parse(readFileSync(join(host.dirs.varLib, 'secrets', 'rcon.json'), 'utf8')) as Record<string, string>;

/** Every demo server answers A2S through gamedig on its leased port with its own hostname, and RCON with its password. */
async function serversAnswer(host: ThrowawayRoot): Promise<void> {
  const lease = leases(host);
  const secret = passwords(host);
  for (const [i, name] of DEMO.entries()) {
    const port = lease[name]!.port;
    const info = await waitFor(`${name} answering A2S on ${port}`, () => queryServer(port), 60_000, 500);
    expect(info.name).toBe(`left4me demo #${i + 1}`);
    expect(await rcon(port, secret[name]!, 'hostname')).toContain(`left4me demo #${i + 1}`);
  }
}

/** Exposure scores of the installed units, by unit. */
async function exposure(host: ThrowawayRoot, units: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const u of units) {
    const r = await host.exec('systemd-analyze', ['security', '--no-pager', u]);
    const m = /Overall exposure level for \S+: ([0-9.]+)/.exec(r.stdout);
    expect(m, `${u}: ${r.stdout}${r.stderr}`).not.toBeNull();
    out[u] = Number(m![1]);
  }
  return out;
}

const seen = { leases: {} as Leases, passwords: {} as Record<string, string> };
/** What the first root's upper layer held before the install, and what the package manager wrote for the doctor's fix. */
let atBoot = new Set<string>();
const byApt = new Set<string>();

describe('install, converge, reinstall, doctor, back up and uninstall in a throwaway root', () => {
  let installed: string[] = [];

  it('install.sh from the packed release installs, starts and verifies everything; the demo documents converge', async () => {
    first = await bootThrowawayRoot();
    // A fresh copy of the machine: no account or directory of left4me's yet.
    expect((await first.exec('getent', ['passwd', 'left4me'])).code).not.toBe(0);
    expect(existsSync(join(first.root, 'etc/left4me'))).toBe(false);
    await bringRelease(first);
    atBoot = new Set(written(first));

    const r = await install(first);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(reported(r.stdout).filter((f) => f.what !== 'wrote')).toEqual([]);
    installed = reported(r.stdout).map((f) => f.path);
    expect(installed).toEqual(expect.arrayContaining(['/usr/local/lib/node_modules/left4me', '/etc/systemd/system/left4me-controller.service', '/etc/systemd/system/left4me-web.service', '/etc/left4me/controller.yaml']));
    for (const line of ['ok: left4me-controller.service is active', 'ok: left4me-web.service is active', `ok: http://${WEB}/healthz answers`]) expect(r.stdout).toContain(line);
    // The flags' port ranges went into the controller's settings, where it leases from.
    const config = readFileSync(join(first.root, 'etc/left4me/controller.yaml'), 'utf8');
    expect(config).toMatch(new RegExp(`^portRange: ${GAME_PORTS}$`, 'm'));
    expect(config).toMatch(new RegExp(`^clientPortRange: ${CLIENT_PORTS}$`, 'm'));
    // The kernel's knobs are the machine's: the file is written, not applied, and the script says why.
    expect(r.stdout).toContain('not applied: /proc/sys is read-only here');

    // Steam's part, by the stand-in: the demo game server tree where the demo's Installation names it.
    await writeDemoInstallation(join(first.root, DEMO_INSTALLATION_PATH));
    cpSync(join(packageRoot(), 'state.example', 'demo'), join(first.root, 'root/demo'), { recursive: true });
    // demo-3 shows a pinned port: pinned inside this suite's range (the demo's 27100 is the defaults').
    const pinned = join(first.root, 'root/demo/instances/demo-3.yaml');
    writeFileSync(pinned, readFileSync(pinned, 'utf8').replace('port: 27100', 'port: 30305'));
    const apply = await left4me(first, 'apply', '-f', '/root/demo', '--wait', '--timeout', '3m');
    expect(apply.code, `${apply.stdout}\n${apply.stderr}`).toBe(0);
    await serversAnswer(first);
    const lease = leases(first);
    expect(lease['demo-3']!.port).toBe(30305);
    for (const name of DEMO) {
      expect(lease[name]!.port).toBeGreaterThanOrEqual(30300);
      expect(lease[name]!.port).toBeLessThanOrEqual(30309);
      expect((await unitFacts(first, `left4me-server@${name}.service`)).ActiveState).toBe('active');
    }

    // README's security table: every unit the install runs, as installed.
    const scores = await exposure(first, [...SERVICES, 'left4me-server@demo-1.service']);
    console.log(`systemd-analyze security in a throwaway root: ${JSON.stringify(scores)}`);
    expect(scores['left4me-web.service']).toBeLessThanOrEqual(2.0);
    expect(scores['left4me-server@demo-1.service']).toBeLessThanOrEqual(1.2);
  }, 600_000);

  it('a second run changes nothing: every file keeps its hash, every unit its invocation', async () => {
    const host = first!;
    const units = [...SERVICES, ...DEMO.map((n) => `left4me-server@${n}.service`)];
    const tracked = [...installed, '/etc/systemd/system'];
    const before = { files: hashes(host, tracked), units: await Promise.all(units.map((u) => unitFacts(host, u))) };
    const r = await install(host);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(reported(r.stdout).filter((f) => f.what !== 'unchanged')).toEqual([]);
    expect(r.stdout).toContain('left4me install: nothing changed');
    expect(hashes(host, tracked)).toEqual(before.files);
    expect(await Promise.all(units.map((u) => unitFacts(host, u)))).toEqual(before.units);
  }, 300_000);

  it('left4me doctor finds every check ok once its own fixes are applied', async () => {
    const host = first!;
    type Check = { id: string; status: string; detail: string; fix?: string };
    const doctor = async () => (JSON.parse((await left4me(host, 'doctor', '-o', 'json')).stdout) as { checks: Check[] }).checks;
    // What the doctor asks of the machine (32-bit libraries for srcds), the operator installs as it says.
    for (const c of await doctor()) {
      if (c.status === 'ok' || !c.fix?.startsWith('apt-get install')) continue;
      const before = new Set(written(host));
      const update = await host.exec('apt-get', ['update', '-qq'], { timeoutMs: 240_000 });
      expect(update.code, update.stderr).toBe(0);
      // apt asks before it installs: the operator's answer is the input.
      const fix = await host.exec('sh', ['-c', c.fix], { input: 'Y\n', env: { DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 240_000 });
      expect(fix.code, `${c.id}: ${c.fix}\n${fix.stdout}\n${fix.stderr}`).toBe(0);
      for (const p of written(host)) if (!before.has(p)) byApt.add(p);
    }
    const checks = await doctor();
    // cgroup v2 is how the machine booted, which no install can change: on a machine booted with
    // the v1 hierarchies the doctor says so as a warning, and nothing else may be short of ok.
    const unified = (await promisify(execFile)('stat', ['-f', '-c', '%T', '/sys/fs/cgroup'])).stdout.trim() === 'cgroup2fs';
    const notOk = checks.filter((c) => c.status !== 'ok').map((c) => `${c.id} ${c.status}: ${c.detail}`);
    expect(notOk).toEqual(unified ? [] : [expect.stringMatching(/^cgroups warning: /)]);
    expect(checks.map((c) => c.id)).toEqual(expect.arrayContaining(['systemd', 'lib32', 'accounts', 'directories', 'ports', 'controller-unit', 'web-unit', 'server-sandbox']));
  }, 600_000);

  it('a backup is made, and the uninstall leaves nothing but state and data', async () => {
    const host = first!;
    const made = await left4me(host, 'backup', 'create', '/root/left4me-backup.tar');
    expect(made.code, made.stderr).toBe(0);
    copyFileSync(join(host.root, 'root/left4me-backup.tar'), join(scratch, 'backup.tar'));
    seen.leases = leases(host);
    seen.passwords = passwords(host);

    const r = await host.exec('sh', ['/root/package/deploy/uninstall.sh'], { timeoutMs: 180_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    for (const u of [...SERVICES, ...DEMO.map((n) => `left4me-server@${n}.service`)]) expect((await unitFacts(host, u)).LoadState, u).toBe('not-found');
    const mounts = readFileSync(`/proc/${host.pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes('/var/lib/left4me/runtime'));
    expect(mounts).toEqual([]);
    for (const name of DEMO) await expect(queryServer(seen.leases[name]!.port)).rejects.toThrow();

    // What the host wrote on / since the release was brought in and still holds, but for what the
    // package manager wrote for the doctor's fix, npm's cache and logs, directories the machine has
    // (an overlay copies a directory up when something is made in it), machine files rewritten with
    // the same bytes (the account tools rewrite /etc/passwd and friends), and their backups and lock.
    const machineSame = (p: string) => {
      const mine = lstatSync(p, { throwIfNoEntry: false });
      const now = lstatSync(join(host.root, p), { throwIfNoEntry: false });
      if (!mine || !now) return false;
      return (mine.isDirectory() && now.isDirectory()) || (mine.isFile() && now.isFile() && readFileSync(p).equals(readFileSync(join(host.root, p))));
    };
    // The account databases: kept (uninstall keeps the accounts that own the data), so they may
    // differ from the machine's by left4me's own accounts only.
    const accountFiles = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow'];
    for (const f of accountFiles) {
      const machine = new Set(readFileSync(f, 'utf8').split('\n'));
      const now = readFileSync(join(host.root, f), 'utf8').split('\n');
      expect(now.filter((l) => !machine.has(l)).map((l) => l.split(':')[0]).sort(), f).toEqual(['left4me', 'left4me-build', 'left4me-web']);
      expect([...machine].filter((l) => !now.includes(l)), f).toEqual([]);
    }
    // What the operator brought after the release: the demo's documents, the backup.
    const brought = /^\/root\/(demo|left4me-backup\.tar)(\/|$)/;
    const left = written(host)
      .filter((p) => !atBoot.has(p) && !byApt.has(p) && !byApt.has(p.replace(/^deleted /, '')))
      .filter((p) => !brought.test(p) && !accountFiles.includes(p))
      .filter((p) => !/^(deleted )?\/root\/\.npm(\/|$)/.test(p) && !/^\/etc\/(\.pwd\.lock|(passwd|group|shadow|gshadow)-)$/.test(p))
      .filter((p) => !machineSame(p));
    // State and data: the settings and documents, the web's accounts, the servers' user records and
    // journal namespace, the data directory's mount point (the machine's disk, so not on /), the
    // installation the operator placed; and directories other packages share: npm's global
    // node_modules, systemd's sysusers.d (left even when empty, as README says).
    const stateAndData = /^\/(etc\/left4me|var\/lib\/left4me-web|etc\/userdb|var\/log\/journal\/[0-9a-f]{32}\.left4me|srv\/left4me)(\/|$)|^\/var\/lib\/left4me$/;
    const shared = ['/usr/local/lib/node_modules', '/etc/sysusers.d', '/etc/tmpfiles.d', '/etc/sysctl.d'];
    expect(left.filter((p) => !stateAndData.test(p) && !shared.includes(p))).toEqual([]);
    expect(left).toEqual(expect.arrayContaining(['/etc/left4me/controller.yaml', '/etc/left4me/state/instances/demo-1.yaml']));
    expect(readdirSync(join(host.dirs.varLib, 'status')).length).toBeGreaterThan(0);
  }, 300_000);
});

describe('restore into a second throwaway root', () => {
  it('the same servers answer on the same ports with the same RCON passwords', async () => {
    await first?.stop();
    first = undefined;
    second = await bootThrowawayRoot();
    await bringRelease(second);
    const r = await install(second);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    await writeDemoInstallation(join(second.root, DEMO_INSTALLATION_PATH));
    // README: restore before the controller runs, then start it.
    expect((await second.exec('systemctl', ['stop', ...SERVICES])).code).toBe(0);
    copyFileSync(join(scratch, 'backup.tar'), join(second.root, 'root/left4me-backup.tar'));
    const restore = await left4me(second, 'backup', 'restore', '/root/left4me-backup.tar');
    expect(restore.code, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    expect((await second.exec('systemctl', ['start', ...SERVICES])).code).toBe(0);

    await waitFor('the demo servers active', async () => (await Promise.all(DEMO.map((n) => unitFacts(second!, `left4me-server@${n}.service`)))).every((f) => f.ActiveState === 'active'), 180_000, 500);
    expect(leases(second)).toEqual(seen.leases);
    expect(passwords(second)).toEqual(seen.passwords);
    await serversAnswer(second);
  }, 600_000);
});
