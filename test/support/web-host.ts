// The web service as production runs it, inside a private systemd host (see
// controller/demo/web-unit.ts), with a demo host's controller running in this
// process: what the web's acceptance tests boot. They reach it over HTTP from
// the test process (private hosts share the machine's network namespace).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControllerConfigInput } from '../../controller/config.js';
import type { ExecResult, PrivateHost } from '../../controller/demo/private-host/private-host.js';
import { addWebUser, createWebToken, installWebUnit, startWebUnit, webBinds, WEB_UNIT } from '../../controller/demo/web-unit.js';
import { packageRoot } from '../../controller/package-root.js';
import { bootDemoHost, startController, type DemoHost } from './demo-host.js';

export { addWebUser, APP_DIR, createWebToken, hostCli, installWebUnit, startWebUnit, webBinds, WEB_DATA_DIR, webJournal, webMainPid, WEB_UNIT } from '../../controller/demo/web-unit.js';

/** A demo host with a controller (in this process) and the web unit running inside it. */
export interface WebHost {
  demo: DemoHost;
  host: PrivateHost;
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  adminPassword: string;
  /** A Bearer token of the `admin` account. */
  adminToken: string;
  /** Adds an account (role user unless admin) with the CLI as root; returns a Bearer token for it. */
  addUser(name: string, password: string, opts?: { admin?: boolean }): Promise<string>;
  /** fetch() against the service, with `token` as a Bearer token when given. */
  fetch(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  /** Stops the controller and the host (the web unit goes with it). */
  stop(): Promise<void>;
}

/** Options of bootWebHost. */
export interface WebHostOptions {
  /** The web service's loopback port: lease one no other suite uses (see demo-host.ts). */
  port: number;
  /** Passed to the in-process controller (lease its port ranges too). */
  controller?: ControllerConfigInput;
}

/**
 * Boots a demo host, runs a controller against it in this process and the web
 * unit inside it on 127.0.0.1:`port`, with an `admin` account and its token.
 */
export async function bootWebHost(opts: WebHostOptions): Promise<WebHost> {
  const demo = await bootDemoHost({ binds: webBinds() });
  let controller: Awaited<ReturnType<typeof startController>> | undefined;
  try {
    await installWebUnit(demo.host, opts.port);
    controller = await startController(demo, opts.controller ?? {});
    const adminPassword = randomBytes(15).toString('base64url');
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

// Keys of the unit that are about the service's process, not its sandbox.
const NOT_SANDBOX = new Set(['Type', 'ExecStart', 'Restart', 'RestartSec', 'TimeoutStopSec']);

/**
 * Runs `script` (sh) inside the host as a transient unit with every sandbox
 * setting of deploy/left4me-web.service (its account, paths, namespaces,
 * filters): what the web process itself could do, without a test hook in the
 * service.
 */
export async function runInWebSandbox(host: PrivateHost, script: string): Promise<ExecResult> {
  const unit = await readFile(join(packageRoot(), 'deploy', WEB_UNIT), 'utf8');
  const service = unit.slice(unit.indexOf('[Service]') + '[Service]'.length, unit.indexOf('\n[Install]'));
  const props = service
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l) && !NOT_SANDBOX.has(l.slice(0, l.indexOf('='))))
    .flatMap((l) => ['-p', l]);
  return host.exec('systemd-run', ['--quiet', '--wait', '--pipe', '--collect', ...props, '/bin/sh', '-c', script]);
}
