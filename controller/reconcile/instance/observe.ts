/**
 * What is on the host for one resolved instance: its units as systemd last
 * listed them, the current text of its unit files, whether its layers exist,
 * and what the last pass recorded (a pending restart, annotations acted on).
 */
import { onHost } from '../../config.js';
import { isDirectory, readSmallFile } from '../../fs/small-file.js';
import type { DocumentStatus } from '../../status/store.js';
import { instancePaths, overlayBuildDir, serverUnitName } from '../../systemd/units.js';
import type { InstanceObservation } from '../plan.js';
import type { ResolvedInstance } from '../resolve.js';
import type { UnitState } from '../../systemd/adapter.js';
import { isEnabled, type InstanceHost } from './host.js';

/** Reads the observation plan() compares the intent with. */
export async function observeInstance(x: InstanceHost, r: ResolvedInstance, status: DocumentStatus | undefined): Promise<InstanceObservation> {
  const units = await x.units.snapshot();
  let service = units.get(serverUnitName(r.intent.name));
  // A failed server's Result decides between a start and a crash-loop stall; the listing's may lag a signal behind.
  if (service?.activeState === 'failed') service = await x.systemd.getUnit(service.name);
  const mount = units.get(r.mountUnit);
  const files = new Map<string, string | undefined>();
  for (const path of r.intent.files.keys()) files.set(path, readSmallFile(onHost(x.cfg, path)));
  const paths = instancePaths(r.intent.name, x.cfg.units.layout);
  const dirs = [paths.configLayerDir(r.configLayer.build), paths.upperDir, paths.workDir, ...r.unitSpec.overlays.map((o) => overlayBuildDir(o, x.cfg.units.layout))];
  return {
    ...(service && service.loadState !== 'not-found' ? { service: { activeState: service.activeState, subState: service.subState, ...(gaveUp(x, service) ? { gaveUp: true } : {}) } } : {}),
    mounted: mount?.activeState === 'active',
    enabled: isEnabled(x, r.intent.name),
    files,
    layersPresent: dirs.every((d) => isDirectory(onHost(x.cfg, d))),
    ...(status?.restartPendingSince ? { pendingSince: pendingSince(x, r.intent.name, Date.parse(status.restartPendingSince)) } : {}),
    ...(status?.handledRestartAt ? { handledRestartAt: status.handledRestartAt } : {}),
    ...(status?.handledResetAt ? { handledResetAt: status.handledResetAt } : {}),
  };
}

/** How far the wall clock may drift from monotonic time under a pending restart before its stamp is written again. */
const PENDING_STAMP_TOLERANCE_MS = 2_000;

/** The key of an instance's pending restart in the controller's ElapsedClock. */
export const pendingKey = (name: string) => `pending/${name}`;

/**
 * When the instance's pending restart began, by the wall clock as it reads
 * now: its status stamp's age adopted once (a stamp in the future: began
 * now), then counted on the monotonic clock (elapsed.ts). So maxUpdateDelay
 * is real time waited: a clock stepped forward does not restart the server
 * early, one stepped back does not postpone it. The result goes back into
 * status, so after a step the stamp agrees with the new wall clock; within
 * the tolerance the stamp itself is kept, and status does not change pass by pass.
 */
export function pendingSince(x: Pick<InstanceHost, 'now' | 'elapsed'>, name: string, stamp: number): number {
  const since = x.now() - x.elapsed.age(pendingKey(name), stamp);
  return Math.abs(since - stamp) < PENDING_STAMP_TOLERANCE_MS ? stamp : since;
}

/**
 * Whether systemd stopped restarting a failed server: its start limit refused
 * a start. A start asked for says so in Result; an automatic restart refused
 * keeps the crash's Result (systemd 252) but leaves the restart count at the
 * burst, which only a new start asked for clears.
 */
function gaveUp(x: InstanceHost, service: UnitState): boolean {
  return service.activeState === 'failed' && (service.result === 'start-limit-hit' || (service.nRestarts ?? 0) >= x.cfg.units.server.startLimitBurst);
}
