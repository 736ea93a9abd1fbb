/**
 * The host's truth about leases, for when a lease file is lost to a torn
 * disk or a careless edit: each instance's launch.env names the ports its
 * server starts with, and its writable layer belongs to its uid. Rebuilt
 * leases keep every server on its port and uid, so none restarts for it.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { onHost, type ControllerConfig } from '../config.js';
import { isDocumentName } from '../documents/names.js';
import { readSmallFile } from '../fs/small-file.js';
import type { Lease, LeaseRecovery } from '../status/leases.js';
import { instancePaths, launchEnvPorts } from '../systemd/units.js';

async function instanceNames(cfg: ControllerConfig): Promise<string[]> {
  return (await readdir(onHost(cfg, cfg.units.layout.instancesDir)).catch(() => [] as string[])).filter(isDocumentName).sort();
}

function told(log: Logger, what: string) {
  return (info: { file: string; movedTo: string; leases: number }) =>
    log.warn(info, `${what} could not be read; moved it aside and rebuilt ${info.leases} lease(s) from the servers' files`);
}

/** Port leases from each instance's launch.env. */
export function portLeaseRecovery(cfg: ControllerConfig, log: Logger): LeaseRecovery<Lease> {
  return {
    async fromHost() {
      const leases = new Map<string, Lease>();
      for (const name of await instanceNames(cfg)) {
        const ports = launchEnvPorts(readSmallFile(onHost(cfg, instancePaths(name, cfg.units.layout).launchEnv)));
        if (ports) leases.set(name, ports);
      }
      return leases;
    },
    recovered: told(log, 'the port lease file'),
  };
}

/** Server uid leases from the owner of each instance's writable layer (ServerAccounts.ownWritableLayer), within the range. */
export function uidLeaseRecovery(cfg: ControllerConfig, log: Logger): LeaseRecovery<number> {
  return {
    async fromHost() {
      const uids = new Map<string, number>();
      for (const name of await instanceNames(cfg)) {
        const st = await lstat(onHost(cfg, instancePaths(name, cfg.units.layout).upperDir)).catch(() => undefined);
        if (st?.isDirectory() && st.uid >= cfg.uidRange.min && st.uid <= cfg.uidRange.max) uids.set(name, st.uid);
      }
      return uids;
    },
    recovered: told(log, 'the server uid lease file'),
  };
}
