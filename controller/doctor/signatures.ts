/**
 * How a game server killed by its sandbox shows in its journal: the line
 * patterns of a seccomp kill and of a refused W+X mapping. Pure: text in,
 * the first matching line out.
 */

/** Which sandbox setting a line points at. */
export type SandboxKill = 'seccomp' | 'wx' | 'denied';

/** A journal line that matched, and what it means. */
export interface SandboxSignature {
  kind: SandboxKill;
  line: string;
}

/**
 * A seccomp kill: the kernel's SIGSYS (systemd: `code=killed, status=31/SYS`),
 * the audit record of a seccomp action (type=1326), or bash's words for its
 * child's SIGSYS (srcds_run is a shell script around srcds_linux).
 */
const SECCOMP = [/\bSIGSYS\b/, /status=31\/SYS\b/, /\btype=1326\b/, /\bBad system call\b/];

/**
 * A W^X refusal (MemoryDenyWriteExecute=): glibc's loader failing to make
 * text relocations writable or the stack executable, or an mprotect() that
 * was denied.
 */
const WX = [
  /cannot enable executable stack/i,
  /cannot make segment writable for relocation/i,
  /cannot apply additional memory protection after relocation/i,
  /text relocation.*(Permission denied|Operation not permitted)/i,
  /\bmprotect\b.*(Permission denied|Operation not permitted|EACCES|EPERM)/i,
];

/**
 * A system call the strict profile's filter refused: it answers EPERM
 * (SystemCallErrorNumber=EPERM) instead of killing, so srcds sees
 * "Operation not permitted" where it expected success and gives up.
 */
const DENIED = [/\bOperation not permitted\b/, /\bEPERM\b/];

/** The first line (newest last, as journalctl prints) showing a sandbox kill, or undefined. */
export function sandboxSignature(text: string): SandboxSignature | undefined {
  for (const line of text.split('\n')) {
    if (SECCOMP.some((r) => r.test(line))) return { kind: 'seccomp', line: line.trim() };
    if (WX.some((r) => r.test(line))) return { kind: 'wx', line: line.trim() };
  }
  // A refused call is the weakest sign (any failing call says the same words): only when nothing stronger matched.
  for (const line of text.split('\n')) if (DENIED.some((r) => r.test(line))) return { kind: 'denied', line: line.trim() };
  return undefined;
}
