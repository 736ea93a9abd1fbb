import pino from 'pino';
import { formatProblem } from '../documents/problems.js';
import { a2sProbe } from '../reconcile/a2s-probe.js';
import { Controller, type Assessment } from '../reconcile/controller.js';
import { DbusSystemdAdapter } from '../systemd/dbus-adapter.js';
import { parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { HOST_OPTIONS, hostConfig } from './host-options.js';

/** One line per instance: what the next pass would do. */
export function describeAssessment(name: string, a: Assessment): string {
  const who = `instance/${name}`;
  switch (a.kind) {
    case 'invalid':
      return `${who}: left alone — the document is invalid (${a.problems[0] ? formatProblem(a.problems[0]) : `${a.invalid.file}:${a.invalid.line}`})`;
    case 'held':
      return `${who}: left alone — not deleted while ${a.files.length} state file(s) cannot be read`;
    case 'delete':
      return `${who}: delete (stop, unmount, remove unit files, move the writable layer to the trash, release ports)`;
    case 'conflict':
    case 'portBusy':
      return `${who}: stalled — ${a.message}`;
    case 'blocked':
      return `${who}: ${a.blocked.reason === 'Building' ? 'waiting' : 'stalled'} — ${a.blocked.message}`;
    case 'planned': {
      const steps = a.plan.actions.map((x) => x.type);
      const pending = a.plan.pending ? ` (restart pending: ${a.plan.pending.message})` : '';
      return steps.length === 0 ? `${who}: up to date${pending}` : `${who}: ${steps.join(', ')}${pending}`;
    }
  }
}

/** `left4me diff`: the dry run — reads the documents and the host, prints the plan, changes nothing. */
export async function diffCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { ...HOST_OPTIONS });
  if (positionals.length > 0) throw new UsageError('diff takes no arguments');
  const cfg = hostConfig(values);
  const systemd = new DbusSystemdAdapter(cfg.busAddress ? { address: cfg.busAddress } : {});
  try {
    const controller = new Controller(cfg, { systemd, log: pino({ level: 'silent' }), probe: a2sProbe() });
    const plan = await controller.dryRun();
    let changes = 0;
    for (const { name, assessment } of plan) {
      const line = describeAssessment(name, assessment);
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
