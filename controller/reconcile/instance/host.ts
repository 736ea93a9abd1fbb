/**
 * What the instance reconciler reaches the host through: the controller's
 * configuration, systemd, the caches and stores the controller owns, and
 * small helpers for the unit files it writes. One object, built by the
 * controller and passed to every step and executor.
 */
import { isLink, readSmallFile } from '../../fs/small-file.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { onHost, type ControllerConfig } from '../../config.js';
import type { RconSecrets } from '../../secrets.js';
import { writeFileAtomic } from '../../fs/atomic.js';
import type { PortLeases } from '../../status/leases.js';
import type { StatusStore } from '../../status/store.js';
import type { SystemdAdapter } from '../../systemd/adapter.js';
import { serverUnitName } from '../../systemd/units.js';
import type { Probe } from '../../game/a2s.js';
import type { ServerAccounts } from '../accounts.js';
import type { ElapsedClock } from '../elapsed.js';
import type { Reloader } from '../reloader.js';
import type { ReadyBuilds } from '../resolve.js';
import type { UnitCache } from '../unit-cache.js';

/** The controller's parts an instance reconcile uses; the controller owns each of them. */
export interface InstanceHost {
  cfg: ControllerConfig;
  systemd: SystemdAdapter;
  log: Logger;
  probe: Probe;
  units: UnitCache;
  reloader: Reloader;
  secrets: RconSecrets;
  store: StatusStore;
  /** Server uid leases, their user records and the ownership of writable layers. */
  accounts: ServerAccounts;
  leases(): PortLeases;
  readyBuilds(): ReadyBuilds;
  enqueue(key: string): void;
  /** The wall clock: what status and trash names are stamped with. */
  now(): number;
  /** Ages of timed waits (a pending restart, trash entries) that a step of the wall clock does not move (elapsed.ts). */
  elapsed: ElapsedClock;
  portFree(port: number): Promise<boolean>;
}

/** Writes a file atomically unless it already holds exactly `text`; says whether it wrote. */
export async function writeIfChanged(x: Pick<InstanceHost, 'cfg'>, path: string, text: string, mode = 0o644): Promise<boolean> {
  if (readSmallFile(onHost(x.cfg, path)) === text) return false;
  await writeFileAtomic(onHost(x.cfg, path), text, mode);
  return true;
}

/** Whether an instance's server unit is enabled: the [Install] link systemctl enable makes, read from disk, so a resync asks systemd nothing. */
export function isEnabled(x: Pick<InstanceHost, 'cfg'>, name: string): boolean {
  return isLink(onHost(x.cfg, join(x.cfg.unitDir, 'multi-user.target.wants', serverUnitName(name))));
}

/** Enabling writes links where the unit files live: under /run on test hosts (runtime), /etc in production. */
export function runtimeUnits(x: Pick<InstanceHost, 'cfg'>): boolean {
  return x.cfg.unitDir.startsWith('/run/');
}
