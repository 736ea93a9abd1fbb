import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import pino from 'pino';
import { a2sProbe } from '../game/a2s.js';
import { Controller } from '../reconcile/controller.js';
import { DbusSystemdAdapter } from '../systemd/dbus-adapter.js';
import { parse, UsageError } from './args.js';
import { withDefaultNode } from './node-name.js';
import type { Io } from './io.js';
import { CONFIG_OPTION, HOST_OPTIONS, hostConfig, readConfigFile } from './host-options.js';
import { printableJsonLines } from './printable.js';

/** Where the controller daemon writes its pid. */
export const DEFAULT_PID_FILE = '/run/left4me/controller.pid';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * `left4me controller`: the reconciler daemon. Runs until SIGINT/SIGTERM, then
 * stops reconciling and exits — game servers keep running (systemd owns them).
 */
export async function controllerCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    ...HOST_OPTIONS,
    ...CONFIG_OPTION,
    'resync-seconds': { type: 'string' },
    once: { type: 'boolean' },
    'log-level': { type: 'string' },
    'pid-file': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('controller takes no arguments');
  const flagResync = values['resync-seconds'] !== undefined ? Number(values['resync-seconds']) : undefined;
  if (flagResync !== undefined && (!Number.isFinite(flagResync) || flagResync < 1 || flagResync > 86_400)) throw new UsageError('--resync-seconds must be a number from 1 to 86400');
  if (values['log-level'] !== undefined && !LOG_LEVELS.includes(values['log-level'])) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);

  // The configuration file first, whole: with any problem in it the
  // controller refuses to start, before it touches the host.
  const file = await readConfigFile(values, 'controller', 'not starting', io);
  if (!file) return 1;
  const options = file.options;
  const resyncMs = flagResync !== undefined ? flagResync * 1000 : (options.resyncMs ?? 60_000);
  const extra = { resyncMs, sources: options.sources, ...(options.trashRetentionMs !== undefined ? { trashRetentionMs: options.trashRetentionMs } : {}) };
  const cfg = await withDefaultNode(hostConfig(values, extra, file.found ? { path: file.path, settings: options.settings } : undefined));
  if (process.getuid?.() !== 0) {
    io.err('left4me controller must run as root: it writes unit files, owns build trees and drives systemd (see deploy/left4me-controller.service)\n');
    return 1;
  }
  const log = pino({ level: values['log-level'] ?? options.logLevel ?? 'info', base: { component: 'controller' } }, printableJsonLines(pino.destination({ fd: 2, sync: true })));

  // SIGHUP (`left4me reconcile`, `systemctl reload`) is answered from here on: the
  // handler goes in before anything slow, and the pid file, written right after
  // it, is what tells the unit's ExecReload= that a SIGHUP is now safe to send.
  // One that arrives before the first pass has begun is already answered by it.
  let controller: Controller | undefined;
  let started = false;
  let hupWhileStarting = false;
  const pidFile = values['pid-file'] ?? options.pidFile ?? DEFAULT_PID_FILE;
  if (!values.once) {
    process.on('SIGHUP', () => {
      if (!controller || !started) {
        hupWhileStarting = true;
        return;
      }
      log.info('SIGHUP: reconciling everything now');
      controller.resyncNow();
    });
    await mkdir(dirname(pidFile), { recursive: true });
    await writeFile(pidFile, `${process.pid}\n`);
  }

  const systemd = new DbusSystemdAdapter(cfg.busAddress ? { address: cfg.busAddress } : {});
  controller = new Controller(cfg, { systemd, log, probe: a2sProbe() });

  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping the controller; game servers keep running');
      void controller!
        .stop()
        .then(() => systemd.close())
        .finally(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });

  log.info({ stateDir: cfg.stateDir, unitDir: cfg.unitDir, node: cfg.node ?? null }, 'controller starting');
  await controller.start({ watch: !values.once, resync: !values.once });
  started = true;
  if (hupWhileStarting) {
    log.info('SIGHUP during start: reconciling everything again');
    controller.resyncNow();
  }
  await controller.idle();
  log.info(controller.counters, 'initial pass done');
  if (values.once) {
    await controller.stop();
    await systemd.close();
    io.out('reconciled once\n');
    return 0;
  }
  await stopped;
  await rm(pidFile, { force: true });
  return 0;
}

