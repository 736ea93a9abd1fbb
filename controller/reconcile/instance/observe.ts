/**
 * What is on the host for one resolved instance: its units as systemd last
 * listed them, the current text of its unit files, whether its layers exist,
 * and what the last pass recorded (a pending restart, annotations acted on).
 */
import { readFile } from 'node:fs/promises';
import { layerExists } from '../../builds/layer-writer.js';
import type { DocumentStatus } from '../../status/store.js';
import { instancePaths, overlayBuildDir, serverUnitName } from '../../systemd/units.js';
import type { InstanceObservation } from '../plan.js';
import type { ResolvedInstance } from '../resolve.js';
import { isEnabled, onHostOf, type InstanceHost } from './host.js';

/** Reads the observation plan() compares the intent with. */
export async function observeInstance(x: InstanceHost, r: ResolvedInstance, status: DocumentStatus | undefined): Promise<InstanceObservation> {
  const units = await x.units.snapshot();
  const service = units.get(serverUnitName(r.intent.name));
  const mount = units.get(r.mountUnit);
  const files = new Map<string, string | undefined>();
  await Promise.all([...r.intent.files.keys()].map(async (path) => files.set(path, await readFile(onHostOf(x, path), 'utf8').catch(() => undefined))));
  const paths = instancePaths(r.intent.name, x.cfg.units.layout);
  const dirs = [paths.configLayerDir(r.configLayer.build), paths.upperDir, paths.workDir, ...r.unitSpec.overlays.map((o) => overlayBuildDir(o, x.cfg.units.layout))];
  const present = await Promise.all(dirs.map((d) => layerExists(onHostOf(x, d))));
  return {
    ...(service && service.loadState !== 'not-found' ? { service: { activeState: service.activeState, subState: service.subState } } : {}),
    mounted: mount?.activeState === 'active',
    enabled: await isEnabled(x, r.intent.name),
    files,
    layersPresent: present.every(Boolean),
    ...(status?.restartPendingSince ? { pendingSince: Date.parse(status.restartPendingSince) } : {}),
    ...(status?.handledRestartAt ? { handledRestartAt: status.handledRestartAt } : {}),
    ...(status?.handledResetAt ? { handledResetAt: status.handledResetAt } : {}),
  };
}
