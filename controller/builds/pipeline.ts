// The builds room: overlay layers built as content-addressed, immutable
// directories (a temp dir renamed into place), one step per source —
// files, archive (parsed only in the build sandbox), workshop (cached once per
// item revision, hard-linked), script (sandbox) — and Steam installations
// through steamcmd. Every root-side touch of a build tree goes through
// fs/beneath.ts; every download through egress.ts. This file runs the steps.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { chmod, lstat, mkdir, opendir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { removeTree } from '../fs/remove-tree.js';
import type { HostLayout } from '../host/layout.js';
import { specHash } from '../documents/hash.js';
import { parseDuration } from '../documents/duration.js';
import type { Document, OverlaySource } from '../documents/kinds.js';
import type { BuildStepProgress } from '../status/store.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { downloadName } from './download.js';
import type { EgressGuard } from './egress.js';
import { BuildStepError, type BuildContext, type StepActivity } from './source.js';

/** One kind of build step, keyed by the source's one field name. */
export type StepRunner = (source: OverlaySource, ctx: BuildContext) => Promise<void>;

/** Steps that talk to remote services decide part of the build id from what they find there. */
export interface RemoteFingerprint {
  /** Returns a stable text describing the remote content (e.g. workshop ids and revisions). */
  (source: OverlaySource, ctx: Pick<BuildContext, 'signal' | 'steamApiBase' | 'egress' | 'overlay' | 'step' | 'log'>): Promise<string>;
}

/** Where builds and their logs live, as this process reaches them, and how systemd sees the same dirs. */
export interface PipelinePaths {
  /** `<overlaysDir>` as this process reaches it. */
  overlaysDir: string;
  /** `<overlaysDir>` as systemd sees it. */
  overlaysHostDir: string;
  cacheDir: string;
  logsDir: string;
}

/** What a finished (or failed) build left. */
export interface BuildOutcome {
  build: string;
  /** Build log, as this process reaches it. */
  log: string;
  /** True when the build was already there. */
  reused: boolean;
}

/** A build that failed; `tail` holds the last lines of its log. */
export class BuildFailedError extends Error {
  override name = 'BuildFailedError';
  constructor(
    message: string,
    readonly build: string,
    readonly log: string,
    readonly tail: string[],
  ) {
    super(message);
  }
}

const LOG_TAIL_LINES = 20;

/** What every build of the pipeline gets: systemd, the Steam Web API, the operator's size limits (bytes) and the clock. */
export interface PipelineEnv {
  systemd: SystemdAdapter;
  steamApiBase: string;
  maxDownloadBytes: number;
  /** Cap on one archive's content (a larger maxSize gets this). */
  maxArchiveBytes: number;
  /** Cap on a whole build: checked after every step, and held while an archive extracts. */
  maxBuildBytes: number;
  /** Which addresses downloads and the Steam Web API may reach. */
  egress: EgressGuard;
  /** The host layout build steps run in. */
  layout: HostLayout;
  now: () => number;
}

/**
 * Builds overlays into `<overlaysDir>/<name>/<build>`: a build id from the
 * spec (plus the refresh epoch for scripts and the remote fingerprint for
 * workshop items), every step into a temp dir, one rename when all
 * succeeded. A build that exists is never touched again. Owns the build
 * logs; builds run in `slots` (a queue of bounded concurrency, which the
 * caller may share with its other kinds of build).
 */
export class OverlayPipeline {
  private readonly queue: PQueue;
  private readonly inflight = new Map<string, Promise<BuildOutcome>>();

  constructor(
    private readonly paths: PipelinePaths,
    private readonly steps: Partial<Record<string, StepRunner>>,
    private readonly fingerprints: Partial<Record<string, RemoteFingerprint>>,
    private readonly env: PipelineEnv,
    slots: PQueue | number = 2,
  ) {
    this.queue = typeof slots === 'number' ? new PQueue({ concurrency: slots }) : slots;
  }

  /**
   * The build id of an overlay now: its spec generation, the refresh epoch
   * when it refreshes, and the fingerprints of its remote sources (which cost
   * a request each; callers cache the result between refreshes).
   */
  async buildId(overlay: Document<'Overlay'>, signal: AbortSignal): Promise<string> {
    const parts: unknown[] = [overlay.generation];
    const refresh = overlay.spec.refresh ? parseDuration(overlay.spec.refresh) : undefined;
    for (const [step, source] of overlay.spec.sources.entries()) {
      const kind = Object.keys(source)[0]!;
      const fp = this.fingerprints[kind];
      if (fp) {
        try {
          parts.push(await fp(source, { signal, steamApiBase: this.env.steamApiBase, egress: this.env.egress, overlay: overlay.metadata.name, step, log: () => undefined }));
        } catch (err) {
          // A problem a person must fix (a removed item): let the build run into it, so it is logged
          // like any failed build; a passing failure (network) is retried instead.
          if (!(err instanceof BuildStepError)) throw err;
          parts.push(`unbuildable:${err.message}`);
        }
      }
      // Scripts cannot say whether their output changed: a refresh re-runs them once per period.
      else if (kind === 'script' && refresh) parts.push(Math.floor(this.env.now() / refresh));
    }
    return parts.length === 1 ? overlay.generation : specHash(parts);
  }

  /** The directory of a build, as this process reaches it. */
  dir(overlay: string, build: string): string {
    return join(this.paths.overlaysDir, overlay, build);
  }

  /**
   * Makes sure the build exists (building it, once, if not); rejects with
   * BuildFailedError. `onProgress` hears where the build is, at every step
   * and as often as a step reports (callers throttle); a caller that joins a
   * build already running hears nothing.
   */
  ensure(overlay: Document<'Overlay'>, build: string, onProgress?: (p: BuildStepProgress) => void): Promise<BuildOutcome> {
    const key = `${overlay.metadata.name}/${build}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.run(overlay, build, onProgress).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private logPath(overlay: string, build: string): string {
    return join(this.paths.logsDir, overlay, `${build}.log`);
  }

  private async run(overlay: Document<'Overlay'>, build: string, onProgress?: (p: BuildStepProgress) => void): Promise<BuildOutcome> {
    const name = overlay.metadata.name;
    const final = this.dir(name, build);
    const log = this.logPath(name, build);
    if (await exists(final)) return { build, log, reused: true };
    return (await this.queue.add(async () => {
      if (await exists(final)) return { build, log, reused: true };
      await mkdir(join(this.paths.logsDir, name), { recursive: true });
      const tmpName = `.tmp-${randomBytes(6).toString('hex')}`;
      const tmp = join(this.paths.overlaysDir, name, tmpName);
      const scratch = join(this.paths.overlaysDir, name, `${tmpName}-scratch`);
      await mkdir(tmp, { recursive: true, mode: 0o755 });
      await mkdir(scratch, { recursive: true, mode: 0o700 });
      mkdirSync(join(this.paths.logsDir, name), { recursive: true });
      const write = (line: string) => appendFileSync(log, `${new Date(this.env.now()).toISOString()} ${line}\n`);
      const controller = new AbortController();
      let bytes = 0;
      try {
        // Inside the try: a log that cannot be written (a full disk) fails the build like any step, temp dirs removed.
        write(`build ${build} of overlay ${name} (spec ${overlay.generation}) started`);
        for (const [step, source] of overlay.spec.sources.entries()) {
          const kind = Object.keys(source)[0]!;
          const runner = this.steps[kind];
          if (!runner) throw new BuildStepError(`overlay ${name}: source ${step} (${kind}) cannot be built by this controller`);
          write(`step ${step}: ${kind}`);
          const steps = overlay.spec.sources.length;
          const progress = (a: StepActivity) =>
            onProgress?.({ step: step + 1, steps, kind, label: a.label, ...(a.bytes !== undefined ? { bytes: a.bytes } : {}), ...(a.totalBytes !== undefined ? { totalBytes: a.totalBytes } : {}) });
          progress({ label: stepLabel(source, kind) });
          await runner(source, {
            overlay: name,
            step,
            dir: tmp,
            hostDir: join(this.paths.overlaysHostDir, name, tmpName),
            cacheDir: this.paths.cacheDir,
            tmpDir: scratch,
            log: (line) => write(`  [${kind}] ${line}`),
            progress,
            signal: controller.signal,
            systemd: this.env.systemd,
            steamApiBase: this.env.steamApiBase,
            maxDownloadBytes: this.env.maxDownloadBytes,
            egress: this.env.egress,
            layout: this.env.layout,
            maxArchiveBytes: this.env.maxArchiveBytes,
            buildBytesLeft: this.env.maxBuildBytes - bytes,
          });
          // Steps that cannot be held to the cap while they run (scripts, workshop items) are held to it here.
          bytes = await treeBytes(tmp);
          if (bytes > this.env.maxBuildBytes) {
            throw new BuildStepError(
              `overlay ${name}: the build holds ${bytes} bytes after source ${step} (${kind}), more than the controller's limit for a whole build (${this.env.maxBuildBytes} bytes, --max-build-bytes); make the overlay smaller or split it into several overlays, or ask the operator to raise --max-build-bytes`,
            );
          }
        }
        await chmod(tmp, 0o755);
        await rename(tmp, final);
        write(`build ${build} succeeded`);
        return { build, log, reused: false };
      } catch (err) {
        controller.abort();
        try {
          write(`build ${build} FAILED: ${err instanceof Error ? err.message : String(err)}`);
        } catch {
          // The disk that failed the build may refuse its log line too; the error itself still reaches the status.
        }
        // Whatever a step left (links, any depth) goes without being followed; leftovers are the janitor's.
        await removeTree(tmp).catch(() => undefined);
        const tail = (await readFile(log, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-LOG_TAIL_LINES);
        const text = err instanceof Error ? err.message : String(err);
        // Step errors usually name the overlay already; do not say it twice.
        throw new BuildFailedError(text.startsWith(`overlay ${name}`) ? text : `overlay ${name}: ${text}`, build, log, tail);
      } finally {
        await removeTree(scratch).catch(() => undefined);
      }
    }))!;
  }

  /**
   * Removes builds of an overlay that nothing uses: not `keep` (the ready
   * build), not being built now, and not named by any mounted stack
   * (`referenced`, full build dirs as systemd sees them). Returns what it removed.
   */
  collect(overlay: string, keep: Set<string>, referenced: Set<string>): Promise<string[]> {
    const busy = new Set([...this.inflight.keys()].filter((k) => k.startsWith(`${overlay}/`)).map((k) => k.slice(overlay.length + 1)));
    return collectUnusedBuilds(join(this.paths.overlaysDir, overlay), join(this.paths.overlaysHostDir, overlay), new Set([...keep, ...busy]), referenced);
  }
}

/**
 * Removes the build directories in `local` (systemd's view: `hostDir`) that
 * are neither kept nor named by a mounted stack, without following links or
 * depending on their depth. Unfinished builds (dot names) are left alone.
 * Returns the names removed; when some could not be removed completely,
 * throws after trying all, naming what was left.
 */
export async function collectUnusedBuilds(local: string, hostDir: string, keep: Set<string>, referenced: Set<string>): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(local);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const left: string[] = [];
  for (const e of entries) {
    if (e.startsWith('.') || keep.has(e) || referenced.has(join(hostDir, e))) continue;
    const outcome = await removeTree(join(local, e));
    if (outcome.left.length === 0) removed.push(e);
    else left.push(...outcome.left.map((l) => join(hostDir, l)));
  }
  if (left.length > 0) throw new Error(`could not remove all of ${left.slice(0, 5).join(', ')}${left.length > 5 ? ` and ${left.length - 5} more` : ''}; tried again at the next pass`);
  return removed;
}

/** The apparent size of the regular files below `root`, in bytes; walks with lstat and follows no link. */
export async function treeBytes(root: string): Promise<number> {
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for await (const e of await opendir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory()) stack.push(path);
      else if (e.isFile()) total += (await lstat(path)).size;
    }
  }
  return total;
}

/** What a step is called in the status before it says more itself: `download maps.7z`, `workshop 123456 …`, `script`, `files`. */
function stepLabel(source: OverlaySource, kind: string): string {
  if ('archive' in source) return `download ${downloadName(source.archive.url)}`;
  if ('workshop' in source) {
    const ids = [...(source.workshop.items ?? []), ...(source.workshop.collections ?? [])];
    return `workshop ${ids.slice(0, 3).join(' ')}${ids.length > 3 ? ` and ${ids.length - 3} more` : ''}`.trimEnd();
  }
  return kind;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** The lower dirs of every stack that unit files describe: what must not be collected. */
export function referencedLowerDirs(mountUnitTexts: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const text of mountUnitTexts) {
    const m = /^Options=(.*)$/m.exec(text);
    const lower = m?.[1]?.split(',').find((o) => o.startsWith('lowerdir='));
    for (const d of lower?.slice('lowerdir='.length).split(':') ?? []) out.add(d);
  }
  return out;
}
