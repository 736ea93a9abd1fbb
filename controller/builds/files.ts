import { join } from 'node:path';
import type { OverlayFile } from '../documents/kinds.js';
import { openDirBeneath, UnsafePathError, type Dir } from '../fs/beneath.js';
import { download, downloadProgress } from './download.js';
import { BuildStepError, type BuildContext } from './source.js';

/**
 * Writes a `files` step into `ctx.dir`: inline content, or `url` + `sha256`
 * downloads (up to `ctx.maxDownloadBytes`), each with the entry's mode minus
 * set-id bits and group or other write. Later entries and later steps replace earlier files; nothing
 * is written through a symlink an earlier step left, and unsafe paths are
 * refused again even though the schema already did.
 */
export async function buildFiles(entries: OverlayFile[], ctx: BuildContext): Promise<void> {
  for (const entry of entries) {
    const where = `${stepLabel(ctx)}, file ${JSON.stringify(entry.path)}`;
    const segments = layerPathSegments(entry.path, where);
    const mode = fileMode(entry.mode, where);
    const name = segments.at(-1)!;
    // Every write below goes through this descriptor, so the directory checked is the one written.
    const parent = await openLayerDir(ctx.dir, segments.slice(0, -1), where);
    try {
      if ((await parent.lstat(name))?.isDirectory()) throw new BuildStepError(`${where}: a directory already exists there (from an earlier step); change the path`);
      if (entry.content !== undefined) {
        await parent.writeFile(name, entry.content, mode).catch((err: unknown) => {
          throw prefixed(err, where);
        });
      } else if (entry.url !== undefined && entry.sha256 !== undefined) {
        const tmp = parent.tempName();
        try {
          try {
            await download(entry.url, parent.at(tmp), {
              sha256: entry.sha256,
              maxBytes: ctx.maxDownloadBytes,
              signal: ctx.signal,
              egress: ctx.egress,
              log: (l) => ctx.log(`${entry.path}: ${l}`),
              onProgress: downloadProgress(ctx, entry.url),
            });
          } catch (err) {
            throw prefixed(err, where);
          }
          await parent.chmodFile(tmp, mode);
          // rename replaces a symlink at the file itself instead of following it.
          await parent.replace(tmp, name);
        } catch (err) {
          await parent.unlink(tmp).catch(() => undefined);
          throw prefixed(err, where);
        }
      } else {
        throw new BuildStepError(`${where}: needs either content, or url and sha256; add the missing field`);
      }
    } finally {
      await parent.close();
    }
    ctx.log(`wrote ${entry.path} (${mode.toString(8).padStart(4, '0')})`);
  }
}

/** How a step names itself in messages: overlay and source index. */
export function stepLabel(ctx: Pick<BuildContext, 'overlay' | 'step'>): string {
  return `overlay ${ctx.overlay}, source ${ctx.step}`;
}

/** Splits a layer-relative path into segments, refusing absolute paths, `..`, `.`, empty segments and NUL; `where` prefixes the error. */
export function layerPathSegments(path: string, where: string): string[] {
  const segments = path.split('/');
  if (path.startsWith('/') || path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new BuildStepError(`${where}: path ${JSON.stringify(path)} must be relative, without "..", "." or empty segments; fix the path`);
  }
  return segments;
}

/**
 * Opens (creating, mode 0755, whatever is missing) the directory
 * `root/segments...` one component at a time without following a link, so an
 * earlier step's symlink or file cannot redirect a write; the caller owns the
 * Dir and writes through it. Reads and writes only below `root`.
 */
export async function openLayerDir(root: string, segments: readonly string[], where: string): Promise<Dir> {
  try {
    return await openDirBeneath(root, segments, { create: { mode: 0o755 }, by: 'an earlier step' });
  } catch (err) {
    throw prefixed(err, where);
  }
}

/**
 * Like openLayerDir, but returns the directory's path for callers that
 * still write by path (archive extraction, which moves into the sandbox).
 */
export async function ensureLayerDir(root: string, segments: string[], where: string): Promise<string> {
  await (await openLayerDir(root, segments, where)).close();
  return join(root, ...segments);
}

/**
 * Parses an octal mode string and drops set-id and sticky bits and group and
 * other write (the schema allows none; this is the second line of defence):
 * a file another account could rewrite would let it change what every server
 * stacking this overlay runs.
 */
function fileMode(text: string | undefined, where: string): number {
  if (text === undefined) return 0o644;
  if (!/^0?[0-7]{3}$/.test(text)) throw new BuildStepError(`${where}: mode ${JSON.stringify(text)} is not an octal permission like 0644; fix the mode`);
  return parseInt(text, 8) & 0o755;
}

/** Keeps the error's class (a person-fixable BuildStepError stays one) and adds where it happened. */
export function prefixed(err: unknown, where: string): Error {
  if (err instanceof Error && err.message.startsWith(`${where}: `)) return err;
  if (err instanceof BuildStepError) return new BuildStepError(`${where}: ${err.message}`, { cause: err });
  // A link or file in the way stays there until a person changes a step: as final as a bad checksum.
  if (err instanceof UnsafePathError) return new BuildStepError(`${where}: ${err.message} (change that step, or this path)`, { cause: err });
  if (err instanceof Error) return new Error(`${where}: ${err.message}`, { cause: err });
  return new Error(`${where}: ${String(err)}`);
}
