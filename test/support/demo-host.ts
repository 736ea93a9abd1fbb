// A private systemd host prepared like `npm start` prepares it: the demo game
// server as the installation, a state directory, and helpers to drive a
// controller against it (in this process, or as a separate process that a
// test may kill -9). Used by the integration tests and the benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GameDig } from 'gamedig';
import pino from 'pino';
import RconModule from 'rcon-srcds';
import { controllerConfig, type ControllerConfig, type ControllerConfigInput } from '../../controller/config.js';
import { DEMO_INSTALLATION_PATH, DEMO_INSTALLATION_ROOT, placeDemoInstallation, writeDemoInstallation } from '../../controller/demo/game-server/installation.js';
import { packageRoot } from '../../controller/package-root.js';
import { a2sProbe } from '../../controller/game/a2s.js';
import { Controller } from '../../controller/reconcile/controller.js';
import { StatusStore, type DocumentStatus } from '../../controller/status/store.js';
import { DbusSystemdAdapter } from '../../controller/systemd/dbus-adapter.js';
import { bootPrivateHost, type BootOptions, type PrivateHost } from '../../controller/demo/private-host/private-host.js';

// rcon-srcds is CommonJS with `exports.default`; under NodeNext the class arrives on .default.
type RconClass = new (opts: { host: string; port: number; timeout?: number }) => {
  authenticate(password: string): Promise<boolean>;
  execute(command: string): Promise<string | boolean>;
  disconnect(): Promise<void>;
};
const Rcon = ((RconModule as unknown as { default?: RconClass }).default ?? RconModule) as unknown as RconClass;

/**
 * Private hosts share the machine's network namespace, so suites that run at
 * the same time must lease different ports (game / client ranges):
 *   reconciler (in process)   27015-27115 / 26900-27000 (the defaults)
 *   git-fleet (two hosts)     a 28000-28004 / 29000-29004, b 28005-28009 / 29005-29009
 *   crash-recovery            28015-28115 / 29015-29115
 *   chaos (npm run chaos and  28060-28099 / 29060-29099 (inside crash-recovery's range, which
 *     chaos-short)              leases from its bottom and holds at most 28015-28034 / 29015-29034)
 *   chaos clock (chaos-clock, clock.chaos) 30060-30079 / 31060-31079
 *   build-concurrency         28120-28199 / 29120-29199
 *   doctor-host               28180-28189 / 29180-29189 (inside build-concurrency's, which starts no server)
 *   package (installed CLI)   28190-28199 / 29190-29199 (the same)
 *   overlay-builds            28200-28299 / 29200-29299
 *   installation              28300-28399 / 29300-29399
 *   deploy-controller         28400-28499 / 29400-29499
 *   server-isolation          28500-28599 / 29500-29599
 *   document-hardening        28600-28699 / 29600-29699
 *   web-history               28700-28799 / 29700-29799
 *   deploy-web                web 28800-28801
 *   web-files                 28850-28899 / 29850-29899
 *   web-host (harness)        28900-28909 / 29900-29909, web 28810
 *   web-game                  28910-28919 / 29910-29919
 *   web-api (acceptance)      28920-28929 / 29920-29929, web 28811
 *   web-documents             28930-28949 / 29930-29949
 *   web-logs                  28950-28969 / 29950-29969
 *   ui-e2e (the dashboard)    28970-28979 / 29970-29979, web 28812
 *   git-origins               28980-28989 / 29980-29989
 *   server-unit               28990-28991 / 29990-29991
 *   server-sandbox            28992-28995 / 29992-29995
 *   install (install.sh)      web 28813; no game server (the controller's default ranges stay unleased)
 *   backup-restore (two hosts, one after the other) 28116-28119 / 29116-29119
 *   chaos kills (chaos-kills and its long run, one host at a time) 30000-30019 / 31000-31019
 *   chaos faults (bus restarts, disk full; short and long) 30020-30039 / 31020-31039
 *   chaos reboot (npm run chaos and chaos-reboot) 30040-30059 / 31040-31059
 *   load (npm run bench, LEFT4ME_BENCH_ONLY=load) 30100-30199 / 31100-31199, web 30200
 *   install-acceptance (two throwaway roots, one after the other) 30300-30309 / 31300-31309, web 30310
 * Suites on bootWebHost pass a web port of their own; `npm start` serves the
 * web on 8000 (or a free port when 8000 is taken).
 */
/** Where unit files go on a test host (a tmpfs inside it). */
export const UNIT_DIR = '/run/systemd/system';

/** A booted host with the demo installation and an empty state directory. */
export interface DemoHost {
  host: PrivateHost;
  /** The state directory, as this process reaches it. */
  stateDir: string;
  status: StatusStore;
  config(extra?: ControllerConfigInput): ControllerConfig;
  /** Writes a state file (relative to the state dir). */
  write(rel: string, text: string): Promise<void>;
  /** The host's RCON password of an instance. */
  rconPassword(name: string): Promise<string>;
  /** The test's own bus connection to the host (opened on first use, closed by stop()); it outlives controller restarts. */
  readonly systemd: DbusSystemdAdapter;
  /** The state of one instance's server unit. */
  server(name: string): ReturnType<DbusSystemdAdapter['getUnit']>;
  stop(): Promise<void>;
}

/**
 * Boots a host with the demo installation at DEMO_INSTALLATION_PATH (/srv/left4me/installations/demo).
 * With `disks`, /srv is on them too (bound at boot, written once): enabled servers start at boot, before
 * any test code runs, and their overlays need the installation then, as on a real machine.
 */
export async function bootDemoHost(opts: BootOptions = {}): Promise<DemoHost> {
  const srv = opts.disks === undefined ? undefined : join(opts.disks, 'srv');
  if (srv !== undefined) {
    await mkdir(srv, { recursive: true });
    await chmod(srv, 0o755);
  }
  const host = await bootPrivateHost(srv === undefined ? opts : { ...opts, binds: [...(opts.binds ?? []), { source: srv, target: '/srv' }] });
  try {
    if (srv === undefined) await placeDemoInstallation(host);
    // A reboot finds the installation where it was; rewriting it would change lower layers under running servers.
    else if (!existsSync(join(srv, DEMO_INSTALLATION_PATH.slice('/srv/'.length), 'srcds_run'))) await writeDemoInstallation(join(host.root, DEMO_INSTALLATION_PATH));
    const stateDir = join(host.dirs.etc, 'state');
    await mkdir(stateDir, { recursive: true });
    let bus: DbusSystemdAdapter | undefined;
    const systemd = () => (bus ??= new DbusSystemdAdapter({ address: host.busAddress }));
    return {
      host,
      stateDir,
      status: new StatusStore(join(host.root, '/var/lib/left4me/status')),
      config: (extra = {}) => controllerConfig({ stateDir, fsRoot: host.root, localDirs: { dataDir: host.dirs.varLib, configDir: host.dirs.etc }, busAddress: host.busAddress, unitDir: UNIT_DIR, installationRoots: [DEMO_INSTALLATION_ROOT], ...extra }),
      async write(rel, text) {
        await mkdir(join(stateDir, rel, '..'), { recursive: true });
        // Atomic, as editors and `left4me apply` write: the watcher never sees half a file.
        const tmp = join(stateDir, `.${rel.replace(/\//g, '_')}.tmp`);
        await writeFile(tmp, text);
        const { rename } = await import('node:fs/promises');
        await rename(tmp, join(stateDir, rel));
      },
      async rconPassword(name) {
        const secrets = JSON.parse(await readFile(join(host.dirs.varLib, 'secrets', 'rcon.json'), 'utf8')) as Record<string, string>;
        const p = secrets[name];
        if (!p) throw new Error(`no RCON password for ${name}`);
        return p;
      },
      get systemd() {
        return systemd();
      },
      server: (name) => systemd().getUnit(`left4me-server@${name}.service`),
      async stop() {
        await bus?.close();
        await host.stop();
      },
    };
  } catch (err) {
    await host.stop();
    throw err;
  }
}

/** systemd's own facts about one unit on a private host: a restart shows in InvocationID, NRestarts and ExecMainPID. */
export interface UnitFacts {
  InvocationID: string;
  NRestarts: number;
  ExecMainPID: number;
  ActiveState: string;
}

/** Reads UnitFacts with `systemctl show` on the host. */
export async function unitFacts(host: PrivateHost, unit: string): Promise<UnitFacts> {
  const out = await host.exec('systemctl', ['show', unit, '-p', 'InvocationID,NRestarts,ExecMainPID,ActiveState']);
  const p = Object.fromEntries(out.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { InvocationID: p.InvocationID ?? '', NRestarts: Number(p.NRestarts), ExecMainPID: Number(p.ExecMainPID), ActiveState: p.ActiveState ?? '' };
}

/** A controller running in this process against a demo host. */
export async function startController(demo: DemoHost, extra: ControllerConfigInput = {}, opts: { watch?: boolean } = {}) {
  const systemd = new DbusSystemdAdapter({ address: demo.host.busAddress });
  // The last lines the controller logged, kept in memory so a failing test can print them (logTail).
  const lines: string[] = [];
  const sink = {
    write(line: string) {
      if (process.env.LEFT4ME_TEST_LOG) process.stderr.write(line);
      lines.push(line.trimEnd());
      if (lines.length > 400) lines.splice(0, lines.length - 400);
    },
  };
  const log = pino({ level: process.env.LEFT4ME_TEST_LOG ?? 'debug' }, sink);
  const controller = new Controller(demo.config({ resyncMs: 600_000, emptyPollMs: 300, ...extra }), { systemd, log, probe: a2sProbe('127.0.0.1', 500) });
  await controller.start({ watch: opts.watch ?? true, resync: false });
  return {
    controller,
    systemd,
    /** The controller's last log lines (up to 400), oldest first. */
    logTail: (n = 400) => lines.slice(-n).join('\n'),
    async stop() {
      await controller.stop();
      await systemd.close();
    },
  };
}

/** Runs `left4me controller` as its own process against a demo host (so a test can kill -9 it). */
export function spawnController(demo: DemoHost, args: string[] = [], env?: Record<string, string>): ChildProcess {
  // The launcher itself, so its shebang's node flags apply as they do on a host.
  const bin = join(packageRoot(), 'controller', 'bin', 'left4me.js');
  return spawn(
    bin,
    ['controller', '--state', demo.stateDir, '--fs-root', demo.host.root, '--bus', demo.host.busAddress, '--unit-dir', UNIT_DIR, '--installation-root', DEMO_INSTALLATION_ROOT, '--log-level', 'warn', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) },
  );
}

/** Polls until `fn` returns a truthy value; fails with the last value seen. */
export async function waitFor<T>(what: string, fn: () => Promise<T>, timeoutMs = 20_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      error = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}${error ? `; last error: ${String(error)}` : ''}`);
}

/** The status of a condition type. */
export function condition(status: DocumentStatus | undefined, type: string): string | undefined {
  return status?.conditions.find((c) => c.type === type)?.status;
}

/** A2S through gamedig (a third-party client). */
export function queryServer(port: number) {
  return GameDig.query({ type: 'l4d2', host: '127.0.0.1', port, givenPortOnly: true, maxRetries: 1, socketTimeout: 800, attemptTimeout: 2000 });
}

/** One RCON command through rcon-srcds (a third-party client). */
export async function rcon(port: number, password: string, command: string): Promise<string> {
  const r = new Rcon({ host: '127.0.0.1', port, timeout: 3000 });
  try {
    await r.authenticate(password);
    const out = await r.execute(command);
    return String(out);
  } finally {
    (r as unknown as { connection?: { destroy(): void } }).connection?.destroy();
  }
}

/** The Installation document of the demo game server tree bootDemoHost writes. */
export const DEMO_INSTALLATION_DOC = `apiVersion: left4me/v1
kind: Installation
metadata: {name: demo}
spec: {source: directory, path: ${DEMO_INSTALLATION_PATH}}
`;

/** Documents for tests: the demo installation, two files overlays, a blueprint. */
export const BASE_DOCS = `${DEMO_INSTALLATION_DOC}---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: maps}
spec:
  sources:
    - files:
        - {path: left4dead2/addons/maps.vpk, content: "vpk"}
  serverCfg: |
    sv_tags "test"
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: rates}
spec:
  sources:
    - files:
        - {path: left4dead2/addons/rates.vpk, content: "vpk"}
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: coop}
spec:
  overlays: [maps, rates]
  cvars: {sv_alltalk: 0}
`;

/** An Instance document. */
export function instanceDoc(name: string, extra: string[] = []): string {
  return [`apiVersion: left4me/v1`, `kind: Instance`, `metadata: {name: ${name}}`, `spec:`, `  blueprint: coop`, ...extra.map((l) => `  ${l}`)].join('\n') + '\n';
}
