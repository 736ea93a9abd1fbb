import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { onHost, type ControllerConfig } from '../config.js';
import { removeTree } from '../fs/remove-tree.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { ElapsedClock } from './elapsed.js';
import { errorMessage } from './errors.js';

/**
 * Housekeeping of the host's data directory: what a killed controller left
 * half-done, the trash of deleted servers' data, unused workshop revisions.
 * Reads and removes files under the data and unit directories only, never
 * following a link and whatever the depth of what it removes (trees a script
 * or a game server shaped). Never throws: what it cannot remove is logged as
 * a warning and tried again at the next sweep.
 */
export class HostJanitor {
  constructor(
    private readonly cfg: ControllerConfig,
    private readonly systemd: SystemdAdapter,
    private readonly log: Logger,
    private readonly now: () => number,
    /** Ages of trash entries (keys `trash/<entry>`), shared with the instance reconciler, which starts an entry's age when it makes it. */
    private readonly elapsed: ElapsedClock = new ElapsedClock(now),
  ) {}

  private host(path: string): string {
    return onHost(this.cfg, path);
  }

  /** Removes one path (a tree, a file or a link) as this process reaches it; false, with a warning, when something is left. */
  private async remove(path: string): Promise<boolean> {
    try {
      const { left } = await removeTree(path);
      if (left.length === 0) return true;
      this.log.warn({ path, left: left.slice(0, 20), count: left.length }, 'could not remove everything; trying again at the next sweep');
    } catch (err) {
      this.log.warn({ path, err: errorMessage(err) }, 'could not remove; trying again at the next sweep');
    }
    return false;
  }

  /** Removes the entries of `dir` that `old` picks from their lstat; returns the names removed completely. */
  private async removeWhere(dir: string, old: (name: string, st: Stats) => boolean, what: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const e of entries) {
      const st = await lstat(join(dir, e)).catch(() => undefined);
      if (st && old(e, st) && (await this.remove(join(dir, e)))) removed.push(e);
    }
    if (removed.length > 0) this.log.info({ removed }, what);
    return removed;
  }

  /**
   * Empties trash entries (writable layers of deleted or reset instances)
   * older than the retention. An entry's age is its mtime's wall-clock age
   * when this controller first meets it (one dated in the future: age 0),
   * then monotonic time (elapsed.ts): a clock stepped forward empties no
   * entry early, one stepped back keeps none longer than the retention.
   */
  async sweepTrash(): Promise<string[]> {
    const seen = new Set<string>();
    const removed = await this.removeWhere(
      this.host(this.cfg.trashDir),
      (e, st) => {
        seen.add(`trash/${e}`);
        return this.elapsed.age(`trash/${e}`, st.mtimeMs) > this.cfg.trashRetentionMs;
      },
      'emptied old trash',
    );
    for (const e of removed) seen.delete(`trash/${e}`);
    this.elapsed.forgetExcept('trash/', seen);
    return removed;
  }

  /**
   * Removes workshop revisions no build links any more: a cache file whose
   * only link is the cache's own, older than a day (a build links a fresh
   * download into its directory right away).
   */
  sweepWorkshopCache(): Promise<string[]> {
    return this.removeWhere(
      this.host(join(this.cfg.units.layout.cacheDir, 'workshop')),
      (e, st) => e.endsWith('.vpk') && st.nlink === 1 && this.now() - st.mtimeMs > 86_400_000,
      'removed unused workshop revisions from the cache',
    );
  }

  /** Removes what a killed controller may have left half-written: temp files, unfinished builds, abandoned build sandboxes. */
  async sweepTemporaries(): Promise<void> {
    const l = this.cfg.units.layout;
    // A build sandbox or a steamcmd run outlives a killed controller; its build dir is swept below, so the run
    // is abandoned (a steamcmd left running would go on for hours beside the new controller's own, in one steam home).
    try {
      for (const u of await this.systemd.listUnits(['left4me-build-*.service', 'left4me-steamcmd-*.service'])) {
        if (u.activeState !== 'inactive') await this.systemd.stop(u.name).catch(() => undefined);
        await this.systemd.resetFailed(u.name).catch(() => undefined);
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot list build sandboxes');
    }
    await this.remove(this.host(this.cfg.units.layout.buildRunsDir));
    const sweep = async (dir: string, match: RegExp) => {
      let entries: string[];
      try {
        entries = await readdir(this.host(dir));
      } catch {
        return;
      }
      for (const e of entries) if (match.test(e)) await this.remove(this.host(join(dir, e)));
    };
    await sweep(this.cfg.unitDir, /^\.[0-9a-f]{12}\.tmp$/);
    await sweep(l.statusDir, /^\.[0-9a-f]{12}\.tmp$/);
    // Each kind's status files live one level down (status/instance/…): a kill during their write leaves its temp there.
    for (const kind of await readdir(this.host(l.statusDir)).catch(() => [] as string[])) {
      if (/^[a-z]+$/.test(kind)) await sweep(join(l.statusDir, kind), /^\.[0-9a-f]{12}\.tmp$/);
    }
    await sweep(this.cfg.secretsDir, /^\.[0-9a-f]{12}\.tmp$/);
    await sweep(join(l.cacheDir, 'workshop'), /\.part-[0-9a-f]+$/);
    for (const parent of [l.overlaysDir, l.instancesDir, l.installationDir]) {
      let names: string[] = [];
      try {
        names = await readdir(this.host(parent));
      } catch {
        continue;
      }
      for (const n of names) {
        const dir = parent === l.instancesDir ? join(parent, n, 'config') : join(parent, n);
        await sweep(dir, /^\.tmp-[0-9a-f]{12}(-scratch)?$/);
        if (parent === l.instancesDir) await sweep(join(parent, n), /^\.[0-9a-f]{12}\.tmp$/);
      }
    }
  }
}
