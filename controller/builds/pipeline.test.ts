import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { hostLayout } from '../host/layout.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Document, OverlaySource } from '../documents/kinds.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { EgressGuard } from './egress.js';
import { PRODUCTION_STEPS } from './steps.js';
import { BuildFailedError, OverlayPipeline, referencedLowerDirs } from './pipeline.js';
import { BuildStepError, type BuildContext } from './source.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-pipeline-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function overlay(name: string, sources: OverlaySource[], generation: string, refresh?: string): Document<'Overlay'> {
  return { apiVersion: 'left4me/v1', kind: 'Overlay', metadata: { name, owner: 'system' }, spec: { sources, ...(refresh ? { refresh } : {}) }, generation, source: { file: 'x', line: 1, col: 1 } };
}
const files = (content: string, path = 'left4dead2/cfg/a.cfg'): OverlaySource => ({ files: [{ path, content, mode: '0644' }] });
const archive: OverlaySource = { archive: { url: 'http://x/a.zip', sha256: 'a'.repeat(64), stripComponents: 0, maxSize: 1 } };
const failing: OverlaySource = { script: { run: 'exit 3', timeout: '1h' } };

let clock = Date.parse('2026-11-21T00:00:00Z');
function pipeline(dir: string, extra: Record<string, (s: OverlaySource, ctx: BuildContext) => Promise<void>> = {}, limits: { maxArchiveBytes?: number; maxBuildBytes?: number } = {}) {
  mkdirSync(dir, { recursive: true });
  return new OverlayPipeline(
    { overlaysDir: join(dir, 'overlays'), overlaysHostDir: '/var/lib/left4me/overlays', cacheDir: join(dir, 'cache'), logsDir: join(dir, 'logs') },
    { files: PRODUCTION_STEPS.files!, ...Object.fromEntries(Object.entries(extra).map(([k, f]) => [k, (s: OverlaySource, ctx: BuildContext) => (ctx.log('running'), f(s, ctx))])) },
    {},
    { systemd: {} as SystemdAdapter, steamApiBase: 'http://127.0.0.1:1', maxDownloadBytes: 1 << 20, maxArchiveBytes: limits.maxArchiveBytes ?? 1 << 30, maxBuildBytes: limits.maxBuildBytes ?? 1 << 30, egress: new EgressGuard(), layout: hostLayout(), now: () => clock },
  );
}

describe('OverlayPipeline', () => {
  it('builds once into <overlay>/<build>, logs it, and reuses it', async () => {
    const dir = join(root, 'once');
    const p = pipeline(dir);
    const o = overlay('cfg', [files('sv_alltalk 1')], 'g1');
    const id = await p.buildId(o, AbortSignal.timeout(1000));
    expect(id).toBe('g1');
    const first = await p.ensure(o, id);
    expect(first.reused).toBe(false);
    expect(readFileSync(join(dir, 'overlays/cfg/g1/left4dead2/cfg/a.cfg'), 'utf8')).toBe('sv_alltalk 1');
    expect(readFileSync(first.log, 'utf8')).toMatch(/build g1 of overlay cfg .*started[\s\S]*wrote left4dead2\/cfg\/a.cfg[\s\S]*build g1 succeeded/);
    expect((await p.ensure(o, id)).reused).toBe(true);
  });

  it('tells the caller each step (1-based, of all), its kind and label, and what the step reports itself', async () => {
    const seen: unknown[] = [];
    const p = pipeline(join(root, 'progress'), { archive: async (_s, ctx) => ctx.progress?.({ label: 'extract maps.7z' }) });
    const maps: OverlaySource = { archive: { url: 'https://user:pw@example.org/dl/maps%20pack.7z?sig=abc', sha256: 'a'.repeat(64), stripComponents: 0, maxSize: 1 } };
    await p.ensure(overlay('prog', [files('x'), maps], 'g1'), 'g1', (s) => seen.push(s));
    expect(seen).toEqual([
      { step: 1, steps: 2, kind: 'files', label: 'files' },
      { step: 2, steps: 2, kind: 'archive', label: 'download maps pack.7z' },
      { step: 2, steps: 2, kind: 'archive', label: 'extract maps.7z' },
    ]);
  });

  it('concurrent requests for the same build run it once', async () => {
    let runs = 0;
    const p = pipeline(join(root, 'dedupe'), { archive: async () => void runs++ });
    const o = overlay('a', [{ archive: { url: 'http://x/a.zip', sha256: 'a'.repeat(64), stripComponents: 0, maxSize: 1 } }], 'g1');
    await Promise.all([p.ensure(o, 'g1'), p.ensure(o, 'g1'), p.ensure(o, 'g1')]);
    expect(runs).toBe(1);
  });

  it('a failed build leaves no directory, keeps the previous build, and reports the log tail', async () => {
    const dir = join(root, 'fail');
    const p = pipeline(dir, { script: async () => { throw new BuildStepError('script exited with status 3'); } });
    await p.ensure(overlay('maps', [files('v1')], 'good'), 'good');
    const err = await p.ensure(overlay('maps', [files('v2'), failing], 'bad'), 'bad').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildFailedError);
    expect((err as BuildFailedError).message).toBe('overlay maps: script exited with status 3');
    expect((err as BuildFailedError).tail.at(-1)).toMatch(/build bad FAILED: script exited with status 3$/);
    expect(readdirSync(join(dir, 'overlays/maps'))).toEqual(['good']);
    expect(readFileSync(join(dir, 'overlays/maps/good/left4dead2/cfg/a.cfg'), 'utf8')).toBe('v1');
  });

  it('refreshing scripts get a new build id each period; plain specs do not', async () => {
    const p = pipeline(join(root, 'refresh'));
    const o = overlay('sync', [failing], 'g1', '1d');
    const a = await p.buildId(o, AbortSignal.timeout(1000));
    clock += 3_600_000;
    expect(await p.buildId(o, AbortSignal.timeout(1000))).toBe(a);
    clock += 86_400_000;
    expect(await p.buildId(o, AbortSignal.timeout(1000))).not.toBe(a);
    expect(await p.buildId(overlay('plain', [files('x')], 'g9', '1d'), AbortSignal.timeout(1000))).toBe('g9');
  });

  it('collects builds that neither the ready build nor a mounted stack uses', async () => {
    const dir = join(root, 'gc');
    const p = pipeline(dir);
    for (const g of ['b1', 'b2', 'b3', 'b4']) await p.ensure(overlay('o', [files(g)], g), g);
    const mount = 'Options=lowerdir=/var/lib/left4me/instances/a/config/c1:/var/lib/left4me/overlays/o/b2:/var/lib/left4me/installation,upperdir=/u,workdir=/w,index=off\n';
    const removed = await p.collect('o', new Set(['b4']), referencedLowerDirs([mount]));
    expect(removed.sort()).toEqual(['b1', 'b3']);
    expect(existsSync(join(dir, 'overlays/o/b2'))).toBe(true);
    expect(existsSync(join(dir, 'overlays/o/b4'))).toBe(true);
  });

  it("hands each step the operator's archive cap and what is left of the build cap", async () => {
    const seen: [number | undefined, number | undefined][] = [];
    const p = pipeline(join(root, 'caps'), { archive: async (_s, ctx) => void seen.push([ctx.maxArchiveBytes, ctx.buildBytesLeft]) }, { maxArchiveBytes: 5000, maxBuildBytes: 10_000 });
    await p.ensure(overlay('caps', [archive, files('x'.repeat(3000)), archive, files('y'.repeat(500), 'b.cfg'), archive], 'g1'), 'g1');
    expect(seen).toEqual([[5000, 10_000], [5000, 7000], [5000, 6500]]);
  });

  it('fails a build whose steps together pass --max-build-bytes, naming the step, and keeps nothing of it', async () => {
    const dir = join(root, 'too-big');
    const p = pipeline(dir, {}, { maxBuildBytes: 2500 });
    const err = await p.ensure(overlay('big', [files('x'.repeat(2000)), files('y'.repeat(1000), 'b.cfg')], 'g1'), 'g1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildFailedError);
    expect((err as BuildFailedError).message).toBe(
      "overlay big: the build holds 3000 bytes after source 1 (files), more than the controller's limit for a whole build (2500 bytes, --max-build-bytes); make the overlay smaller or split it into several overlays, or ask the operator to raise --max-build-bytes",
    );
    expect(readdirSync(join(dir, 'overlays/big'))).toEqual([]);
  });
});
