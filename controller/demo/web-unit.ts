// The web service inside a private host, as production runs it:
// deploy/left4me-web.service installed as is (only ExecStart= points at this
// checkout, bound read-only into the host, and at the chosen port), the
// accounts and directories from deploy/'s sysusers and tmpfiles files applied
// by systemd's own tools, its accounts created with the CLI as root. Used by
// `npm start` and by the tests (test/support/web-host.ts).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';
import type { ExecResult, HostBind, PrivateHost } from './private-host/private-host.js';

/** Where the checkout is bound (read-only) inside a host that runs the web unit. */
export const APP_DIR = '/var/lib/left4me-app';
/** The web unit's data directory (its StateDirectory=) inside the host. */
export const WEB_DATA_DIR = '/var/lib/left4me-web';
export const WEB_UNIT = 'left4me-web.service';

const CLI = `${APP_DIR}/controller/bin/left4me.js`;

function deployDir(): string {
  return join(packageRoot(), 'deploy');
}

/** What bootPrivateHost needs bound to run the web unit from this checkout. */
export function webBinds(): HostBind[] {
  return [{ source: packageRoot(), target: APP_DIR, readOnly: true }];
}

/**
 * Applies deploy/'s sysusers and tmpfiles files inside the host as a real host
 * would, and installs deploy/left4me-web.service with a drop-in that replaces
 * only ExecStart= (the host has no /usr/local/bin/left4me; the port is the
 * caller's). The host must have been booted with webBinds(). Does not start it.
 */
export async function installWebUnit(host: PrivateHost, port: number): Promise<void> {
  for (const f of ['left4me.sysusers.conf', 'left4me.tmpfiles.conf']) await copyFile(join(deployDir(), f), join(host.root, 'run', f));
  await must(host.exec('systemd-sysusers', ['/run/left4me.sysusers.conf']), 'systemd-sysusers');
  await must(host.exec('systemd-tmpfiles', ['--create', '/run/left4me.tmpfiles.conf']), 'systemd-tmpfiles --create');
  const unit = await readFile(join(deployDir(), WEB_UNIT), 'utf8');
  const args = /^ExecStart=\/usr\/local\/bin\/left4me (web .*)$/m.exec(unit)?.[1];
  if (!args?.includes('--listen 127.0.0.1:8000')) throw new Error(`${WEB_UNIT} has no "ExecStart=/usr/local/bin/left4me web --listen 127.0.0.1:8000 ..." line`);
  await copyFile(join(deployDir(), WEB_UNIT), join(host.dirs.units, WEB_UNIT));
  await mkdir(join(host.dirs.units, `${WEB_UNIT}.d`), { recursive: true });
  const execStart = `/usr/bin/node ${CLI} ${args.replace('--listen 127.0.0.1:8000', `--listen 127.0.0.1:${port}`)}`;
  await writeFile(join(host.dirs.units, `${WEB_UNIT}.d`, 'host.conf'), ['[Service]', 'ExecStart=', `ExecStart=${execStart}`, ''].join('\n'));
  await must(host.exec('systemctl', ['daemon-reload']), 'systemctl daemon-reload');
}

/** Starts the installed web unit; resolves once /healthz answers on `port` (rejects with its journal if it fails). */
export async function startWebUnit(host: PrivateHost, port: number, timeoutMs = 30_000): Promise<void> {
  const r = await host.exec('systemctl', ['start', WEB_UNIT]);
  if (r.code !== 0) throw new Error(`systemctl start ${WEB_UNIT} failed: ${r.stderr}\n${await webJournal(host)}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    const active = (await host.exec('systemctl', ['is-active', WEB_UNIT])).stdout.trim();
    if (active === 'failed' || Date.now() > deadline) throw new Error(`${WEB_UNIT} did not answer /healthz on port ${port} (${active}):\n${await webJournal(host)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** The web unit's main process as the machine sees it, or null when it runs none. */
export async function webMainPid(host: PrivateHost): Promise<number | null> {
  const out = await host.exec('systemctl', ['show', WEB_UNIT, '-p', 'ExecMainPID', '--value']);
  const nsPid = Number(out.stdout.trim());
  return nsPid > 0 ? host.machinePid(nsPid) : null;
}

/** The web unit's journal, for failure messages. */
export async function webJournal(host: PrivateHost): Promise<string> {
  return (await host.exec('journalctl', ['--no-pager', '-o', 'cat', '-u', WEB_UNIT])).stdout;
}

/** Runs the CLI inside the host as root, as an operator at a shell would. */
export function hostCli(host: PrivateHost, args: string[], input?: string): Promise<ExecResult> {
  return host.exec('/usr/bin/node', [CLI, ...args], input === undefined ? {} : { input });
}

/** `left4me user add NAME [--admin] --password-stdin` inside the host, as root. */
export async function addWebUser(host: PrivateHost, name: string, password: string, admin = false): Promise<void> {
  await must(hostCli(host, ['user', 'add', name, ...(admin ? ['--admin'] : []), '--password-stdin', '--web-data-dir', WEB_DATA_DIR], `${password}\n`), `left4me user add ${name}`);
}

/** `left4me token create NAME` inside the host, as root; returns the token. */
export async function createWebToken(host: PrivateHost, name: string): Promise<string> {
  const r = await must(hostCli(host, ['token', 'create', name, '--web-data-dir', WEB_DATA_DIR]), `left4me token create ${name}`);
  return r.stdout.trim();
}

async function must(p: Promise<ExecResult>, what: string): Promise<ExecResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r;
}
