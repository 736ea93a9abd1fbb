// The web service as production runs it, inside a private systemd host:
// deploy/left4me-web.service installed as is (only ExecStart= points at this
// checkout, bound read-only into the host), the accounts and directories from
// deploy/'s sysusers and tmpfiles files applied by systemd's own tools, and
// its accounts created with the CLI as root. Acceptance tests reach it over
// HTTP from the test process: private hosts share the machine's network.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../../controller/package-root.js';
import type { ExecResult, PrivateHost } from '../../controller/demo/private-host/private-host.js';
import { bootDemoHost, startController, waitFor, type DemoHost } from './demo-host.js';
import type { ControllerConfigInput } from '../../controller/config.js';

/** Where the checkout is bound (read-only) inside a host that runs the web unit. */
export const APP_DIR = '/var/lib/left4me-app';
/** The web unit's data directory (StateDirectory=) inside the host. */
export const WEB_DATA_DIR = '/var/lib/left4me-web';
export const WEB_UNIT = 'left4me-web.service';

const DEPLOY = join(packageRoot(), 'deploy');
const CLI = `${APP_DIR}/controller/bin/left4me.js`;

/** What a host needs bound to run the web unit from this checkout. */
export const WEB_BINDS = [{ source: packageRoot(), target: APP_DIR, readOnly: true }];

/**
 * Applies deploy/'s sysusers and tmpfiles files inside the host as a real host
 * would, and installs deploy/left4me-web.service with a drop-in that only
 * replaces ExecStart= (the host has no /usr/local/bin/left4me) and the port.
 * The host must have been booted with WEB_BINDS. Does not start the unit.
 */
export async function installWebUnit(host: PrivateHost, port: number): Promise<void> {
  for (const f of ['left4me.sysusers.conf', 'left4me.tmpfiles.conf']) await copyFile(join(DEPLOY, f), join(host.root, 'run', f));
  await must(host.exec('systemd-sysusers', ['/run/left4me.sysusers.conf']), 'systemd-sysusers');
  await must(host.exec('systemd-tmpfiles', ['--create', '/run/left4me.tmpfiles.conf']), 'systemd-tmpfiles --create');
  await copyFile(join(DEPLOY, WEB_UNIT), join(host.dirs.units, WEB_UNIT));
  await mkdir(join(host.dirs.units, `${WEB_UNIT}.d`), { recursive: true });
  const unit = await readFile(join(DEPLOY, WEB_UNIT), 'utf8');
  const execStart = /^ExecStart=\/usr\/local\/bin\/left4me (.*)$/m.exec(unit)?.[1];
  if (!execStart) throw new Error(`${WEB_UNIT} has no ExecStart=/usr/local/bin/left4me line`);
  await writeFile(
    join(host.dirs.units, `${WEB_UNIT}.d`, 'test.conf'),
    ['[Service]', 'ExecStart=', `ExecStart=/usr/bin/node ${CLI} ${execStart.replace('--listen 127.0.0.1:8000', `--listen 127.0.0.1:${port}`)}`, ''].join('\n'),
  );
  await must(host.exec('systemctl', ['daemon-reload']), 'systemctl daemon-reload');
}

/** Starts the installed web unit and waits until /healthz answers on `port`. */
export async function startWebUnit(host: PrivateHost, port: number): Promise<void> {
  const r = await host.exec('systemctl', ['start', WEB_UNIT]);
  if (r.code !== 0) throw new Error(`systemctl start ${WEB_UNIT} failed: ${r.stderr}\n${await webJournal(host)}`);
  await waitFor(
    `${WEB_UNIT} answering /healthz on port ${port}`,
    async () => {
      const active = await host.exec('systemctl', ['is-active', WEB_UNIT]);
      if (active.stdout.trim() === 'failed') throw new Error(`${WEB_UNIT} failed:\n${await webJournal(host)}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    },
    30_000,
  );
}

/** The web unit's journal, for failure messages. */
export async function webJournal(host: PrivateHost): Promise<string> {
  return (await host.exec('journalctl', ['--no-pager', '-o', 'cat', '-u', WEB_UNIT])).stdout;
}

/** Runs the CLI inside the host as root, as an operator at a shell would. */
export function hostCli(host: PrivateHost, args: string[], input?: string): Promise<ExecResult> {
  return host.exec('/usr/bin/node', [CLI, ...args], input === undefined ? {} : { input });
}

/** `left4me user add NAME [--admin] --password-stdin` inside the host. */
export async function addWebUser(host: PrivateHost, name: string, password: string, admin = false): Promise<void> {
  await must(hostCli(host, ['user', 'add', name, ...(admin ? ['--admin'] : []), '--password-stdin', '--web-data-dir', WEB_DATA_DIR], `${password}\n`), `left4me user add ${name}`);
}

/** `left4me token create NAME` inside the host; returns the token. */
export async function createWebToken(host: PrivateHost, name: string): Promise<string> {
  const r = await must(hostCli(host, ['token', 'create', name, '--web-data-dir', WEB_DATA_DIR]), `left4me token create ${name}`);
  return r.stdout.trim();
}

/** A demo host with a controller (in this process) and the web unit running inside it. */
export interface WebHost {
  demo: DemoHost;
  host: PrivateHost;
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  adminPassword: string;
  /** A Bearer token of the `admin` account. */
  adminToken: string;
  /** Adds an account (role user unless admin) and returns a Bearer token for it. */
  addUser(name: string, password: string, opts?: { admin?: boolean }): Promise<string>;
  /** fetch() against the service, with a Bearer token when given. */
  fetch(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  stop(): Promise<void>;
}

/** Options of bootWebHost. */
export interface WebHostOptions {
  /** The web service's loopback port: lease one no other suite uses (see demo-host.ts). */
  port: number;
  /** Passed to the in-process controller (port ranges: lease them too). */
  controller?: ControllerConfigInput;
}

/**
 * Boots a demo host, runs a controller against it in this process and the web
 * unit inside it on 127.0.0.1:`port`, with an `admin` account and its token.
 */
export async function bootWebHost(opts: WebHostOptions): Promise<WebHost> {
  const demo = await bootDemoHost({ binds: WEB_BINDS });
  let controller: Awaited<ReturnType<typeof startController>> | undefined;
  try {
    await installWebUnit(demo.host, opts.port);
    controller = await startController(demo, opts.controller ?? {});
    const adminPassword = `admin-${Math.random().toString(36).slice(2)}-pw`;
    await addWebUser(demo.host, 'admin', adminPassword, true);
    const adminToken = await createWebToken(demo.host, 'admin');
    await startWebUnit(demo.host, opts.port);
    const baseUrl = `http://127.0.0.1:${opts.port}`;
    const running = controller;
    return {
      demo,
      host: demo.host,
      baseUrl,
      adminPassword,
      adminToken,
      async addUser(name, password, o = {}) {
        await addWebUser(demo.host, name, password, o.admin ?? false);
        return createWebToken(demo.host, name);
      },
      fetch(path, init = {}) {
        const { token, ...rest } = init;
        const headers = new Headers(rest.headers);
        if (token) headers.set('authorization', `Bearer ${token}`);
        return fetch(`${baseUrl}${path}`, { ...rest, headers });
      },
      async stop() {
        await running.stop().catch(() => undefined);
        await demo.stop();
      },
    };
  } catch (err) {
    await controller?.stop().catch(() => undefined);
    await demo.stop();
    throw err;
  }
}

async function must(p: Promise<ExecResult>, what: string): Promise<ExecResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r;
}

// Keys of the unit that are about the service's process, not its sandbox.
const NOT_SANDBOX = new Set(['Type', 'ExecStart', 'Restart', 'RestartSec', 'TimeoutStopSec']);

/**
 * Runs `script` (sh) inside the host as a transient unit with every sandbox
 * setting of deploy/left4me-web.service (its account, paths, namespaces,
 * filters): what the web process itself could do, without adding a test hook
 * to the service.
 */
export async function runInWebSandbox(host: PrivateHost, script: string): Promise<ExecResult> {
  const unit = await readFile(join(DEPLOY, WEB_UNIT), 'utf8');
  const service = unit.slice(unit.indexOf('[Service]') + '[Service]'.length, unit.indexOf('\n[Install]'));
  const props = service
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l) && !NOT_SANDBOX.has(l.slice(0, l.indexOf('='))))
    .flatMap((l) => ['-p', l]);
  return host.exec('systemd-run', ['--quiet', '--wait', '--pipe', '--collect', ...props, '/bin/sh', '-c', script]);
}
