// `left4me doctor` as a person runs it, on this machine: every check answers
// with a status (what it answers depends on the machine, so only the shape and
// the exit code's agreement with it are asserted), and the prerequisite check
// of `npm start` stops a machine that lacks tools with the packages to install.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { controllerFlags } from './doctor.js';

const BIN = join(packageRoot(), 'controller', 'bin', 'left4me.js');
const CHECKS = ['systemd', 'cgroups', 'overlayfs', 'overlay-features', 'lib32', 'nss-systemd', '7z', 'disk', 'accounts', 'directories', 'ports', 'controller-unit', 'web-unit', 'server-sandbox'];

/** Runs a command to its end: exit code and output, never rejecting on a non-zero exit. */
function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const scratch = mkdtempSync(join(tmpdir(), 'left4me-doctor-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('left4me doctor on this machine', () => {
  it('-o json: every check has a status, and the exit code says whether any is a problem', async () => {
    const r = await run(process.execPath, [BIN, 'doctor', '-o', 'json']);
    const report = JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; detail: string; fix?: string }>; summary: Record<string, number> };
    expect(report.checks.map((c) => c.id)).toEqual(CHECKS);
    for (const c of report.checks) {
      expect(['ok', 'warning', 'problem']).toContain(c.status);
      expect(c.detail.length).toBeGreaterThan(0);
      // Whatever is not ok says what to do.
      if (c.status !== 'ok') expect(c.fix?.length).toBeGreaterThan(0);
    }
    const problems = report.checks.filter((c) => c.status === 'problem').length;
    expect(report.summary.problem).toBe(problems);
    expect(r.code).toBe(problems > 0 ? 1 : 0);
  });

  it('the table: one row per check with its status, fixes below, the counts last', async () => {
    const r = await run(process.execPath, [BIN, 'doctor']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^STATUS\s+CHECK\s+DETAIL$/);
    expect(lines.filter((l) => /^(ok|warning|problem) /.test(l))).toHaveLength(CHECKS.length);
    expect(lines.at(-1)).toMatch(/^\d+ ok, \d+ warnings, \d+ problems$/);
    expect(r.code).toBe(/ 0 problems$/.test(lines.at(-1)!) ? 0 : 1);
  });

  it('refuses --demo and unknown formats as usage errors', async () => {
    expect((await run(process.execPath, [BIN, 'doctor', '--demo'])).code).toBe(2);
    const yaml = await run(process.execPath, [BIN, 'doctor', '-o', 'yaml']);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toContain('unknown output format "yaml" (table or json)');
  });

  it('takes the ranges and data directory from the controller unit\'s command line', () => {
    const exec = '{ path=/usr/local/bin/left4me ; argv[]=/usr/local/bin/left4me controller --state /etc/left4me/state --port-range 28180-28189 --client-port-range=29180-29189 --data-dir /srv/l4m ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }';
    expect(controllerFlags(exec)).toEqual({ 'port-range': '28180-28189', 'client-port-range': '29180-29189', 'data-dir': '/srv/l4m' });
    expect(controllerFlags('')).toEqual({});
  });
});

describe('npm start on a machine that lacks tools', () => {
  it('stops before booting anything and names the Debian package of each missing tool', async () => {
    // A PATH with git and 7z only: systemctl, unshare, nsenter and setpriv are missing.
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    const which = promisify(execFile);
    for (const tool of ['git', '7z']) symlinkSync((await which('sh', ['-c', `command -v ${tool}`])).stdout.trim(), join(bin, tool));
    const r = await run(process.execPath, [join(packageRoot(), 'dist', 'controller', 'demo', 'start.js')], { PATH: bin, HOME: scratch });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('Booting');
    expect(r.stderr).toContain('npm start needs what this machine lacks:');
    for (const tool of ['systemctl', 'unshare', 'nsenter', 'setpriv']) expect(r.stderr).toMatch(new RegExp(`^  ${tool} +Debian package: (systemd|util-linux)$`, 'm'));
    expect(r.stderr).not.toMatch(/^ {2}(git|7z) /m);
    expect(r.stderr).toMatch(/^Install them with: apt-get install systemd util-linux$/m);
  });
});
