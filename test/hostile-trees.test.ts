// The controller against trees that others shaped, in a private systemd host:
// the janitor's sweeps at start (issue 8, item 6) and the state-directory
// watcher (item 10c).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { a2sProbe } from '../controller/game/a2s.js';
import { Controller } from '../controller/reconcile/controller.js';
import { DbusSystemdAdapter } from '../controller/systemd/dbus-adapter.js';
import { makeDeepTree } from './support/deep-tree.js';
import { bootDemoHost, waitFor, type DemoHost } from './support/demo-host.js';

const PORTS = { game: { min: 28400, max: 28499 }, client: { min: 29400, max: 29499 } };
let demo: DemoHost;
const outside = mkdtempSync(join(tmpdir(), 'left4me-outside-state-'));

beforeAll(async () => {
  demo = await bootDemoHost();
}, 60_000);

afterAll(async () => {
  await demo?.stop();
  rmSync(outside, { recursive: true, force: true });
});

/** A controller in this process whose warnings are kept. */
async function startWithLog(): Promise<{ controller: Controller; warnings: Array<Record<string, unknown>>; stop(): Promise<void> }> {
  const warnings: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) warnings.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const systemd = new DbusSystemdAdapter({ address: demo.host.busAddress });
  const controller = new Controller(demo.config({ resyncMs: 600_000, portRanges: PORTS }), { systemd, log: pino({ level: 'warn' }, sink), probe: a2sProbe('127.0.0.1', 500) });
  await controller.start({ watch: true, resync: false });
  return {
    controller,
    warnings,
    async stop() {
      await controller.stop();
      await systemd.close();
    },
  };
}

describe('the janitor at start', () => {
  it('removes 2,500-level trees from the trash and an unfinished build, and only warns about what it cannot remove', async () => {
    const varLib = demo.host.dirs.varLib;
    const old = (Date.now() - 30 * 86_400_000) / 1000;
    // A reset server's writable layer, in the trash for a month.
    const layer = join(varLib, 'trash', 'deep-20260101T000000000Z-abcdef');
    mkdirSync(join(layer, 'upper'), { recursive: true });
    makeDeepTree(join(layer, 'upper'), 2500);
    utimesSync(layer, old, old);
    // A build a killed controller left half-done.
    const unfinished = join(varLib, 'overlays', 'maps', '.tmp-0123456789ab');
    mkdirSync(unfinished, { recursive: true });
    makeDeepTree(unfinished, 2500);
    // An entry that cannot be removed: a mount point inside the host, which is never crossed.
    const stuck = join(varLib, 'trash', 'stuck-20260101T000000000Z-abcdef');
    mkdirSync(join(stuck, 'mnt'), { recursive: true });
    utimesSync(stuck, old, old);
    const mounted = await demo.host.exec('mount', ['-t', 'tmpfs', 'tmpfs', '/var/lib/left4me/trash/stuck-20260101T000000000Z-abcdef/mnt']);
    expect(mounted.code, mounted.stderr).toBe(0);
    writeFileSync(join(demo.host.root, '/var/lib/left4me/trash/stuck-20260101T000000000Z-abcdef/mnt/kept'), 'on the tmpfs');

    const ctl = await startWithLog();
    try {
      expect(existsSync(layer)).toBe(false);
      expect(existsSync(unfinished)).toBe(false);
      // The mount point and what is on it stay; the start went on with a warning naming it.
      expect(readFileSync(join(demo.host.root, '/var/lib/left4me/trash/stuck-20260101T000000000Z-abcdef/mnt/kept'), 'utf8')).toBe('on the tmpfs');
      const warning = ctl.warnings.find((w) => String(w.path ?? '').endsWith('/trash/stuck-20260101T000000000Z-abcdef'));
      expect(warning?.msg).toBe('could not remove everything; trying again at the next sweep');
      expect(JSON.stringify(warning?.left)).toContain('mnt: a mount point; not crossed, left in place');
    } finally {
      await ctl.stop();
      await demo.host.exec('umount', ['/var/lib/left4me/trash/stuck-20260101T000000000Z-abcdef/mnt']);
    }
  });
});

/** Inodes (dev:ino, hex as the kernel prints them) this process has inotify watches on. */
function watchedInodes(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:inotify') continue;
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    for (const m of info.matchAll(/^inotify wd:\S+ ino:([0-9a-f]+) sdev:([0-9a-f]+)/gm)) out.add(`${m[1]}`);
  }
  return out;
}

describe('the state-directory watcher', () => {
  it('does not follow a link out of the state directory', async () => {
    mkdirSync(join(outside, 'more'), { recursive: true });
    writeFileSync(join(outside, 'planted.yaml'), 'kind: Instance\n');
    mkdirSync(join(demo.stateDir, 'instances'), { recursive: true });
    symlinkSync(outside, join(demo.stateDir, 'instances', 'linked'));
    const ino = (p: string) => statSync(p).ino.toString(16);
    const ctl = await startWithLog();
    try {
      // The watcher is up once the state directory's own subdirectory is watched.
      await waitFor('instances/ watched', async () => watchedInodes().has(ino(join(demo.stateDir, 'instances'))));
      const watched = watchedInodes();
      expect(watched.has(ino(outside))).toBe(false);
      expect(watched.has(ino(join(outside, 'more')))).toBe(false);
    } finally {
      await ctl.stop();
    }
  });
});
