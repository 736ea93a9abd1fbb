import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { parse, UsageError } from './args.js';
import { DEFAULT_PID_FILE } from './controller-cmd.js';
import { findController } from './controller-process.js';
import type { Io } from './io.js';
import { resolveTarget } from './target.js';

const run = promisify(execFile);

/** How often `--main-pid` looks whether the controller is ready for SIGHUP. */
const READY_POLL_MS = 50;

/**
 * `left4me reconcile`: asks the running controller for a full pass now. Under
 * systemd that is the unit's reload (so systemd knows, and orders it after a
 * start); otherwise SIGHUP to the pid in the pid file, but only once /proc
 * shows that pid is a live left4me controller.
 *
 * `--main-pid PID` is the unit's ExecReload=: it waits until the pid file
 * names PID (the controller writes it once its SIGHUP handler is installed),
 * so a reload right after a start cannot kill a controller still loading.
 */
export async function reconcileCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    'pid-file': { type: 'string', default: DEFAULT_PID_FILE },
    'main-pid': { type: 'string' },
    'timeout-seconds': { type: 'string', default: '90' },
  });
  if (positionals.length > 0) throw new UsageError('reconcile takes no arguments');
  const pidFile = values['pid-file'] as string;
  if (values['main-pid'] !== undefined) {
    const timeout = Number(values['timeout-seconds']);
    if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError('--timeout-seconds must be a positive number');
    return signalWhenReady(Number(values['main-pid']), pidFile, timeout * 1000, io);
  }
  const target = resolveTarget(values);
  const pid = target.demo?.controllerPid ?? (await readPidFile(pidFile));
  if (pid === undefined) {
    io.err(`no running controller found: ${pidFile} is missing or empty (is \`left4me controller\` running? see --pid-file)\n`);
    return 1;
  }
  const found = await findController(pid);
  if ('refused' in found) {
    io.err(`not signalling: ${found.refused}\n`);
    return 1;
  }
  if (found.unit) {
    try {
      await run('systemctl', ['reload', found.unit]);
    } catch (err) {
      io.err(`systemctl reload ${found.unit} failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}\n`);
      return 1;
    }
    io.out(`asked the controller (${found.unit}, pid ${pid}) to reconcile everything now\n`);
    return 0;
  }
  return sighup(pid, io);
}

async function readPidFile(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const pid = Number(text?.trim());
  return text !== undefined && Number.isSafeInteger(pid) ? pid : undefined;
}

async function signalWhenReady(mainPid: number, pidFile: string, timeoutMs: number, io: Io): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await readPidFile(pidFile)) === mainPid) break;
    if (Date.now() > deadline) {
      io.err(`the controller (pid ${mainPid}) did not become ready within ${timeoutMs / 1000} s (${pidFile} does not name it)\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  const found = await findController(mainPid);
  if ('refused' in found) {
    io.err(`not signalling: ${found.refused}\n`);
    return 1;
  }
  return sighup(mainPid, io);
}

function sighup(pid: number, io: Io): number {
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    io.err(`cannot signal the controller (pid ${pid}): ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return 1;
  }
  io.out(`asked the controller (pid ${pid}) to reconcile everything now\n`);
  return 0;
}

