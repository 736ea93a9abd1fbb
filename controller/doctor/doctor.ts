/**
 * `left4me doctor`'s checks in one list: runs each against a probe (the real
 * host, or a temp dir standing for one) and turns a check that throws into
 * a problem naming the error, so one broken check never hides the others.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostLayout } from '../host/layout.js';
import { packageRoot } from '../package-root.js';
import { result, type CheckResult } from './check.js';
import { checkAccounts, checkDirectories, checkDisk, DEFAULT_DISK_THRESHOLDS, type DiskThresholds } from './checks/host.js';
import { checkPorts, type Range } from './checks/ports.js';
import { check7z, checkCgroups, checkLib32, checkNssSystemd, checkOverlayFeatures, checkOverlayfs, checkSystemd } from './checks/system.js';
import { checkServerSandbox, checkUnit, CONTROLLER_UNIT, WEB_UNIT } from './checks/units.js';
import { debianRelease } from './packages.js';
import type { HostProbe } from './probe.js';

/** What the doctor checks against: the controller's layout and ranges as it runs (or would run) on this host. */
export interface DoctorOptions {
  layout: HostLayout;
  portRanges: { game: Range; client: Range };
  uidRange: Range;
  disk?: DiskThresholds;
  /** The tmpfiles.d text to hold the directories to; default the shipped deploy/left4me.tmpfiles.conf. */
  tmpfiles?: string;
}

/** Runs every check, all at once; the results in a fixed order. */
export async function runDoctor(probe: HostProbe, opts: DoctorOptions): Promise<CheckResult[]> {
  const release = await debianRelease(probe);
  const tmpfiles = opts.tmpfiles ?? (await readFile(join(packageRoot(), 'deploy', 'left4me.tmpfiles.conf'), 'utf8'));
  const checks: Array<[id: string, title: string, run: () => Promise<CheckResult>]> = [
    ['systemd', 'systemd', () => checkSystemd(probe, release)],
    ['cgroups', 'cgroup v2 and its controllers', () => checkCgroups(probe)],
    ['overlayfs', 'overlayfs', () => checkOverlayfs(probe)],
    ['overlay-features', 'overlayfs defaults', () => checkOverlayFeatures(probe)],
    ['lib32', '32-bit glibc for srcds', () => checkLib32(probe, release)],
    ['nss-systemd', 'nss-systemd', () => checkNssSystemd(probe, release)],
    ['7z', '7z', () => check7z(probe, release)],
    ['disk', 'free disk', () => checkDisk(probe, opts.layout, opts.disk ?? DEFAULT_DISK_THRESHOLDS)],
    ['accounts', 'accounts', () => checkAccounts(probe, opts.layout)],
    ['directories', 'directories', () => checkDirectories(probe, opts.layout, tmpfiles)],
    ['ports', 'ports', () => checkPorts(probe, { ...opts.portRanges, uidRange: opts.uidRange, leasesFile: join(opts.layout.statusDir, 'leases.json') })],
    [CONTROLLER_UNIT.id, CONTROLLER_UNIT.unit, () => checkUnit(probe, CONTROLLER_UNIT)],
    [WEB_UNIT.id, WEB_UNIT.unit, () => checkUnit(probe, WEB_UNIT)],
    ['server-sandbox', 'failed game servers', () => checkServerSandbox(probe)],
  ];
  return Promise.all(checks.map(([id, title, run]) => run().catch((err: unknown) => result(id, title, 'problem', `the check itself failed: ${err instanceof Error ? err.message : String(err)}`))));
}
