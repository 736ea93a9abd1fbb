// Issue 13: deploy/install.sh and deploy/uninstall.sh on a real systemd. The
// private host is the throwaway root: its /etc and /var are overlays whose
// upper layers are discarded, /run and /tmp are its own. The package is packed
// from a copy of this checkout, installed by the script as an operator would
// (only npm's prefix moves: the host shares the machine's /usr), the services
// start under their shipped units, a second run changes no file, pinning and
// its SMT check run against a CPU topology given to the script, and the
// uninstall leaves state and data, --purge not even those. An upgrade (a new
// tarball) restarts both services; run from the installed package, the script
// finds its own prefix.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashes, unitProperties } from './support/host-files.js';
import { releaseTarball } from './support/pack.js';
import { bootPrivateHost, type ExecResult, type PrivateHost } from '../controller/demo/private-host/private-host.js';

const run = promisify(execFile);
// Private hosts share the machine's network: the web port is this suite's own (test/support/demo-host.ts).
const WEB = '127.0.0.1:28813';
// npm's prefix inside the host: under its private /var, never the machine's /usr/local.
const PREFIX = '/var/opt/left4me';
const PKG = `${PREFIX}/lib/node_modules/left4me`;
const WORK = '/run/left4me-install';
const ENV = {
  LEFT4ME_PREFIX: PREFIX,
  // The host's /proc/sys is read-only; the kernel's knobs are the machine's.
  LEFT4ME_APPLY_SYSCTL: 'no',
  // The machine's npm cache answers what it can (as in test/package.test.ts).
  npm_config_prefer_offline: 'true',
};
const MANAGED = '# Managed by left4me — edits are overwritten';

let scratch: string;
let host: PrivateHost;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'left4me-install-'));
  const tarball = await releaseTarball();

  host = await bootPrivateHost();
  mkdirSync(join(host.root, WORK));
  copyFileSync(tarball, join(host.root, WORK, 'left4me.tgz'));
  // The scripts as the tarball ships them (uninstall.sh must outlive the package it removes).
  await run('tar', ['-xzf', tarball, '-C', join(host.root, WORK), 'package/deploy/install.sh', 'package/deploy/uninstall.sh']);
  // A CPU topology of four cores with two threads each (siblings 0+4, 1+5, 2+6, 3+7), as sysfs shows it.
  const cpus = join(host.root, WORK, 'cpu');
  mkdirSync(cpus);
  writeFileSync(join(cpus, 'online'), '0-7\n');
  for (let c = 0; c < 8; c++) {
    mkdirSync(join(cpus, `cpu${c}`, 'topology'), { recursive: true });
    writeFileSync(join(cpus, `cpu${c}`, 'topology', 'thread_siblings_list'), `${c % 4},${(c % 4) + 4}\n`);
  }
}, 240_000);

afterAll(async () => {
  await host?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function install(args: string[] = [], env: Record<string, string> = {}): Promise<ExecResult> {
  return host.exec('sh', [`${WORK}/package/deploy/install.sh`, ...args], { env: { ...ENV, ...env }, timeoutMs: 240_000 });
}

async function uninstall(args: string[] = []): Promise<ExecResult> {
  return host.exec('sh', [`${WORK}/package/deploy/uninstall.sh`, ...args], { env: ENV, timeoutMs: 120_000 });
}

/** Paths the script reported writing or finding unchanged, in order. */
function reported(out: string): Array<{ what: 'wrote' | 'unchanged'; path: string }> {
  return [...out.matchAll(/^left4me install: (wrote|unchanged) (\/\S+)/gm)].map((m) => ({ what: m[1] as 'wrote' | 'unchanged', path: m[2]! }));
}

const hashes = (paths: string[]) => fileHashes(host.root, paths);
const unitFacts = (unit: string) => unitProperties(host, unit, ['LoadState', 'ActiveState', 'UnitFileState', 'MainPID', 'NRestarts']);

const hostPath = (p: string) => join(host.root, p);
/** Files the controller rendered into the unit directory (first line: its header). */
function controllerUnits(): string[] {
  const dir = '/etc/systemd/system';
  const out: string[] = [];
  for (const e of readdirSync(hostPath(dir))) {
    const p = `${dir}/${e}`;
    if (lstatSync(hostPath(p)).isFile() && readFileSync(hostPath(p), 'utf8').startsWith(MANAGED)) out.push(p);
  }
  return out.sort();
}

let installed: string[] = [];
/** Paths in the host's /etc and /var overlays' upper layers when it booted: what the install found. */
let bootUpper: Set<string>;

/**
 * What the host wrote into /etc and /var since boot and still holds, but for directories
 * that already exist on the machine (an overlay copies a directory up when something is
 * created in it), machine files rewritten unchanged, systemd's empty config directories, lock files of the account tools and npm's own prefix directories (on a
 * real host /usr/local/bin and /usr/local/lib/node_modules, which other packages share).
 */
function leftovers(): string[] {
  const npmDirs = [PREFIX, `${PREFIX}/bin`, `${PREFIX}/lib`, `${PREFIX}/lib/node_modules`, '/var/opt'];
  // Standard directories of systemd's tools, which install.sh creates when a host lacks them and
  // uninstall.sh leaves (other packages use them too).
  const systemdDirs = ['/etc/sysusers.d', '/etc/tmpfiles.d', '/etc/sysctl.d'];
  return [...upperPaths()]
    .filter((p) => !bootUpper.has(p))
    // A path the host no longer has is a whiteout: something of the machine's was deleted.
    .map((p) => (existsSync(join(host.root, p)) || lstatSync(join(host.root, p), { throwIfNoEntry: false }) ? p : `deleted ${p}`))
    .filter((p) => !(systemdDirs.includes(p) && readdirSync(join(host.root, p)).length === 0))
    .filter((p) => !(existsSync(p) && lstatSync(p).isDirectory() && lstatSync(join(host.root, p)).isDirectory()))
    // A machine file the account tools rewrote with the same bytes (userdel rewrites /etc/subuid).
    .filter((p) => !(existsSync(p) && lstatSync(p).isFile() && readFileSync(p).equals(readFileSync(join(host.root, p)))))
    .filter((p) => !npmDirs.includes(p) && !/^\/etc\/(\.pwd\.lock|(passwd|group|shadow|gshadow)-)$/.test(p))
    .sort();
}

/** Every path the host has written into its /etc and /var since boot (the overlays' upper layers). */
function upperPaths(): Set<string> {
  const out = new Set<string>();
  for (const top of ['etc', 'var']) {
    const base = join(host.dirs.base, `${top}.upper`);
    const walk = (rel: string) => {
      for (const e of readdirSync(join(base, rel), { withFileTypes: true })) {
        const r = rel === '' ? e.name : `${rel}/${e.name}`;
        out.add(`/${top}/${r}`);
        if (e.isDirectory()) walk(r);
      }
    };
    walk('');
  }
  return out;
}

describe('deploy/install.sh on a fresh host', () => {
  it('installs the package, accounts, directories, units, sysctl and nftables files; starts both services and verifies them', async () => {
    bootUpper = upperPaths();
    const r = await install([`${WORK}/left4me.tgz`, '--web-listen', WEB, '--rcon-from', '10.1.0.0/16,2001:db8::/32']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const files = reported(r.stdout);
    expect(files.every((f) => f.what === 'wrote'), r.stdout).toBe(true);
    installed = files.map((f) => f.path);
    expect(installed).toEqual(
      expect.arrayContaining([
        PKG,
        '/etc/sysusers.d/left4me.conf',
        '/etc/tmpfiles.d/left4me.conf',
        '/etc/left4me/controller.yaml',
        '/etc/systemd/system/left4me-controller.service',
        '/etc/systemd/system/left4me-web.service',
        '/etc/sysctl.d/60-left4me.conf',
        '/etc/nftables.d/left4me.nft',
      ]),
    );
    // What it verified, it said; and what the operator does next.
    for (const line of [
      'ok: left4me-controller.service is active',
      'ok: left4me-web.service is active',
      'ok: systemd-analyze verify left4me-controller.service',
      'ok: systemd-analyze verify left4me-web.service',
      'ok: systemd-analyze verify left4me-server@verify.service',
      'ok: systemd-analyze verify l4d2-game.slice',
      `ok: http://${WEB}/healthz answers`,
    ]) {
      expect(r.stdout).toContain(line);
    }
    expect(r.stdout).toContain(`${PREFIX}/bin/left4me user add admin --admin`);
    expect(r.stdout).toContain('/etc/left4me/secrets/steam.json');
    expect(r.stdout).not.toContain('nothing changed');

    // Checked again from outside the script: systemd's view and the web answering.
    for (const u of ['left4me-controller.service', 'left4me-web.service']) {
      expect(await unitFacts(u)).toMatchObject({ ActiveState: 'active', UnitFileState: 'enabled' });
    }
    expect(await (await fetch(`http://${WEB}/healthz`)).json()).toEqual({ ok: true });
    // The units run the installed CLI, the web on the address given.
    const web = readFileSync(hostPath('/etc/systemd/system/left4me-web.service'), 'utf8');
    expect(web).toContain(`ExecStart=${PREFIX}/bin/left4me web --listen ${WEB} `);
    expect(readFileSync(hostPath('/etc/systemd/system/left4me-controller.service'), 'utf8')).toContain(`ExecStart=${PREFIX}/bin/left4me controller `);
    // The controller rendered the template and slices (the script leaves those to it).
    expect(controllerUnits()).toEqual(expect.arrayContaining(['/etc/systemd/system/left4me-server@.service', '/etc/systemd/system/l4d2-game.slice', '/etc/systemd/system/l4d2-build.slice']));
    // The exposure of the services as installed (README's security table has the figures).
    for (const u of ['left4me-controller.service', 'left4me-web.service']) {
      const sec = await host.exec('systemd-analyze', ['security', '--no-pager', u]);
      const m = new RegExp(`Overall exposure level for ${u.replace('.', '\\.')}: ([0-9.]+)`).exec(sec.stdout);
      expect(m, sec.stdout + sec.stderr).not.toBeNull();
      console.log(`systemd-analyze security ${u} (installed): ${m![1]}`);
    }
    // The directories of the tmpfiles file exist.
    for (const d of ['/etc/left4me/state/instances', '/var/lib/left4me/status', '/var/lib/left4me-web']) expect(existsSync(hostPath(d)), d).toBe(true);

    // The installed doctor agrees about what the install is responsible for (the machine's own
    // lacks, such as 32-bit libraries or cgroup v2, are not the install's to fix).
    const doctor = await host.exec(`${PREFIX}/bin/left4me`, ['doctor', '-o', 'json']);
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string; detail: string }> }).checks;
    for (const id of ['systemd', 'accounts', 'directories', 'nss-systemd', 'controller-unit', 'web-unit', 'server-sandbox']) {
      expect(checks.find((c) => c.id === id), `${id}: ${doctor.stdout}`).toMatchObject({ status: 'ok' });
    }
    const sysctl = readFileSync(hostPath('/etc/sysctl.d/60-left4me.conf'), 'utf8');
    for (const l of ['net.core.rmem_max = 8388608', 'net.core.wmem_max = 8388608', 'net.core.rmem_default = 524288', 'net.core.wmem_default = 524288', 'net.ipv4.udp_rmem_min = 16384', 'net.ipv4.udp_wmem_min = 16384', 'net.core.netdev_max_backlog = 5000', 'net.core.netdev_budget = 600']) {
      expect(sysctl).toContain(`\n${l}\n`);
    }
    expect(r.stdout).toContain('not applied (LEFT4ME_APPLY_SYSCTL=no)');
    const nft = readFileSync(hostPath('/etc/nftables.d/left4me.nft'), 'utf8');
    expect(nft).toContain('elements = { 127.0.0.0/8, 10.1.0.0/16 }');
    expect(nft).toContain('elements = { ::1/128, 2001:db8::/32 }');
    expect(nft).toContain('udp dport { 27015-27115, 26900-27000 } accept');
    expect(nft).toContain('tcp dport 27015-27115 ip saddr @rcon4 accept');
    expect(nft).toContain('tcp dport 27015-27115 drop');
    expect(nft).toContain('udp sport { 27015-27115, 26900-27000 } ip dscp set ef');
  }, 300_000);

  it('a second run changes nothing and says so: every file keeps its hash, no service restarts', async () => {
    const tracked = [...installed, ...controllerUnits()];
    const before = hashes(tracked);
    const pids = await Promise.all(['left4me-controller.service', 'left4me-web.service'].map(async (u) => (await unitFacts(u)).MainPID));
    const r = await install([`${WORK}/left4me.tgz`, '--web-listen', WEB, '--rcon-from', '10.1.0.0/16,2001:db8::/32']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(reported(r.stdout).filter((f) => f.what !== 'unchanged')).toEqual([]);
    expect(reported(r.stdout).map((f) => f.path).sort()).toEqual([...installed].sort());
    expect(r.stdout).toContain('left4me install: nothing changed');
    expect(r.stdout).not.toMatch(/restarted|started|enabled|daemon-reload/);
    expect(hashes(tracked)).toEqual(before);
    const after = await Promise.all(['left4me-controller.service', 'left4me-web.service'].map(async (u) => (await unitFacts(u)).MainPID));
    expect(after).toEqual(pids);
  }, 300_000);

  it('refuses bad input before writing anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--web-listen', '0.0.0.0'], /--web-listen 0\.0\.0\.0: expected ADDR:PORT/],
      [['--game-ports', '27115-27015'], /--game-ports 27115-27015: ports are 1-65535, low end first/],
      [['--client-ports', '27100-27200'], /--game-ports 27015-27115 and --client-ports 27100-27200 overlap/],
      [['--rcon-from', '10.0.0.0/8;drop'], /--rcon-from 10\.0\.0\.0\/8;drop: not an IPv4 or IPv6 network/],
      [['--game-cpus', '2-3'], /--game-cpus 2-3 splits SMT siblings \(CPU 6-7 share a core with it\): use --game-cpus 2-3,6-7/],
      [['--game-cpus', '9'], /--game-cpus 9: CPU 9 is not online here \(online: 0-7\)/],
      [['--game-cpus', '0-7'], /every online CPU: leave at least one core/],
      [['--game-cpus', '3-1'], /a range runs backwards/],
      [['--game-cpus', '1;reboot'], /expected e\.g\. 2-3/],
      // The installed controller.yaml leases the default ranges: the firewall must not open others.
      [['--game-ports', '30000-30099'], /controller\.yaml leases game ports 27015-27115, but --game-ports is 30000-30099/],
      [['--client-ports', '31000-31099'], /controller\.yaml leases client ports 26900-27000, but --client-ports is 31000-31099/],
    ];
    const before = hashes(['/etc/systemd/system', '/etc/sysctl.d', '/etc/nftables.d']);
    for (const [args, message] of cases) {
      const r = await install([`${WORK}/left4me.tgz`, ...args], { LEFT4ME_SYSFS_CPU: `${WORK}/cpu` });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
    expect(hashes(['/etc/systemd/system', '/etc/sysctl.d', '/etc/nftables.d'])).toEqual(before);
  }, 120_000);

  it('--game-cpus pins the game slice and gives the rest of the system the other cores; without it the pinning goes again', async () => {
    const args = [`${WORK}/left4me.tgz`, '--web-listen', WEB, '--rcon-from', '10.1.0.0/16,2001:db8::/32'];
    const env = { LEFT4ME_SYSFS_CPU: `${WORK}/cpu` };
    const r = await install([...args, '--game-cpus', '2-3,6-7'], env);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const want = { 'l4d2-game.slice': '2-3,6-7', 'system.slice': '0-1,4-5', 'user.slice': '0-1,4-5', 'l4d2-build.slice': '0-1,4-5' };
    for (const [slice, cpus] of Object.entries(want)) {
      const file = `/etc/systemd/system/${slice}.d/60-left4me-cpus.conf`;
      expect(readFileSync(hostPath(file), 'utf8')).toContain(`\n[Slice]\nAllowedCPUs=${cpus}\n`);
      // Loaded by systemd (the script says so too).
      expect((await host.exec('systemctl', ['show', slice, '-p', 'DropInPaths', '--value'])).stdout).toContain(file);
      expect(r.stdout).toContain(`ok: ${slice} has AllowedCPUs=`);
    }
    expect(r.stdout).toContain('systemctl daemon-reload');
    // The controller rewrites l4d2-game.slice at every start; the drop-in is beside it, so it survives that.
    await host.exec('systemctl', ['restart', 'left4me-controller.service']);
    expect((await host.exec('systemctl', ['show', 'l4d2-game.slice', '-p', 'DropInPaths', '--value'])).stdout).toContain('60-left4me-cpus.conf');

    const again = await install([...args, '--game-cpus', '2-3,6-7'], env);
    expect(again.stdout).toContain('nothing changed');

    const unpinned = await install(args, env);
    expect(unpinned.code, `${unpinned.stdout}\n${unpinned.stderr}`).toBe(0);
    for (const slice of Object.keys(want)) {
      expect(unpinned.stdout).toContain(`removed /etc/systemd/system/${slice}.d/60-left4me-cpus.conf`);
      expect(existsSync(hostPath(`/etc/systemd/system/${slice}.d`))).toBe(false);
    }
    expect((await install(args, env)).stdout).toContain('nothing changed');
  }, 300_000);
});

describe('deploy/install.sh again', () => {
  const args = ['--web-listen', WEB, '--rcon-from', '10.1.0.0/16,2001:db8::/32'];

  it('run from the installed package without a tarball, it finds its prefix itself and changes nothing', async () => {
    const env = { ...ENV, LEFT4ME_PREFIX: '' };
    const r = await host.exec('sh', [`${PKG}/deploy/install.sh`, ...args], { env, timeoutMs: 120_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('left4me install: nothing changed');
    expect(r.stdout).toContain(`${PREFIX}/bin/left4me user add admin --admin`);
    // From anywhere else, it needs the tarball.
    const lost = await host.exec('sh', [`${WORK}/package/deploy/install.sh`, ...args], { env });
    expect(lost.code).toBe(1);
    expect(lost.stderr).toMatch(/no tarball given and .* is not an installed package's deploy\//);
  }, 120_000);

  it('a new tarball replaces the package and restarts both services onto it', async () => {
    // The same package with one changed byte in the web unit's comments: a new release, as far as the script can tell.
    const unpacked = join(scratch, 'next');
    mkdirSync(unpacked);
    await run('tar', ['-xzf', join(host.root, WORK, 'left4me.tgz'), '-C', unpacked]);
    const unit = join(unpacked, 'package/deploy/left4me-web.service');
    writeFileSync(unit, readFileSync(unit, 'utf8').replace('# The left4me web service', '# The left4me web service (next release)'));
    await run('tar', ['-czf', join(host.root, WORK, 'next.tgz'), '-C', unpacked, 'package']);
    const pids = await Promise.all(['left4me-controller.service', 'left4me-web.service'].map(async (u) => (await unitFacts(u)).MainPID));

    const r = await install([`${WORK}/next.tgz`, ...args]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(reported(r.stdout).filter((f) => f.what === 'wrote').map((f) => f.path)).toEqual([PKG, '/etc/systemd/system/left4me-web.service']);
    expect(r.stdout).toContain('restarted left4me-controller.service');
    expect(r.stdout).toContain('restarted left4me-web.service');
    expect(readFileSync(hostPath('/etc/systemd/system/left4me-web.service'), 'utf8')).toContain('(next release)');
    const after = await Promise.all(['left4me-controller.service', 'left4me-web.service'].map(async (u) => unitFacts(u)));
    for (const [i, f] of after.entries()) {
      expect(f.ActiveState).toBe('active');
      expect(f.MainPID).not.toBe(pids[i]);
    }
    expect((await install([`${WORK}/next.tgz`, ...args])).stdout).toContain('nothing changed');
  }, 300_000);
});

describe('deploy/uninstall.sh', () => {
  it('removes everything but state and data', async () => {
    // State, data and an account of the web service, made the way the next steps say.
    writeFileSync(hostPath('/etc/left4me/state/instances/kept.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: kept}\nspec: {blueprint: none, state: stopped}\n');
    const admin = await host.exec(`${PREFIX}/bin/left4me`, ['user', 'add', 'admin', '--admin']);
    expect(admin.code, admin.stderr).toBe(0);
    const r = await uninstall();
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    for (const u of ['left4me-controller.service', 'left4me-web.service']) expect((await unitFacts(u)).LoadState).toBe('not-found');
    for (const p of [...installed.filter((p) => !p.startsWith('/etc/left4me/')), `${PREFIX}/bin/left4me`]) expect(existsSync(hostPath(p)), p).toBe(false);
    expect(controllerUnits()).toEqual([]);
    expect(readdirSync(hostPath('/etc/systemd/system')).filter((f) => /left4me|l4d2/.test(f))).toEqual([]);
    // Kept: the settings, the documents, the data and the web accounts.
    expect(existsSync(hostPath('/etc/left4me/controller.yaml'))).toBe(true);
    expect(existsSync(hostPath('/etc/left4me/state/instances/kept.yaml'))).toBe(true);
    expect(existsSync(hostPath('/var/lib/left4me/status'))).toBe(true);
    expect(readdirSync(hostPath('/var/lib/left4me-web')).length).toBeGreaterThan(0);
    expect(r.stdout).toContain('--purge removes them');
    // Nothing else of the install is anywhere in the host's /etc or /var.
    expect(leftovers()).toEqual([
      '/etc/userdb', // the game servers' user records (none here: no server ran)
      '/var/lib/left4me-web',
      '/var/lib/left4me-web/users.json',
      expect.stringMatching(/^\/var\/log\/journal\/[0-9a-f]{32}\.left4me$/), // the game servers' journal namespace
    ]);
  }, 180_000);

  it('--purge leaves nothing', async () => {
    const r = await uninstall(['--purge']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // /etc/left4me and /var/lib/left4me are the private host's bind mounts: they stay as empty
    // mount points here, where a real host has no directory left.
    expect(readdirSync(hostPath('/etc/left4me'))).toEqual([]);
    expect(readdirSync(hostPath('/var/lib/left4me'))).toEqual([]);
    expect(existsSync(hostPath('/var/lib/left4me-web'))).toBe(false);
    for (const a of ['left4me', 'left4me-build', 'left4me-web']) expect((await host.exec('getent', ['passwd', a])).code, a).not.toBe(0);
    expect(leftovers()).toEqual([]);
  }, 120_000);
});
