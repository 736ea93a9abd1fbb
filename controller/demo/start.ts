// `npm start`: the one-command demo. Boots a private systemd (its own PID and
// mount namespace: nothing touches this machine's units or mounts), installs
// the demo game server as the installation and state.example/demo as the
// desired state, runs the controller against it (with the options after
// `npm start --`, see options.ts) and the web service as its hardened unit
// inside the host (deploy/left4me-web.service, as in production) on loopback,
// with an `admin` account, and tears everything down on Ctrl-C.
import { randomBytes } from 'node:crypto';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { bootPrivateHost } from './private-host/private-host.js';
import { DEMO_INSTALLATION_ROOT, placeDemoInstallation } from './game-server/installation.js';
import { packageRoot } from '../package-root.js';
import { a2sProbe } from '../game/a2s.js';
import { Controller } from '../reconcile/controller.js';
import { StatusStore } from '../status/store.js';
import { DbusSystemdAdapter } from '../systemd/dbus-adapter.js';
import { UsageError } from '../cli/args.js';
import { demoDescriptorPath, type DemoDescriptor } from '../cli/target.js';
import { DEMO_USAGE, demoControllerConfig } from './options.js';
import { printableJsonLines } from '../cli/printable.js';
import { hostProbe } from '../doctor/probe.js';
import { missingPrerequisites, prerequisiteMessage } from '../doctor/prerequisites.js';
import { addWebUser, installWebUnit, startWebUnit, webBinds, WEB_DATA_DIR, WEB_UNIT, webMainPid } from './web-unit.js';

const UNIT_DIR = '/run/systemd/system';
const DATA_DIR = '/var/lib/left4me';
// The production unit's port; another free one when something here has it.
const WEB_PORT = 8000;

/** `port` on 127.0.0.1 if it is free, else one the kernel picks. */
function loopbackPort(port: number): Promise<number> {
  const tryListen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        const got = (server.address() as { port: number }).port;
        server.close(() => resolve(got));
      });
    });
  return tryListen(port).catch(() => tryListen(0));
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('npm start boots a private systemd in its own namespaces, which needs root. Run it as root (CI and these machines do).\n');
    return 1;
  }
  // Options are checked before anything boots, so a typo costs nothing.
  const args = process.argv.slice(2);
  try {
    if (!demoControllerConfig(args, {})) {
      process.stdout.write(DEMO_USAGE);
      return 0;
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${DEMO_USAGE}`);
    return 2;
  }
  // What a private host needs from this machine, checked before anything boots: a missing tool would
  // otherwise show as a failure deep inside the boot.
  const missing = await missingPrerequisites(hostProbe());
  if (missing.length > 0) {
    process.stderr.write(prerequisiteMessage(missing, 'npm start'));
    return 1;
  }
  const log = pino({ level: process.env.LEFT4ME_LOG_LEVEL ?? 'info', base: { component: 'controller' } }, printableJsonLines(pino.destination({ fd: 2, sync: true })));
  process.stdout.write('Booting a private systemd host...\n');
  // The checkout is bound read-only into the host: the web unit runs the CLI from it.
  const host = await bootPrivateHost({ binds: webBinds() });
  let controller: Controller | undefined;
  let webPid: number | null = null;
  let systemd: DbusSystemdAdapter | undefined;
  const descriptor = demoDescriptorPath();
  let stopping: Promise<void> | undefined;
  const teardown = () =>
    (stopping ??= (async () => {
      process.stdout.write('\nStopping the demo host...\n');
      await host.exec('systemctl', ['stop', WEB_UNIT]).catch(() => undefined);
      await controller?.stop().catch(() => undefined);
      await systemd?.close().catch(() => undefined);
      await rm(descriptor, { force: true });
      await host.stop();
      if (webPid !== null && isRunning(webPid)) throw new Error(`the web service (pid ${webPid}) is still running`);
      process.stdout.write('Demo host stopped: no process and no mount left.\n');
    })());

  try {
    const stateDir = join(host.dirs.etc, 'state');
    // Accounts and directories as deploy/ makes them (the state tree group-writable by the web) before any document lands.
    const webPort = await loopbackPort(WEB_PORT);
    await installWebUnit(host, webPort);
    await placeDemoInstallation(host);
    await mkdir(stateDir, { recursive: true });
    await cp(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });

    const installationRoots = [DEMO_INSTALLATION_ROOT];
    const cfg = demoControllerConfig(args, { stateDir, fsRoot: host.root, busAddress: host.busAddress, unitDir: UNIT_DIR, resyncMs: 30_000, installationRoots })!;
    systemd = new DbusSystemdAdapter({ address: host.busAddress });
    controller = new Controller(cfg, { systemd, log, probe: a2sProbe() });

    const info: DemoDescriptor = { pid: host.pid, controllerPid: process.pid, fsRoot: host.root, busAddress: host.busAddress, stateDir, dataDir: DATA_DIR, unitDir: UNIT_DIR, installationRoots };
    await mkdir(dirname(descriptor), { recursive: true });
    await writeFile(descriptor, `${JSON.stringify(info, null, 2)}\n`);

    process.on('SIGHUP', () => controller?.resyncNow());
    process.once('SIGINT', () => void teardown().then(() => process.exit(0), () => process.exit(1)));
    process.once('SIGTERM', () => void teardown().then(() => process.exit(0), () => process.exit(1)));

    await controller.start();
    await controller.idle();
    const adminPassword = randomBytes(15).toString('base64url');
    await addWebUser(host, 'admin', adminPassword, true);
    await startWebUnit(host, webPort);
    webPid = await webMainPid(host);
    const webUrl = `http://127.0.0.1:${webPort}`;
    const store = new StatusStore(join(host.root, DATA_DIR, 'status'));
    const servers = await store.list('Instance');
    process.stdout.write(
      [
        '',
        `left4me demo host is up (private systemd, pid ${host.pid}, booted in ${host.bootMs} ms).`,
        ...servers.map((s) => `  ${s.name.padEnd(10)} game port ${s.port}  ${s.unit?.activeState ?? '?'}`),
        '',
        `Web service: ${webUrl} (${WEB_UNIT} inside the host, pid ${webPid ?? '?'})`,
        `  user admin, password ${adminPassword}`,
        '  (shown once; only its scrypt hash is kept)',
        `  curl ${webUrl}/healthz`,
        `  a token for scripts: npx left4me token create admin --web-data-dir ${host.root}${WEB_DATA_DIR}`,
        '',
        'Watch and steer it from another terminal:',
        '  npx left4me get instances --demo',
        '  npx left4me describe instance demo-1 --demo',
        `  edit the documents in ${stateDir} (the controller converges on save)`,
        '  npx left4me apply --demo -f my-instance.yaml',
        `  journalctl: nsenter --target ${host.pid} --mount --pid journalctl --namespace=left4me -u 'left4me-server@*' -f   (the web service: journalctl -u ${WEB_UNIT})`,
        '',
        'Ctrl-C stops the web service, the controller and the host, leaving no process and no mount behind.',
        '',
      ].join('\n'),
    );
    await new Promise<void>(() => undefined); // run until a signal
    return 0;
  } catch (err) {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await teardown().catch(() => undefined);
    return 1;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

process.exitCode = await main();
