import { randomBytes } from 'node:crypto';
import { chmod, cp, lstat, mkdir, readdir, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OverlaySource } from '../documents/kinds.js';
import { ArchiveSandbox } from './archive-sandbox.js';
import { assignLinkTargets, checkEntries, escapesRoot, linksToRead, MAX_ARCHIVE_ENTRIES, maxSizeLimit, SevenZipListing, TarListing, type ArchiveEntry, type SizeLimit } from './archive-listing.js';
import { download, downloadName, downloadProgress } from './download.js';
import { ensureLayerDir, layerPathSegments, prefixed, stepLabel } from './files.js';
import { reclaimTree } from './sandbox-run.js';
import { BuildStepError, type BuildContext } from './source.js';

export { MAX_ARCHIVE_ENTRIES } from './archive-listing.js';

/** The `archive` field of an overlay source. */
export type ArchiveSpec = Extract<OverlaySource, { archive: unknown }>['archive'];

/** Archive formats the controller can list and extract. */
export type ArchiveFormat = NonNullable<ArchiveSpec['format']>;

/**
 * Runs an `archive` step: downloads `spec.url` into `ctx.tmpDir` (checked
 * against `spec.sha256`, at most `spec.maxSize`, `ctx.maxArchiveBytes` and
 * `ctx.maxDownloadBytes`),
 * has the build sandbox list it and refuses it whole if any entry could
 * escape or is not a plain file, directory or contained symlink, has the
 * sandbox extract it (held to the size limit while it runs), checks the
 * result again, takes it from the build account (root-owned, modes
 * normalised) and merges it into `ctx.dir/<target>` (later steps win). The
 * size limit of the content is the smallest of `spec.maxSize`, the
 * operator's `ctx.maxArchiveBytes` and `ctx.buildBytesLeft`. Owns its
 * download and scratch directories and removes both.
 */
export async function buildArchive(spec: ArchiveSpec, ctx: BuildContext): Promise<void> {
  const where = `${stepLabel(ctx)}, archive ${spec.url}`;
  const format = spec.format ?? guessArchiveFormat(spec.url);
  if (format === undefined) {
    throw new BuildStepError(`${where}: cannot tell the archive format from the URL's file name; set format (zip, tar, tar.gz, tar.xz, tar.bz2 or 7z)`);
  }
  const targetSegments = spec.target === undefined ? [] : layerPathSegments(spec.target, `${where}, target`);
  const strip = spec.stripComponents ?? 0;
  const limit = archiveLimit(spec, ctx);

  const file = join(ctx.tmpDir, `archive-${ctx.step}-${randomBytes(6).toString('hex')}`);
  let sandbox: ArchiveSandbox | undefined;
  try {
    try {
      // The file itself is scratch, not part of the build: maxSize and the archive cap bound it, the build cap does not.
      const maxBytes = Math.min(spec.maxSize, ctx.maxArchiveBytes ?? Infinity, ctx.maxDownloadBytes);
      await download(spec.url, file, { sha256: spec.sha256, maxBytes, signal: ctx.signal, egress: ctx.egress, log: ctx.log, onProgress: downloadProgress(ctx, spec.url) });
    } catch (err) {
      throw prefixed(err, `${stepLabel(ctx)}, archive`);
    }
    ctx.progress?.({ label: `extract ${downloadName(spec.url)}` });
    sandbox = await ArchiveSandbox.open(ctx, file);

    const entries = await listArchive(sandbox, format, limit, where);
    const declared = checkEntries(entries, strip, limit, where);
    ctx.log(`archive lists ${entries.length} entries, ${declared} bytes`);

    const raw = await sandbox.extract(format, strip, limit, where);
    let tree = raw;
    if (strip > 0 && (format === 'zip' || format === '7z')) {
      tree = join(raw, '..', 'stripped');
      await mkdir(tree, { mode: 0o700 });
      await stripInto(raw, tree, strip);
    }
    const { entries: extracted, bytes } = await inspectTree(tree, limit, where);
    if (extracted === 0) {
      throw new BuildStepError(`${where}: nothing is left after stripping ${strip} leading path components; lower stripComponents`);
    }
    // The build account wrote the tree; nothing of it stays its own.
    await reclaimTree(tree, ctx.log);
    const dest = await ensureLayerDir(ctx.dir, targetSegments, where);
    await mergeInto(tree, dest);
    ctx.log(`extracted ${extracted} entries (${bytes} bytes) into ${spec.target ?? 'the layer root'}`);
  } finally {
    await sandbox?.close();
    await rm(file, { force: true });
  }
}

/**
 * The size limit of one archive: the document's maxSize, within the
 * operator's cap for one archive and what is left of the cap for the whole
 * build. A maxSize above the cap gets the cap (logged), rather than failing
 * every document that keeps the schema's default.
 */
function archiveLimit(spec: ArchiveSpec, ctx: BuildContext): SizeLimit {
  let limit = maxSizeLimit(spec.maxSize);
  if (ctx.maxArchiveBytes !== undefined && ctx.maxArchiveBytes < limit.bytes) {
    limit = {
      bytes: ctx.maxArchiveBytes,
      label: `the controller's limit for one archive (${ctx.maxArchiveBytes} bytes, --max-archive-bytes)`,
      advice: 'ask the operator to raise --max-archive-bytes, or use a smaller archive',
    };
    ctx.log(`maxSize ${spec.maxSize} is above ${limit.label}; extracting at most that`);
  }
  if (ctx.buildBytesLeft !== undefined && ctx.buildBytesLeft < limit.bytes) {
    limit = {
      bytes: Math.max(0, ctx.buildBytesLeft),
      label: `what is left of the controller's limit for a whole build (${Math.max(0, ctx.buildBytesLeft)} bytes, --max-build-bytes)`,
      advice: 'split the overlay into smaller ones, or ask the operator to raise --max-build-bytes',
    };
  }
  return limit;
}

/** Has the sandbox list the archive and reads the listing as data; a bomb's tar listing is stopped once its declared sizes pass the limit. */
async function listArchive(sandbox: ArchiveSandbox, format: ArchiveFormat, limit: SizeLimit, where: string): Promise<ArchiveEntry[]> {
  if (format !== 'zip' && format !== '7z') {
    const listing = new TarListing(limit, where);
    await sandbox.list(format, (line) => listing.push(line), where);
    return listing.entries;
  }
  const listing = new SevenZipListing(where);
  await sandbox.list(format, (line) => listing.push(line), where);
  const entries = listing.entries();
  const links = linksToRead(entries, where);
  if (links.length > 0) assignLinkTargets(links, await sandbox.readEntries(links.map((l) => l.name), where), where);
  return entries;
}

/** The format implied by the URL path's file name (`.zip`, `.tar`, `.tar.gz`/`.tgz`, `.tar.xz`/`.txz`, `.tar.bz2`/`.tbz2`, `.7z`), or undefined. */
export function guessArchiveFormat(url: string): ArchiveFormat | undefined {
  let path: string;
  try {
    path = new URL(url).pathname.toLowerCase();
  } catch {
    return undefined;
  }
  const suffixes: [string, ArchiveFormat][] = [
    ['.tar.gz', 'tar.gz'],
    ['.tgz', 'tar.gz'],
    ['.tar.xz', 'tar.xz'],
    ['.txz', 'tar.xz'],
    ['.tar.bz2', 'tar.bz2'],
    ['.tbz2', 'tar.bz2'],
    ['.tbz', 'tar.bz2'],
    ['.tar', 'tar'],
    ['.zip', 'zip'],
    ['.7z', '7z'],
  ];
  return suffixes.find(([suffix]) => path.endsWith(suffix))?.[1];
}

/**
 * Walks an extracted tree with lstat: refuses symlinks that resolve outside
 * it, hard-linked files and anything that is not a file, directory or
 * symlink, and the tree when it is bigger than the limit (a plain number is
 * maxSize) or has too many entries; sets directories to 0755 and files to
 * 0644, or 0755 when the owner could execute (set-id bits are dropped).
 * Exported for tests: the listing check and the sandbox's limits make its
 * refusals unreachable through a real archive, which is the point of
 * checking twice.
 */
export async function inspectTree(root: string, limit: number | SizeLimit, where: string): Promise<{ entries: number; bytes: number }> {
  const max = typeof limit === 'number' ? maxSizeLimit(limit) : limit;
  let entries = 0;
  let bytes = 0;
  const links = new Map<string, string>();
  const symlinks: string[] = [];
  const refuse = (rel: string, why: string) => new BuildStepError(`${where}: extracted entry ${JSON.stringify(rel)} ${why}; the archive is refused as a whole, fix or repackage it`);

  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(path);
      if (++entries > MAX_ARCHIVE_ENTRIES) throw new BuildStepError(`${where}: the archive extracted to more than ${MAX_ARCHIVE_ENTRIES} entries; repackage it`);
      if (st.isSymbolicLink()) {
        links.set(relPath, await readlink(path));
        symlinks.push(relPath);
      } else if (st.isDirectory()) {
        await chmod(path, 0o755);
        await walk(path, relPath);
      } else if (st.isFile()) {
        if (st.nlink > 1) throw refuse(relPath, 'is a hard link');
        bytes += st.size;
        if (bytes > max.bytes) throw new BuildStepError(`${where}: the extracted archive is larger than ${max.label}, passed at ${JSON.stringify(relPath)}; ${max.advice}`);
        await chmod(path, st.mode & 0o100 ? 0o755 : 0o644);
      } else {
        throw refuse(relPath, 'is not a file, directory or symlink');
      }
    }
  };
  await walk(root, '');
  // Links are checked once the whole tree is known, since a chain may pass through links listed later.
  for (const rel of symlinks) {
    const target = links.get(rel)!;
    if (escapesRoot(rel.split('/'), target, (p) => links.get(p))) throw refuse(rel, `is a symlink to ${JSON.stringify(target)}, which leaves the target directory`);
  }
  return { entries, bytes };
}

/** Like tar --strip-components for 7z, which cannot strip: moves what lies `strip` levels down in `raw` to the top of `out`. */
async function stripInto(raw: string, out: string, strip: number): Promise<void> {
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      if (depth > strip) {
        await mergeEntry(path, join(out, name));
      } else if ((await lstat(path)).isDirectory()) {
        await walk(path, depth + 1);
      }
      // Files and links above the stripped depth are dropped, as tar does.
    }
  };
  await walk(raw, 1);
}

/** Moves every entry of `src` into `dst`: directories merge, anything else replaces what is there (later steps win). */
async function mergeInto(src: string, dst: string): Promise<void> {
  for (const name of await readdir(src)) await mergeEntry(join(src, name), join(dst, name));
}

async function mergeEntry(src: string, dst: string): Promise<void> {
  const [s, d] = await Promise.all([lstat(src), lstat(dst).catch(() => undefined)]);
  // lstat: a symlink at dst is replaced, never merged into (that would write through it).
  if (s.isDirectory() && d?.isDirectory()) {
    await mergeInto(src, dst);
    return;
  }
  if (d !== undefined) await rm(dst, { recursive: true, force: true });
  try {
    await rename(src, dst);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    // tmpDir may live on another filesystem than the build directory.
    await cp(src, dst, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false });
    await rm(src, { recursive: true, force: true });
  }
}
