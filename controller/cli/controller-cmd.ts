import pino from 'pino';
import { controllerConfig } from '../config.js';
import { a2sProbe } from '../reconcile/a2s-probe.js';
import { Controller } from '../reconcile/controller.js';
import { DbusSystemdAdapter } from '../systemd/dbus-adapter.js';
import { parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { resolveTarget } from './target.js';

/**
 * `left4me controller`: the reconciler daemon. Runs until SIGINT/SIGTERM, then
 * stops reconciling and exits — game servers keep running (systemd owns them).
 */
export async function controllerCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    'unit-dir': { type: 'string' },
    'fs-root': { type: 'string' },
    bus: { type: 'string' },
    node: { type: 'string' },
    'resync-seconds': { type: 'string' },
    'port-range': { type: 'string' },
    'client-port-range': { type: 'string' },
    once: { type: 'boolean' },
    'log-level': { type: 'string', default: 'info' },
  });
  if (positionals.length > 0) throw new UsageError('controller takes no arguments');
  const target = resolveTarget(values);
  const resync = values['resync-seconds'] !== undefined ? Number(values['resync-seconds']) : 60;
  if (!Number.isFinite(resync) || resync < 1) throw new UsageError('--resync-seconds must be a number ≥ 1');
  const demo = target.demo;
  const dataDir = values['data-dir'];
  const game = parseRange('--port-range', values['port-range'] ?? '27015-27115');
  const client = parseRange('--client-port-range', values['client-port-range'] ?? '26900-27000');
  if (game.min <= client.max && client.min <= game.max) throw new UsageError('--port-range and --client-port-range must not overlap');
  const cfg = controllerConfig({
    stateDir: target.stateDir,
    unitDir: values['unit-dir'] ?? demo?.unitDir ?? '/etc/systemd/system',
    fsRoot: values['fs-root'] ?? demo?.fsRoot ?? '/',
    ...(values.bus ?? demo?.busAddress ? { busAddress: (values.bus ?? demo?.busAddress)! } : {}),
    ...(values.node !== undefined ? { node: values.node } : {}),
    ...(dataDir !== undefined
      ? { units: { layout: { instancesDir: `${dataDir}/instances`, overlaysDir: `${dataDir}/overlays`, runtimeDir: `${dataDir}/runtime`, statusDir: `${dataDir}/status`, cacheDir: `${dataDir}/cache`, installationDir: `${dataDir}/installation` } } }
      : {}),
    resyncMs: resync * 1000,
    portRanges: { game, client },
  });
  const log = pino({ level: values['log-level'] as string, base: { component: 'controller' } }, pino.destination({ fd: 2, sync: true }));
  const systemd = new DbusSystemdAdapter(cfg.busAddress ? { address: cfg.busAddress } : {});
  const controller = new Controller(cfg, { systemd, log, probe: a2sProbe() });

  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping the controller; game servers keep running');
      void controller
        .stop()
        .then(() => systemd.close())
        .finally(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });

  log.info({ stateDir: cfg.stateDir, unitDir: cfg.unitDir, node: cfg.node ?? null }, 'controller starting');
  await controller.start({ watch: !values.once, resync: !values.once });
  await controller.idle();
  log.info(controller.counters, 'initial pass done');
  if (values.once) {
    await controller.stop();
    await systemd.close();
    io.out('reconciled once\n');
    return 0;
  }
  await stopped;
  return 0;
}

/** Parses `27015-27115` into an inclusive range of unprivileged ports. */
export function parseRange(flag: string, text: string): { min: number; max: number } {
  const m = /^(\d{4,5})-(\d{4,5})$/.exec(text);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || min > max) throw new UsageError(`${flag} must look like 27015-27115 (ports 1024-65535, low first)`);
  return { min, max };
}
