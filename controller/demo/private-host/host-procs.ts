// Reading /proc from the machine's side: which processes belong to a private
// host, and what their pids are out here. Everything here only reads.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Identity of a process that survives pid reuse: its pid plus its start time in clock ticks. */
export interface ProcessIdentity {
  pid: number;
  startTime: string;
}

/** Reads /proc/PID/stat; returns the parent pid and start time, or null if the process is gone. */
export function readStat(pid: number): { ppid: number; startTime: string; state: string } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses; fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', ppid: Number(rest[1]), startTime: rest[19] ?? '' };
}

/** True while the very process identified (same pid, same start time) exists and is not a zombie. */
export function isAlive(id: ProcessIdentity): boolean {
  const st = readStat(id.pid);
  return st !== null && st.startTime === id.startTime && st.state !== 'Z';
}

/** True while any process (zombie included) holds this pid with this start time. */
export function exists(id: ProcessIdentity): boolean {
  const st = readStat(id.pid);
  return st !== null && st.startTime === id.startTime;
}

/** Reads /proc; returns the pids of the children of `ppid`. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const pid of allPids()) {
    if (readStat(pid)?.ppid === ppid) out.push(pid);
  }
  return out;
}

/** Reads /proc/PID/ns/pid; returns the namespace link text (e.g. `pid:[4026532301]`) or null. */
export function pidNamespaceOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Reads /proc; returns every pid whose pid namespace is `namespace`. */
export function pidsInNamespace(namespace: string): number[] {
  return allPids().filter((pid) => pidNamespaceOf(pid) === namespace);
}

/** Reads /proc/*\/status NSpid lines; returns the machine pid of `nsPid` inside `namespace`, or null. */
export function machinePidOf(namespace: string, nsPid: number): number | null {
  for (const pid of allPids()) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    const line = /^NSpid:\s+(.*)$/m.exec(status)?.[1];
    if (!line) continue;
    const ids = line.trim().split(/\s+/).map(Number);
    if (ids.length < 2 || ids[ids.length - 1] !== nsPid) continue;
    if (pidNamespaceOf(pid) === namespace) return pid;
  }
  return null;
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}
