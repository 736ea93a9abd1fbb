// A BuildContext over fresh scratch directories, for tests of single build steps.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostLayout } from '../../controller/host/layout.js';
import { EgressGuard } from '../../controller/builds/egress.js';
import type { BuildContext } from '../../controller/builds/source.js';
import type { SystemdAdapter } from '../../controller/systemd/adapter.js';

/**
 * A step's context: `build/` and `tmp/` under a new temp dir, log lines
 * collected; `cleanup()` removes it all. Downloads reach public addresses and
 * `allowDownloadNetworks` only, as in production: fixtures on loopback must be allowed.
 */
export async function scratchBuildContext(o: { overlay: string; step: number; steamApiBase: string; maxDownloadBytes: number; allowDownloadNetworks: string[] }): Promise<{ ctx: BuildContext; lines: string[]; base: string; cleanup(): Promise<void> }> {
  const base = await mkdtemp(join(tmpdir(), `l4m-${o.overlay}-`));
  await mkdir(join(base, 'build'));
  await mkdir(join(base, 'tmp'));
  const lines: string[] = [];
  const ctx: BuildContext = {
    overlay: o.overlay,
    step: o.step,
    dir: join(base, 'build'),
    hostDir: join(base, 'build'),
    cacheDir: join(base, 'cache'),
    tmpDir: join(base, 'tmp'),
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
    // Steps that need systemd (scripts) are tested in private hosts, not with this context.
    systemd: {} as SystemdAdapter,
    steamApiBase: o.steamApiBase,
    maxDownloadBytes: o.maxDownloadBytes,
    egress: new EgressGuard(o.allowDownloadNetworks),
    layout: hostLayout(),
  };
  return { ctx, lines, base, cleanup: () => rm(base, { recursive: true, force: true }) };
}

/** Awaits a promise that must reject, and returns its error. */
export async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error(`expected a rejection with an Error, got ${String(err)}`);
  return err;
}

/**
 * A step's context inside a private host, laid out as the pipeline lays it
 * out: an unfinished build dir and its scratch dir below the host's
 * `/var/lib/left4me/overlays/<overlay>/`, so sandboxed steps can bind them.
 * `base` is that overlay directory as this process reaches it.
 */
export async function hostBuildContext(
  host: { root: string },
  systemd: SystemdAdapter,
  o: { overlay: string; step: number; steamApiBase: string; maxDownloadBytes: number; allowDownloadNetworks?: string[] },
): Promise<{ ctx: BuildContext; lines: string[]; base: string; cleanup(): Promise<void> }> {
  const hostBase = `/var/lib/left4me/overlays/${o.overlay}`;
  const tmpName = `.tmp-${randomBytes(6).toString('hex')}`;
  const base = join(host.root, hostBase);
  const dir = join(base, tmpName);
  const tmpDir = join(base, `${tmpName}-scratch`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await mkdir(tmpDir, { mode: 0o700 });
  const lines: string[] = [];
  const ctx: BuildContext = {
    overlay: o.overlay,
    step: o.step,
    dir,
    hostDir: `${hostBase}/${tmpName}`,
    cacheDir: join(host.root, '/var/lib/left4me/cache'),
    tmpDir,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
    systemd,
    steamApiBase: o.steamApiBase,
    maxDownloadBytes: o.maxDownloadBytes,
    egress: new EgressGuard(o.allowDownloadNetworks ?? []),
    layout: hostLayout(),
  };
  const cleanup = async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(tmpDir, { recursive: true, force: true });
  };
  return { ctx, lines, base, cleanup };
}
