/**
 * Finding the running controller from outside it, without trusting a pid
 * file: a stale file can name a pid the kernel has since given to another
 * program, and SIGHUP's default action ends most programs. Reads /proc only.
 */
import { readFile } from 'node:fs/promises';

/** The systemd unit the packaged controller runs as (deploy/left4me-controller.service). */
export const CONTROLLER_UNIT = 'left4me-controller.service';

/** What /proc says about a process that claims to be the controller. */
export interface ControllerProcess {
  pid: number;
  /** The systemd unit whose cgroup holds it, when it is `left4me-controller.service`. */
  unit?: string;
}

/**
 * Whether a command line (NUL-separated, as /proc/PID/cmdline holds it) runs
 * a left4me controller: the CLI's `controller` verb, or the demo host
 * (`npm start`), which runs one in its own process.
 */
export function isControllerCommandLine(cmdline: string): boolean {
  const argv = cmdline.split('\0').filter((a) => a !== '');
  if (!/(^|\/)node(js)?$/.test(argv[0] ?? '')) return false;
  // The first argument after node's own flags is the script node runs.
  const script = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
  if (script < 0) return false;
  if (/(^|\/)left4me(\.js)?$/.test(argv[script]!)) return argv[script + 1] === 'controller';
  return /(^|\/)dist\/controller\/demo\/start\.js$/.test(argv[script]!);
}

/**
 * The live controller with this pid, or why it is not one. Refuses pid 0, 1
 * and negative pids (signalling those reaches a process group or init).
 */
export async function findController(pid: number): Promise<ControllerProcess | { refused: string }> {
  if (!Number.isSafeInteger(pid) || pid <= 1) return { refused: `pid ${pid} cannot be a controller` };
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return { refused: `no process ${pid} is running (a stale pid file?)` };
  if (!isControllerCommandLine(cmdline)) {
    return { refused: `process ${pid} is not a left4me controller (it runs "${cmdline.split('\0').join(' ').trim().slice(0, 80)}"); the pid file is stale` };
  }
  const cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
  const underUnit = cgroup.split('\n').some((line) => line.endsWith(`/${CONTROLLER_UNIT}`));
  return { pid, ...(underUnit ? { unit: CONTROLLER_UNIT } : {}) };
}
