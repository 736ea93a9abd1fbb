// The `workshop` source: Steam Workshop items (and every item of the listed
// collections) installed as left4dead2/addons/<id>.vpk. Resolving asks the
// Web API what the ids are now (revision = time_updated); building downloads
// each revision once into the shared cache and hard-links it into the layer,
// so every overlay that uses an item shares one inode.
import { createHash } from 'node:crypto';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openDirBeneath, UnsafePathError, type Dir } from '../fs/beneath.js';
import { download, type DownloadOptions } from './download.js';
import { BuildStepError, type BuildContext } from './source.js';
import { getCollectionDetails, getPublishedFileDetails, type CollectionDetails, type PublishedFileDetails, type SteamApiOptions } from './steam-api.js';

/** The `workshop` source of an overlay spec (ids as strings, as the loader normalises them). */
export interface WorkshopSpec {
  items?: string[];
  collections?: string[];
}

/** One item to install, as Steam describes it now. */
export interface WorkshopItem {
  id: string;
  /** time_updated: a new value means a new file. */
  revision: number;
  title: string;
  fileUrl: string;
  /** Bytes Steam advertises; undefined when it did not say. */
  fileSize: number | undefined;
}

/** One item (or listed collection) that cannot be installed, and why. */
export interface WorkshopProblem {
  id: string;
  kind: 'item' | 'collection';
  /** Steam's title, or undefined when Steam did not give one (removed items). */
  title: string | undefined;
  message: string;
  /** Whether a person must act (true) or a retry may fix it (false, e.g. a dropped connection). */
  permanent: boolean;
}

/** Items of a workshop step that cannot be installed and need a person (at least one problem is permanent); the message lists every one. */
export class WorkshopItemsError extends BuildStepError {
  override name = 'WorkshopItemsError';
  constructor(
    message: string,
    readonly problems: WorkshopProblem[],
  ) {
    super(message);
  }
}

/** Items of a workshop step that failed only for reasons a retry may fix (dropped downloads, incomplete answers); the message lists every one. */
export class WorkshopRetryError extends Error {
  override name = 'WorkshopRetryError';
  constructor(
    message: string,
    readonly problems: WorkshopProblem[],
  ) {
    super(message);
  }
}

/** What resolving needs from a build context (the pipeline resolves before it has a build directory). */
export type ResolveContext = Pick<BuildContext, 'overlay' | 'step' | 'log' | 'signal' | 'steamApiBase' | 'egress'>;

/** Left 4 Dead 2's app id: items for other games are refused. */
export const L4D2_APP_ID = 550;
const FILETYPE_ITEM = 0;
const FILETYPE_COLLECTION = 2;
/** Bounds on what collections may expand to, so a pathological nesting cannot run the build forever. */
const MAX_COLLECTIONS = 1024;
const MAX_ITEMS = 4096;
const PARALLEL_DOWNLOADS = 4;

/**
 * Reads the Web API: expands collections (nested ones too, each once),
 * dedupes items (first mention wins the order), and returns every item with
 * its current revision. Writes nothing. Throws WorkshopItemsError (or
 * WorkshopRetryError) listing every item that cannot be installed, or a plain
 * Error when the API failed.
 */
export async function resolveWorkshop(spec: WorkshopSpec, ctx: ResolveContext): Promise<WorkshopItem[]> {
  const { items, problems } = await resolve(spec, ctx);
  if (problems.length) throw itemsError(ctx, problems);
  return items;
}

/**
 * Installs the step's items into `ctx.dir/left4dead2/addons/<id>.vpk`: each
 * item revision is downloaded once into `ctx.cacheDir/workshop/<id>-<revision>.vpk`
 * (owned by the cache; never rewritten in place) and hard-linked into the
 * layer. Pass `resolved` when the pipeline already resolved the step for its
 * fingerprint, so Steam is not asked twice. Returns the installed items; throws
 * one WorkshopItemsError (or WorkshopRetryError) listing every item that failed.
 */
export async function buildWorkshop(spec: WorkshopSpec, ctx: BuildContext, resolved?: WorkshopItem[]): Promise<WorkshopItem[]> {
  const { items, problems } = resolved ? { items: resolved, problems: [] } : await resolve(spec, ctx);
  const cache = join(ctx.cacheDir, 'workshop');
  await mkdir(cache, { recursive: true });
  const addons = await openAddons(ctx);
  let failed: unknown;
  try {
    const progress = workshopProgress(ctx, items);
    failed = await eachLimited(items, PARALLEL_DOWNLOADS, async (item) => {
      const cached = join(cache, `${item.id}-${item.revision}.vpk`);
      try {
        await ensureCached(item, cached, ctx, progress.of(item));
        progress.done(item);
        await linkInto(cached, addons, `${item.id}.vpk`);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const text = err instanceof Error ? err.message : String(err);
        const permanent = err instanceof BuildStepError || err instanceof UnsafePathError;
        problems.push({ id: item.id, kind: 'item', title: item.title, message: `could not be installed from Steam's file_url: ${text}`, permanent });
      }
    });
  } finally {
    await addons.close();
  }
  if (ctx.signal.aborted) throw new Error(`overlay ${ctx.overlay}, source ${ctx.step} (workshop): stopped: ${abortReason(ctx.signal)}`, { cause: failed });
  if (failed) throw failed;
  if (problems.length) throw itemsError(ctx, problems);
  ctx.log(`workshop: installed ${items.length} item${items.length === 1 ? '' : 's'} into left4dead2/addons`);
  return items;
}

/**
 * The step's progress over all its items at once (they download in
 * parallel): the label names the item that reported last and its place in
 * the list, the bytes are those of every item together (a cached item counts
 * whole), and the whole is known when Steam gave every item's size.
 */
function workshopProgress(ctx: BuildContext, items: readonly WorkshopItem[]) {
  const received = new Map<string, number>();
  const sizes = items.map((i) => i.fileSize);
  const totalBytes = sizes.every((n): n is number => n !== undefined && n > 0) ? sizes.reduce((a, b) => a + b, 0) : undefined;
  const position = new Map(items.map((item, i) => [item.id, i + 1]));
  const report = (item: WorkshopItem) => {
    let bytes = 0;
    for (const n of received.values()) bytes += n;
    ctx.progress?.({ label: `workshop ${item.id} (${position.get(item.id)}/${items.length})`, bytes, ...(totalBytes !== undefined ? { totalBytes } : {}) });
  };
  return {
    of: (item: WorkshopItem): NonNullable<DownloadOptions['onProgress']> => (bytes) => {
      received.set(item.id, bytes);
      report(item);
    },
    done: (item: WorkshopItem) => {
      received.set(item.id, item.fileSize ?? received.get(item.id) ?? 0);
      report(item);
    },
  };
}

/** A digest of the items' ids and revisions (order-free); the pipeline mixes it into the build id, so a refresh rebuilds only when an item changed. */
export function workshopFingerprint(resolved: readonly WorkshopItem[]): string {
  const lines = resolved.map((item) => `${item.id}@${item.revision}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** Items Steam can give us, and the per-item problems of the rest. */
async function resolve(spec: WorkshopSpec, ctx: ResolveContext): Promise<{ items: WorkshopItem[]; problems: WorkshopProblem[] }> {
  const api: SteamApiOptions = { base: ctx.steamApiBase, signal: ctx.signal, egress: ctx.egress };
  const where = `overlay ${ctx.overlay}, source ${ctx.step} (workshop)`;
  const problems: WorkshopProblem[] = [];
  // item id → the collection it came from (undefined: listed directly), for messages.
  const wanted = new Map<string, string | undefined>();
  for (const id of spec.items ?? []) if (!wanted.has(id)) wanted.set(id, undefined);

  const collections = await expandCollections(spec.collections ?? [], api, where, ctx, problems);
  for (const [collection, children] of walkCollections(spec.collections ?? [], collections)) {
    for (const id of children) if (!wanted.has(id)) wanted.set(id, collection);
  }
  if (wanted.size > MAX_ITEMS) {
    throw new BuildStepError(`${where}: the ids and collections expand to ${wanted.size} items, more than ${MAX_ITEMS}; split them over several overlays`);
  }

  let details: PublishedFileDetails[];
  try {
    details = await getPublishedFileDetails([...wanted.keys()], api);
  } catch (err) {
    throw new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const byId = new Map(details.map((d) => [d.publishedfileid, d]));
  const items: WorkshopItem[] = [];
  for (const [id, from] of wanted) {
    const d = byId.get(id);
    const via = from === undefined ? '' : ` (from collection ${from})`;
    const problem = (message: string, title = d?.title || undefined) => problems.push({ id, kind: 'item', title, message: `${message}${via}`, permanent: true });
    if (!d) {
      problems.push({ id, kind: 'item', title: undefined, message: `Steam returned no details for it${via}; retry later`, permanent: false });
    } else if (d.result !== 1) {
      problem(`is not available on the Steam Workshop (result ${d.result}: removed, private, or not a published file id); remove it from the document or ask its author to make it public`);
    } else if (d.banned) {
      problem('is banned on the Steam Workshop; remove it from the document');
    } else if (d.consumer_app_id !== L4D2_APP_ID) {
      problem(`is an item for Steam app ${d.consumer_app_id ?? '(unknown)'}, not Left 4 Dead 2 (${L4D2_APP_ID}); check the id`);
    } else if (!d.file_url) {
      problem(
        `has no direct download (Steam's file_url is empty): it can only be downloaded through the Steam client or steamcmd (workshop_download_item ${L4D2_APP_ID} ${id}); install it with a script source or an archive instead, or drop it (if it is a collection, list it under collections)`,
      );
    } else if (d.time_updated === undefined) {
      problems.push({ id, kind: 'item', title: d.title || undefined, message: `Steam gave no time_updated for it${via}; retry later`, permanent: false });
    } else {
      items.push({ id, revision: d.time_updated, title: d.title, fileUrl: d.file_url, fileSize: d.file_size });
    }
  }
  ctx.log(`workshop: ${items.length} item${items.length === 1 ? '' : 's'} resolved${collections.size ? ` (${collections.size} collection${collections.size === 1 ? '' : 's'} expanded)` : ''}`);
  return { items, problems };
}

/** Fetches collections level by level (one batched request per level), each id once, so cycles end. */
async function expandCollections(
  roots: readonly string[],
  api: SteamApiOptions,
  where: string,
  ctx: ResolveContext,
  problems: WorkshopProblem[],
): Promise<Map<string, CollectionDetails>> {
  const found = new Map<string, CollectionDetails>();
  const seen = new Set<string>(roots);
  let level = [...seen];
  while (level.length) {
    if (seen.size > MAX_COLLECTIONS) {
      throw new BuildStepError(`${where}: the collections nest into more than ${MAX_COLLECTIONS} collections; list fewer`);
    }
    let answer: CollectionDetails[];
    try {
      answer = await getCollectionDetails(level, api);
    } catch (err) {
      throw new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const byId = new Map(answer.map((c) => [c.publishedfileid, c]));
    const next: string[] = [];
    for (const id of level) {
      const c = byId.get(id);
      if (!c) {
        problems.push({ id, kind: 'collection', title: undefined, message: 'Steam returned no details for it; retry later', permanent: false });
        continue;
      }
      if (c.result !== 1) {
        problems.push({ id, kind: 'collection', title: undefined, message: `is not available (result ${c.result}: removed, private, or not a collection id); remove it from the document`, permanent: true });
        continue;
      }
      found.set(id, c);
      if (!c.children.length) ctx.log(`workshop: collection ${id} has no items (or is an item, not a collection)`);
      for (const child of c.children) {
        if (child.filetype === FILETYPE_COLLECTION && !seen.has(child.publishedfileid)) {
          seen.add(child.publishedfileid);
          next.push(child.publishedfileid);
        } else if (child.filetype !== FILETYPE_COLLECTION && child.filetype !== FILETYPE_ITEM) {
          ctx.log(`workshop: skipping ${child.publishedfileid} in collection ${id}: filetype ${child.filetype} is neither an item nor a collection`);
        }
      }
    }
    level = next;
  }
  return found;
}

/** Yields [collection, item ids in sortorder] depth-first from the roots, visiting each collection once. */
function* walkCollections(roots: readonly string[], found: Map<string, CollectionDetails>): Generator<[string, string[]]> {
  const visited = new Set<string>();
  function* visit(id: string): Generator<[string, string[]]> {
    if (visited.has(id)) return;
    visited.add(id);
    const c = found.get(id);
    if (!c) return;
    const children = [...c.children].sort((a, b) => a.sortorder - b.sortorder);
    // Items and nested collections interleave in the order the author sorted them.
    for (const child of children) {
      if (child.filetype === FILETYPE_ITEM) yield [id, [child.publishedfileid]];
      else if (child.filetype === FILETYPE_COLLECTION) yield* visit(child.publishedfileid);
    }
  }
  for (const root of roots) yield* visit(root);
}

// cache path → the download filling it. Two builds in this process that need
// the same revision share one transfer; across processes download()'s
// rename-into-place means nobody sees half a file (at worst both download).
const inflight = new Map<string, Promise<void>>();

/** Makes `cached` hold the item's current file, downloading it at most once per revision. */
async function ensureCached(item: WorkshopItem, cached: string, ctx: BuildContext, onProgress?: DownloadOptions['onProgress']): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    let p = inflight.get(cached);
    const ours = !p;
    if (!p) {
      p = fill(item, cached, ctx, onProgress).finally(() => inflight.delete(cached));
      inflight.set(cached, p);
    }
    try {
      return await p;
    } catch (err) {
      // Another build's cancellation must not fail ours: try once ourselves.
      if (ours || attempt > 0 || ctx.signal.aborted) throw err;
    }
  }
}

async function fill(item: WorkshopItem, cached: string, ctx: BuildContext, onProgress?: DownloadOptions['onProgress']): Promise<void> {
  const existing = await stat(cached).catch(() => undefined);
  if (existing && (item.fileSize === undefined || existing.size === item.fileSize)) {
    ctx.log(`workshop: ${item.id} (${item.title}) revision ${item.revision} is cached`);
    return;
  }
  // A cached file of the wrong size was replaced on Steam without a new time_updated; a new inode replaces it, builds holding the old one keep it.
  await download(item.fileUrl, cached, {
    maxBytes: ctx.maxDownloadBytes,
    signal: ctx.signal,
    egress: ctx.egress,
    log: (line) => ctx.log(`workshop: ${item.id}: ${line}`),
    ...(onProgress ? { onProgress } : {}),
    ...(item.fileSize !== undefined && item.fileSize > 0 ? { expectedBytes: item.fileSize } : {}),
  });
  // Game servers read the layer as an unprivileged user; the umask must not narrow the shared inode.
  await chmod(cached, 0o644);
}

/**
 * Opens (creating, 0755 whatever the umask) `left4dead2/addons` of the
 * build without following a link: an earlier script step may have left
 * either as a symlink to anywhere, and root must not link through it.
 */
async function openAddons(ctx: BuildContext): Promise<Dir> {
  try {
    return await openDirBeneath(ctx.dir, ['left4dead2', 'addons'], { create: { mode: 0o755 }, by: 'an earlier step' });
  } catch (err) {
    if (!(err instanceof UnsafePathError)) throw err;
    throw new BuildStepError(`overlay ${ctx.overlay}, source ${ctx.step} (workshop): ${err.message} (remove the link in that step, or do not install workshop items into it)`, { cause: err });
  }
}

/** Hard-links `cached` as `name` in the open addons directory, replacing a file an earlier step put there (later steps win). */
async function linkInto(cached: string, addons: Dir, name: string): Promise<void> {
  try {
    await addons.linkFrom(cached, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EXDEV') {
      throw new BuildStepError('the workshop cache and the overlay builds are on different filesystems, so the file cannot be hard-linked; keep the cache and overlays directories on one filesystem');
    }
    throw err;
  }
}

/** Runs `fn` over `list`, at most `limit` at a time; resolves with the first error thrown (after all settle). */
async function eachLimited<T>(list: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<unknown> {
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    while (next < list.length) {
      const item = list[next++]!;
      try {
        await fn(item);
      } catch (err) {
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, list.length) }, worker));
  return firstError;
}

function itemsError(ctx: ResolveContext, problems: WorkshopProblem[]): WorkshopItemsError | WorkshopRetryError {
  const lines = problems.map((p) => `  - workshop ${p.kind} ${p.id}${p.title ? ` "${p.title}"` : ''} ${p.message}`);
  const count = (kind: WorkshopProblem['kind']) => {
    const n = problems.filter((p) => p.kind === kind).length;
    return n ? `${n} ${kind}${n === 1 ? '' : 's'}` : '';
  };
  const what = [count('item'), count('collection')].filter(Boolean).join(' and ');
  const message = `overlay ${ctx.overlay}, source ${ctx.step} (workshop): ${what} cannot be installed:\n${lines.join('\n')}`;
  return problems.some((p) => p.permanent) ? new WorkshopItemsError(message, problems) : new WorkshopRetryError(message, problems);
}

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r);
}
