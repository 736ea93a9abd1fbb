import pino from 'pino';
import { a2sProbe } from '../game/a2s.js';
import { Controller } from '../reconcile/controller.js';
import type { Prepared } from '../reconcile/instance/reconciler.js';
import { Stalled, Waiting } from '../reconcile/outcome.js';
import { Reason } from '../status/conditions.js';
import { DbusSystemdAdapter } from '../systemd/dbus-adapter.js';
import { parse, UsageError } from './args.js';
import { withDefaultNode } from './node-name.js';
import type { Io } from './io.js';
import { CONFIG_OPTION, HOST_OPTIONS, hostConfig, readConfigFile } from './host-options.js';

/** One line per instance: what the next pass would do, or what stops it. */
export function describeNext(name: string, next: Prepared | Stalled | Waiting): string {
  const who = `instance/${name}`;
  if (next instanceof Stalled) return `${who}: ${next.reason === Reason.Invalid ? 'left alone, the document is invalid' : 'stalled'} — ${next.message}`;
  if (next instanceof Waiting) return `${who}: ${next.reason === Reason.StateUnreadable ? 'left alone' : 'waiting'} — ${next.message}`;
  if (next.kind === 'delete') return `${who}: delete (stop, unmount, remove unit files, move the writable layer to the trash, release ports)`;
  const steps = next.plan.actions.map((x) => x.type);
  const pending = next.plan.pending ? ` (restart pending: ${next.plan.pending.message})` : '';
  return steps.length === 0 ? `${who}: up to date${pending}` : `${who}: ${steps.join(', ')}${pending}`;
}

/** `left4me diff`: the dry run — reads the documents and the host, prints the plan, changes nothing. */
export async function diffCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { ...HOST_OPTIONS, ...CONFIG_OPTION });
  if (positionals.length > 0) throw new UsageError('diff takes no arguments');
  // The controller's own configuration file too: the plan must be the one that controller would make.
  const file = await readConfigFile(values, 'diff', 'no plan', io);
  if (!file) return 1;
  const cfg = await withDefaultNode(hostConfig(values, { ...(file.options.resyncMs !== undefined ? { resyncMs: file.options.resyncMs } : {}), sources: file.options.sources }, file.found ? { path: file.path, settings: file.options.settings } : undefined));
  const systemd = new DbusSystemdAdapter(cfg.busAddress ? { address: cfg.busAddress } : {});
  try {
    const controller = new Controller(cfg, { systemd, log: pino({ level: 'silent' }), probe: a2sProbe() });
    const plan = await controller.dryRun();
    let changes = 0;
    for (const { name, next } of plan) {
      const line = describeNext(name, next);
      if (!/: up to date$/.test(line)) changes++;
      // Messages may quote build output over several lines: indent them so they cannot pose as another instance's line.
      io.out(`${line.replace(/\n/g, '\n    ')}\n`);
    }
    io.err(`${plan.length} instance(s), ${changes} with changes or problems\n`);
    return 0;
  } finally {
    await systemd.close();
  }
}
