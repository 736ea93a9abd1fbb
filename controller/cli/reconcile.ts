import { readFile } from 'node:fs/promises';
import { parse, UsageError } from './args.js';
import { DEFAULT_PID_FILE } from './controller-cmd.js';
import type { Io } from './io.js';
import { resolveTarget } from './target.js';

/** `left4me reconcile`: asks the running controller for a full pass now (SIGHUP through its pid file). */
export async function reconcileCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { 'pid-file': { type: 'string', default: DEFAULT_PID_FILE } });
  if (positionals.length > 0) throw new UsageError('reconcile takes no arguments');
  const target = resolveTarget(values);
  let pid = target.demo?.controllerPid;
  if (pid === undefined) {
    const text = await readFile(values['pid-file'] as string, 'utf8').catch(() => undefined);
    pid = text !== undefined ? Number(text.trim()) : undefined;
  }
  if (!pid || !Number.isInteger(pid)) {
    io.err('no running controller found (is `left4me controller` running? see --pid-file)\n');
    return 1;
  }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    io.err(`cannot signal the controller (pid ${pid}): ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return 1;
  }
  io.out(`asked the controller (pid ${pid}) to reconcile everything now\n`);
  return 0;
}
