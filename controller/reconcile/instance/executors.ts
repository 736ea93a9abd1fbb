/**
 * The executors: one per action kind of plan(), as a table. Each checks
 * before it acts, so replaying a plan after a crash is harmless; none writes
 * status (the reconcile records what happened once, at its end).
 */
import { onHost } from '../../config.js';
import { layerExists, writeLayer } from '../../builds/layer-writer.js';
import { SystemdError } from '../../systemd/adapter.js';
import { instancePaths, overlayBuildDir, serverUnitName } from '../../systemd/units.js';
import { Reason } from '../../status/conditions.js';
import { Waiting } from '../outcome.js';
import { TRANSITION_POLL_MS, type Action } from '../plan.js';
import type { ResolvedInstance } from '../resolve.js';
import { runtimeUnits, writeIfChanged, type InstanceHost } from './host.js';
import { moveToTrash } from './trash.js';

/** Carries out one action for a resolved instance. */
export type Executor = (x: InstanceHost, r: ResolvedInstance) => Promise<void>;

/** Every action kind's executor. */
export const EXECUTORS: { readonly [T in Action['type']]: Executor } = {
  /** The config layer (server.cfg holds the RCON password: game group only) and the writable layer's directories. */
  async writeLayers(x, r) {
    for (const ref of r.unitSpec.overlays) {
      if (!(await layerExists(onHost(x.cfg, overlayBuildDir(ref, x.cfg.units.layout))))) {
        // The ready build vanished from disk: rebuild it through the overlay's own key.
        x.enqueue(`overlay/${ref.overlay}`);
        throw new Error(`overlay ${ref.overlay} build ${ref.build} is missing on disk; rebuilding it`);
      }
    }
    const paths = instancePaths(r.intent.name, x.cfg.units.layout);
    const files = new Map([...r.configLayer.files].map(([p, text]) => [p, { text, mode: 0o640 }]));
    await writeLayer(onHost(x.cfg, paths.configLayerDir(r.configLayer.build)), files, { uid: 0, gid: await x.accounts.groupId(), dirMode: 0o750, fileMode: 0o640 });
    await x.accounts.ownWritableLayer(r.intent.name, r.uid, { createOnly: true });
  },

  /** The mount unit and launch.env; one daemon reload when a unit file changed. */
  async writeFiles(x, r) {
    let unitChanged = false;
    for (const [path, text] of r.intent.files) {
      if ((await writeIfChanged(x, path, text)) && path.startsWith(`${x.cfg.unitDir}/`)) unitChanged = true;
    }
    if (unitChanged) await x.reloader.reload();
  },

  async resetFailed(x, r) {
    // systemd passes through `failed` on its way to an automatic restart (Restart=), and a listing may catch that
    // moment. Reset only a unit that is failed now: a reset also clears systemd's start limit and restart count,
    // and starting it here would skip RestartSec, so a crash loop would run forever.
    const name = serverUnitName(r.intent.name);
    const now = await x.systemd.getUnit(name);
    if (now.activeState !== 'failed') throw new Waiting(Reason.Starting, `systemd is restarting the server itself (${now.activeState}/${now.subState})`, TRANSITION_POLL_MS);
    await x.systemd.resetFailed(name).catch(ignoreNoSuchUnit);
  },

  async enable(x, r) {
    await x.systemd.enableUnitFiles([serverUnitName(r.intent.name)], { runtime: runtimeUnits(x) });
  },

  async disable(x, r) {
    await x.systemd.disableUnitFiles([serverUnitName(r.intent.name)], { runtime: runtimeUnits(x) });
  },

  async start(x, r) {
    // The one moment the layer is sure to be unused: a new uid lease or a migrated host re-owns it here.
    await x.accounts.ownWritableLayer(r.intent.name, r.uid);
    x.units.invalidate();
    await x.systemd.start(serverUnitName(r.intent.name));
  },

  async stop(x, r) {
    x.units.invalidate();
    await x.systemd.stop(serverUnitName(r.intent.name));
  },

  /** Stopping the mount unit unmounts the stack (and stops the server, which requires it). */
  async unmount(x, r) {
    x.units.invalidate();
    await x.systemd.stop(r.mountUnit);
  },

  /** A reset: the writable layer goes to the trash and starts empty. */
  async wipeWritableLayer(x, r) {
    const paths = instancePaths(r.intent.name, x.cfg.units.layout);
    await moveToTrash(x, r.intent.name, [paths.upperDir, paths.workDir]);
    await x.accounts.ownWritableLayer(r.intent.name, r.uid);
  },
};

/** Lets "no such unit" pass: resetting or stopping what is not there is already done. */
export function ignoreNoSuchUnit(err: unknown): void {
  if (err instanceof SystemdError && err.code === 'call' && /NoSuchUnit|NotLoaded/.test(err.dbusName ?? '')) return;
  throw err;
}
