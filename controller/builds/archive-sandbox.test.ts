// The archive step's sandbox in a real private systemd: listing and
// extraction run as the build account in the build slice without a network
// (systemd's and the kernel's own facts about the running processes), and
// the operator's size limits stop an archive before or while it extracts.
import { createHash } from 'node:crypto';
import { readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { zerosTarGz } from '../../test/support/archive-fixtures.js';
import { failure, hostBuildContext } from '../../test/support/build-context.js';
import { waitFor } from '../../test/support/demo-host.js';
import { startFixtureServer, type FixtureRoute, type FixtureServer } from '../../test/support/http-fixture.js';
import { bootPrivateHost, type PrivateHost } from '../demo/private-host/private-host.js';
import { DbusSystemdAdapter } from '../systemd/dbus-adapter.js';
import { buildArchive, type ArchiveSpec } from './archive.js';
import { ArchiveSandbox } from './archive-sandbox.js';
import type { BuildContext } from './source.js';

const MIB = 1 << 20;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let host: PrivateHost;
let systemd: DbusSystemdAdapter;
let server: FixtureServer;
const routes = new Map<string, FixtureRoute>();

beforeAll(async () => {
  host = await bootPrivateHost();
  systemd = new DbusSystemdAdapter({ address: host.busAddress });
  server = await startFixtureServer(routes);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await systemd?.close();
  await host?.stop();
});

let ctx: BuildContext;
let lines: string[];
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ ctx, lines, cleanup } = await hostBuildContext(host, systemd, { overlay: 'big', step: 0, steamApiBase: server.url('/steam'), maxDownloadBytes: 64 * MIB, allowDownloadNetworks: ['127.0.0.1/32'] }));
});
afterEach(() => cleanup());

function serve(name: string, body: Buffer, extra: Partial<ArchiveSpec> = {}): ArchiveSpec {
  routes.set(`/${name}`, { body });
  return { url: server.url(`/${name}`), sha256: sha(body), stripComponents: 0, maxSize: 4 * 2 ** 30, ...extra };
}

const buildUnits = async () => (await systemd.listUnits(['left4me-build-*'])).filter((u) => u.activeState !== 'inactive');

/** What the kernel says about the main process of the running build unit whose description matches. */
async function runningProcess(description: RegExp) {
  for (const unit of await buildUnits()) {
    if (!description.test(unit.description) || !unit.mainPid) continue;
    const pid = host.machinePid(unit.mainPid);
    if (pid === null) continue;
    try {
      // Before its exec the main process is still systemd's forked child, root and not yet sandboxed.
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      if (!cmdline.includes('left4me-archive')) continue;
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      return {
        unit: unit.name,
        uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]),
        gid: Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]),
        noNewPrivs: /^NoNewPrivs:\s+1$/m.test(status),
        capEff: /^CapEff:\s+(\S+)$/m.exec(status)?.[1],
        cgroup: await readFile(`/proc/${pid}/cgroup`, 'utf8'),
        netns: await readlink(`/proc/${pid}/ns/net`),
      };
    } catch {
      // The process ended between the two reads; look again.
    }
  }
  return null;
}

describe('the archive sandbox', () => {
  it('lists and extracts as the build account, in the build slice, with no network and no capabilities', async () => {
    // 512 MiB of zeros in a 0.5 MiB archive: listing and extracting take long enough to look at them.
    const body = zerosTarGz([{ name: 'top/zeros.vpk', mib: 512 }]);
    const cancel = new AbortController();
    const running = buildArchive(serve('slow.tar.gz', body), { ...ctx, signal: cancel.signal }).catch((e: unknown) => e);
    const hostNet = await readlink(`/proc/${host.pid}/ns/net`);
    for (const phase of [/list/, /extract/]) {
      const p = await waitFor(`the ${phase.source} unit`, () => runningProcess(phase), 60_000, 20);
      expect(p.uid, phase.source).toBe(host.buildAccount.uid);
      expect(p.gid, phase.source).toBe(host.buildAccount.gid);
      expect(p.cgroup, phase.source).toContain(`/l4d2-build.slice/${p.unit}`);
      expect(p.noNewPrivs, phase.source).toBe(true);
      expect(p.capEff, phase.source).toBe('0000000000000000');
      expect(p.netns, phase.source).not.toBe(hostNet);
    }
    cancel.abort(new Error('the test is done looking'));
    expect(String(await running)).toMatch(/cancelled/);
    await waitFor('no build unit left', async () => (await buildUnits()).length === 0);
    expect(await readdir(ctx.dir)).toEqual([]);
    expect(await readdir(ctx.tmpDir)).toEqual([]);
    expect(await readdir(join(host.root, '/var/lib/left4me/build-runs'))).toEqual([]);
  }, 120_000);

  it('stops an extractor whose one file grows past the limit (the file size limit, not a check afterwards)', async () => {
    const file = join(ctx.tmpDir, 'one.tar.gz');
    await writeFile(file, zerosTarGz([{ name: 'top/big.vpk', mib: 64 }]));
    const sandbox = await ArchiveSandbox.open(ctx, file);
    try {
      const err = await failure(sandbox.extract('tar.gz', 0, { bytes: 4 * MIB, label: 'the test limit (4194304 bytes)', advice: 'do less' }, 'here'));
      expect(err.message).toMatch(/^here: the extracted archive grew past the test limit \(4194304 bytes\) while extracting; the extraction was stopped at (\d+) bytes; do less$/);
      expect(Number(/stopped at (\d+) bytes/.exec(err.message)![1])).toBeLessThanOrEqual(4 * MIB);
    } finally {
      await sandbox.close();
    }
    expect(await buildUnits()).toEqual([]);
  });

  it('stops an extraction whose files together grow past the limit, long before it ends', async () => {
    const file = join(ctx.tmpDir, 'many.tar.gz');
    await writeFile(file, zerosTarGz(Array.from({ length: 1024 }, (_, i) => ({ name: `top/f${i}.vpk`, mib: 1 }))));
    const sandbox = await ArchiveSandbox.open(ctx, file);
    try {
      const err = await failure(sandbox.extract('tar.gz', 0, { bytes: 4 * MIB, label: 'the test limit (4194304 bytes)', advice: 'do less' }, 'here'));
      expect(err.message).toMatch(/grew past the test limit \(4194304 bytes\) while extracting; the extraction was stopped at \d+ bytes/);
      // The whole archive is 1 GiB: stopped well before that, not checked after it.
      expect(Number(/stopped at (\d+) bytes/.exec(err.message)![1])).toBeLessThan(512 * MIB);
    } finally {
      await sandbox.close();
    }
  });
});

describe('operator limits', () => {
  const pack = () => zerosTarGz([{ name: 'top/a.vpk', mib: 2 }, { name: 'top/b.vpk', mib: 2 }]);

  it('caps a maxSize above --max-archive-bytes at the cap, and refuses an archive over it before extracting', async () => {
    const err = await failure(buildArchive(serve('over-cap.tar.gz', pack()), { ...ctx, maxArchiveBytes: 3 * MIB }));
    expect(err.message).toMatch(/declares more than the controller's limit for one archive \(3145728 bytes, --max-archive-bytes\) of content, passed at entry "top\/b\.vpk"; ask the operator/);
    expect(lines.join('\n')).toContain(`maxSize ${4 * 2 ** 30} is above the controller's limit for one archive (3145728 bytes, --max-archive-bytes); extracting at most that`);
    expect(lines.join('\n')).not.toMatch(/extracted/);
    expect(await readdir(ctx.dir)).toEqual([]);
    expect(await readdir(ctx.tmpDir)).toEqual([]);
  });

  it('extracts an archive within both maxSize and the cap', async () => {
    await buildArchive(serve('within.tar.gz', pack(), { maxSize: 8 * MIB }), { ...ctx, maxArchiveBytes: 5 * MIB });
    expect((await readdir(join(ctx.dir, 'top'))).sort()).toEqual(['a.vpk', 'b.vpk']);
  });

  it('refuses an archive that would take the build past --max-build-bytes, before extracting', async () => {
    const err = await failure(buildArchive(serve('over-build.tar.gz', pack()), { ...ctx, maxArchiveBytes: 64 * MIB, buildBytesLeft: 3 * MIB }));
    expect(err.message).toMatch(/declares more than what is left of the controller's limit for a whole build \(3145728 bytes, --max-build-bytes\) of content, passed at entry "top\/b\.vpk"/);
    expect(lines.join('\n')).not.toMatch(/extracted/);
    expect(await readdir(ctx.dir)).toEqual([]);
  });
});
