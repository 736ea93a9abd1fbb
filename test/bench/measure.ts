// What the benchmarks measure besides wall time: percentiles of latency
// samples, a process's CPU time and memory as the kernel counts them, and
// figures scaled to a rate — so that a row compares like with like.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** The p-th percentile (0 < p ≤ 100) by nearest rank: a sample that was measured, never an interpolation. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new Error(`percentile must be in (0, 100] (got ${p})`);
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** `amount` over `wallMs` milliseconds, as an amount per minute. */
export function perMinute(amount: number, wallMs: number): number {
  if (!(wallMs > 0)) throw new Error(`a rate needs a positive duration (got ${wallMs} ms)`);
  return (amount * 60_000) / wallMs;
}

/** utime and stime (clock ticks) of a /proc/PID/stat line. The command name is in parentheses and may hold spaces and parentheses itself. */
export function parseProcStat(text: string): { utime: number; stime: number } {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/PID/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) throw new Error(`no utime/stime in /proc/PID/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  return { utime, stime };
}

let ticksPerSecond: number | undefined;

/** CPU time (user + system, ms) a process has used so far. */
export async function cpuMs(pid: number): Promise<number> {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const { utime, stime } = parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  return ((utime + stime) * 1000) / ticksPerSecond;
}

/** Resident memory of a process, MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const kb = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`process ${pid} has no VmRSS (a zombie?)`);
  return Number(kb) / 1024;
}
