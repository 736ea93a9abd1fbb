import { statSync } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostLayout } from '../host/layout.js';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { EgressGuard } from './egress.js';
import { buildScript } from './script.js';
import { createRunDir, handTreeTo, reclaimTree, removeRunDir } from './sandbox-run.js';
import { BuildStepError, type BuildContext } from './source.js';
import { defaultUnitConfig } from '../systemd/units.js';

// Ownership changes need root, as the controller has; the test suite runs as root.
const BUILD_UID = 4242;

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'left4me-script-test-'));
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('handTreeTo and reclaimTree', () => {
  it('give a build dir to the build user for the run, except files shared with the cache', async () => {
    const dir = join(base, 'build');
    await mkdir(join(dir, 'cfg'), { recursive: true });
    await writeFile(join(dir, 'cfg/server.cfg'), 'x');
    await writeFile(join(base, 'cached.vpk'), 'vpk');
    await link(join(base, 'cached.vpk'), join(dir, 'item.vpk'));
    await symlink('/etc/shadow', join(dir, 'escape'));
    await handTreeTo(dir, BUILD_UID, BUILD_UID);
    expect((await stat(dir)).uid).toBe(BUILD_UID);
    expect((await stat(join(dir, 'cfg'))).uid).toBe(BUILD_UID);
    expect((await stat(join(dir, 'cfg/server.cfg'))).uid).toBe(BUILD_UID);
    expect((await stat(join(dir, 'item.vpk'))).uid).toBe(0);
    expect((await lstat(join(dir, 'escape'))).uid).toBe(BUILD_UID);
    // A symlink is changed itself, never its target.
    expect((await stat('/etc/shadow')).uid).toBe(0);
  });

  it('take it back root-owned and world-readable, without set-id bits or special files, following no link', async () => {
    const dir = join(base, 'build');
    await mkdir(join(dir, 'locked'), { recursive: true });
    await writeFile(join(dir, 'locked/tool'), '#!/bin/sh\n');
    await chmod(join(dir, 'locked/tool'), 0o4700);
    await writeFile(join(dir, 'private.txt'), 'x');
    await chmod(join(dir, 'private.txt'), 0o600);
    await chmod(join(dir, 'locked'), 0o000);
    await writeFile(join(base, 'cached.vpk'), 'vpk');
    await chmod(join(base, 'cached.vpk'), 0o640);
    await link(join(base, 'cached.vpk'), join(dir, 'item.vpk'));
    await symlink(join(base, 'outside'), join(dir, 'link'));
    await writeFile(join(base, 'outside'), 'y');
    await chmod(join(base, 'outside'), 0o600);
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    for (const p of ['', 'locked', 'locked/tool', 'private.txt', 'link']) await chown(join(dir, p), BUILD_UID, BUILD_UID).catch(() => undefined);
    const lines: string[] = [];
    await reclaimTree(dir, (l) => lines.push(l));
    const mode = async (p: string) => ((await lstat(join(dir, p))).mode & 0o7777).toString(8);
    expect(await mode('')).toBe('755');
    expect(await mode('locked')).toBe('755');
    expect(await mode('locked/tool')).toBe('755');
    expect(await mode('private.txt')).toBe('644');
    expect((await lstat(join(dir, 'locked/tool'))).uid).toBe(0);
    expect((await lstat(join(dir, 'link'))).uid).toBe(0);
    // The cache's inode and the link's target are not ours to change.
    expect(await mode('item.vpk')).toBe('640');
    expect(((await stat(join(base, 'outside'))).mode & 0o777).toString(8)).toBe('600');
    expect(lines).toEqual(['removed pipe: not a file, directory or symlink']);
    await expect(lstat(join(dir, 'pipe'))).rejects.toThrow();
  });
});

describe('handTreeTo and reclaimTree against a tree that changes under them', () => {
  it('never chmod or chown through a directory swapped for a symlink during the walk', async () => {
    // A leftover build-user process (or another writer) may swap a checked directory
    // for a link at any moment; every change must land on what was opened, never beyond a link.
    const dir = join(base, 'build');
    const outside = join(base, 'outside');
    await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'sub', 'file'), 'x');
    await mkdir(outside);
    await writeFile(join(outside, 'file'), 'secret');
    await chown(join(outside, 'file'), BUILD_UID + 1, BUILD_UID + 1);
    await chmod(join(outside, 'file'), 0o600);
    await chmod(outside, 0o700);
    const swapper = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      const [dir, outside] = process.argv.slice(1);
      for (;;) {
        try { fs.renameSync(dir + '/sub', dir + '/sub.real'); fs.symlinkSync(outside, dir + '/sub'); } catch {}
        try { fs.unlinkSync(dir + '/sub'); fs.renameSync(dir + '/sub.real', dir + '/sub'); } catch {}
      }`, dir, outside], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        await handTreeTo(dir, BUILD_UID, BUILD_UID).catch(() => undefined);
        await reclaimTree(dir, () => undefined).catch(() => undefined);
      }
    } finally {
      swapper.kill('SIGKILL');
      await new Promise((r) => swapper.once('exit', r));
    }
    const file = await stat(join(outside, 'file'));
    expect([file.uid, file.mode & 0o777]).toEqual([BUILD_UID + 1, 0o600]);
    const top = await stat(outside);
    expect([top.uid, top.mode & 0o777]).toEqual([0, 0o700]);
  });
});

describe('removeRunDir', () => {
  it('removes the run files and empty stubs but never content it does not own', async () => {
    const run = join(base, 'left4me-build-x.service');
    await mkdir(join(run, 'root/etc/ssl'), { recursive: true });
    await mkdir(join(run, 'root/usr'), { recursive: true });
    await writeFile(join(run, 'root/etc/passwd'), '');
    await writeFile(join(run, 'root/usr/not-a-stub'), 'content');
    await symlink('usr/bin', join(run, 'root/bin'));
    for (const f of ['script.sh', 'resolv.conf', 'output.log']) await writeFile(join(run, f), 'x');
    await removeRunDir(run);
    expect(await readFile(join(run, 'root/usr/not-a-stub'), 'utf8')).toBe('content');
    await expect(lstat(join(run, 'root/etc'))).rejects.toThrow();
    await expect(lstat(join(run, 'script.sh'))).rejects.toThrow();
    await rm(join(run, 'root/usr/not-a-stub'));
    await removeRunDir(run);
    await expect(lstat(run)).rejects.toThrow();
  });
});

describe('buildScript', () => {
  it('refuses a timeout beyond 6h before touching systemd', async () => {
    const systemd = new Proxy({}, { get: () => () => Promise.reject(new Error('systemd must not be called')) }) as SystemdAdapter;
    const ctx: BuildContext = {
      overlay: 'maps', step: 2, dir: base, hostDir: base, cacheDir: base, tmpDir: base, log: () => undefined,
      signal: new AbortController().signal, systemd, steamApiBase: '', maxDownloadBytes: 0, egress: new EgressGuard(), layout: hostLayout(),
    };
    await expect(buildScript({ run: 'true', timeout: '7h' }, ctx)).rejects.toThrow(BuildStepError);
    await expect(buildScript({ run: 'true', timeout: '7h' }, ctx)).rejects.toThrow(/script of overlay maps \(step 2\): timeout 7h is outside 1s to 6h; set spec\.sources\[2\]\.script\.timeout/);
  });

  it('fails a run systemd calls successful when the script never reported its exit (nothing is known to have run)', async () => {
    await mkdir(join(base, 'etc'), { recursive: true });
    await writeFile(join(base, 'etc/passwd'), `left4me-build:x:${BUILD_UID}:${BUILD_UID}::/nonexistent:/usr/sbin/nologin\n`);
    await writeFile(join(base, 'etc/group'), `left4me-build:x:${BUILD_UID}:\n`);
    const hostDir = '/var/lib/left4me/overlays/maps/.tmp-0123456789ab';
    await mkdir(join(base, hostDir), { recursive: true });
    // The job ends "done" and the transient unit is gone, as for a real success, but the output log stays empty.
    const systemd = {
      startTransient: async () => undefined,
      getUnit: async () => ({ name: 'x', description: '', loadState: 'not-found', activeState: 'inactive', subState: 'dead' }),
      onUnitChanged: () => () => undefined,
      stop: async () => undefined,
      resetFailed: async () => undefined,
    } as unknown as SystemdAdapter;
    const ctx: BuildContext = {
      overlay: 'maps', step: 0, dir: join(base, hostDir), hostDir, cacheDir: base, tmpDir: base, log: () => undefined,
      signal: new AbortController().signal, systemd, steamApiBase: '', maxDownloadBytes: 0, egress: new EgressGuard(), layout: hostLayout(),
    };
    await expect(buildScript({ run: 'touch /overlay/done' }, ctx, { fsRoot: base })).rejects.toThrow(/script of overlay maps \(step 0\): systemd reported the run successful, but the script never reported its exit/);
  });

  it('keeps its run directories in the build-runs directory of the layout it is given (--data-dir moves them)', async () => {
    const layout = hostLayout(join(base, 'data'));
    const run = await createRunDir('/', layout, {}, 'left4me-build-x.service');
    try {
      expect(run.hostDir).toBe(join(base, 'data', 'build-runs', 'left4me-build-x.service'));
      expect(statSync(run.localDir).isDirectory()).toBe(true);
    } finally {
      await removeRunDir(run.localDir);
    }
    expect(hostLayout().buildRunsDir).toBe('/var/lib/left4me/build-runs'); // not on /run: a reboot must not lose a run's evidence
  });
});
