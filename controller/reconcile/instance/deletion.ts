/**
 * Deleting an instance (its document was removed): everything it had on this
 * host goes, in an order that is safe to repeat after a crash at any step.
 */
import { onHost } from '../../config.js';
import { rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { userDropInPath } from '../../systemd/server-accounts.js';
import { instancePaths, mountUnitName, serverUnitName } from '../../systemd/units.js';
import { ignoreNoSuchUnit } from './executors.js';
import { isEnabled, runtimeUnits, type InstanceHost } from './host.js';
import { pendingKey } from './observe.js';
import { moveToTrash } from './trash.js';

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Stops, unmounts and disables the server, removes its unit files, trashes its writable layer, releases its ports, password and status. */
export async function deleteInstance(x: InstanceHost, name: string): Promise<void> {
  const service = serverUnitName(name);
  const paths = instancePaths(name, x.cfg.units.layout);
  const mountUnit = mountUnitName(paths.runtimeDir);
  const units = await x.units.snapshot();
  const svc = units.get(service);
  if (svc && svc.activeState !== 'inactive' && svc.activeState !== 'failed') {
    x.units.invalidate();
    await x.systemd.stop(service);
  }
  const mnt = units.get(mountUnit);
  if (mnt && mnt.activeState !== 'inactive') {
    x.units.invalidate();
    await x.systemd.stop(mountUnit);
  }
  if (isEnabled(x, name)) await x.systemd.disableUnitFiles([service], { runtime: runtimeUnits(x) });
  const unitFile = onHost(x.cfg, join(x.cfg.unitDir, mountUnit));
  const dropIn = onHost(x.cfg, userDropInPath(x.cfg.unitDir, name));
  const hadUnit = (await Promise.all([unitFile, dropIn].map(exists))).some(Boolean);
  await rm(unitFile, { force: true });
  await rm(dropIn, { force: true });
  await rmdir(join(dropIn, '..')).catch(() => undefined);
  if (hadUnit) await x.reloader.reload();
  if (await exists(onHost(x.cfg, paths.dir))) {
    await rm(onHost(x.cfg, paths.launchEnv), { force: true });
    await rm(onHost(x.cfg, join(paths.dir, 'config')), { recursive: true, force: true });
    await moveToTrash(x, name, [paths.upperDir, paths.workDir]);
    await rm(onHost(x.cfg, paths.dir), { recursive: true, force: true });
  }
  // The mountpoint goes only when empty: never recurse into what might still be a mounted stack.
  await rmdir(onHost(x.cfg, paths.runtimeDir)).catch(() => undefined);
  if (svc?.activeState === 'failed') await x.systemd.resetFailed(service).catch(ignoreNoSuchUnit);
  await x.leases().release(name);
  await x.accounts.release(name);
  await x.secrets.remove(name);
  await x.store.remove('Instance', name);
  x.elapsed.forget(pendingKey(name));
  x.log.info({ instance: name }, 'instance deleted');
}
