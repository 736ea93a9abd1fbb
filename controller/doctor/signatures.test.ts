import { describe, expect, it } from 'vitest';
import { sandboxSignature } from './signatures.js';

// Lines as journalctl prints them (short format) for a server killed by its sandbox.
const SYSTEMD_SIGSYS = [
  'Nov 30 18:02:11 host systemd[1]: Started left4me-server@alpha.service - left4me game server alpha.',
  'Nov 30 18:02:12 host systemd[1]: left4me-server@alpha.service: Main process exited, code=killed, status=31/SYS',
  'Nov 30 18:02:12 host systemd[1]: left4me-server@alpha.service: Failed with result \'signal\'.',
].join('\n');
const BASH_SIGSYS = 'Nov 30 18:02:12 host srcds_run[812]: ./srcds_run: line 354:   815 Bad system call         (core dumped) ${HL_CMD}';
const AUDIT = 'Nov 30 18:02:12 host kernel: audit: type=1326 audit(1764525732.120:88): auid=4294967295 uid=1879048192 gid=999 ses=4294967295 pid=815 comm="srcds_linux" exe="/var/lib/left4me/runtime/alpha/srcds_linux" sig=31 arch=40000003 syscall=102 compat=1 ip=0xf7f4c549 code=0x0';
const EXECSTACK = 'Nov 30 18:05:40 host srcds_run[901]: ./srcds_linux: error while loading shared libraries: bin/engine_srv.so: cannot enable executable stack as shared object requires: Permission denied';
const TEXTREL = 'Nov 30 18:05:40 host srcds_run[901]: ./srcds_linux: error while loading shared libraries: bin/libtier0_srv.so: cannot make segment writable for relocation: Permission denied';
const MPROTECT = 'Nov 30 18:05:41 host srcds_run[901]: Failed to mprotect code page: Permission denied';
const ORDINARY = [
  'Nov 30 18:07:00 host srcds_run[1000]: Server restart in 10 seconds',
  'Nov 30 18:07:00 host systemd[1]: left4me-server@alpha.service: Main process exited, code=exited, status=1/FAILURE',
  'Nov 30 18:07:00 host srcds_run[1000]: Could not open file: Permission denied',
].join('\n');

describe('sandbox kill signatures in journal text', () => {
  it('finds a seccomp kill as systemd, bash and the audit log report it', () => {
    expect(sandboxSignature(SYSTEMD_SIGSYS)).toEqual({ kind: 'seccomp', line: expect.stringContaining('status=31/SYS') });
    expect(sandboxSignature(BASH_SIGSYS)?.kind).toBe('seccomp');
    expect(sandboxSignature(AUDIT)?.kind).toBe('seccomp');
    expect(sandboxSignature('Nov 30 18:02:12 host srcds_run[812]: caught SIGSYS')?.kind).toBe('seccomp');
  });

  it('finds a refused W+X mapping: executable stack, text relocations, mprotect', () => {
    for (const text of [EXECSTACK, TEXTREL, MPROTECT]) expect(sandboxSignature(`${ORDINARY}\n${text}`)).toEqual({ kind: 'wx', line: text });
  });

  it('says nothing of an ordinary failure, not even of an unrelated "Permission denied"', () => {
    expect(sandboxSignature(ORDINARY)).toBeUndefined();
    expect(sandboxSignature('')).toBeUndefined();
  });

  it('finds a call the strict filter refused (EPERM), but only when no kill or W^X line is there', () => {
    const eperm = 'Nov 30 18:07:01 host srcds_run[930]: sched_setaffinity: Operation not permitted';
    expect(sandboxSignature(`${ORDINARY}\n${eperm}`)).toEqual({ kind: 'denied', line: eperm });
    expect(sandboxSignature(`${eperm}\n${EXECSTACK}`)?.kind).toBe('wx');
  });
});
