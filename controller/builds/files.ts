import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { OverlayFile } from '../documents/kinds.js';
import { download } from './download.js';
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
    const parent = await ensureLayerDir(ctx.dir, segments.slice(0, -1), where);
    const final = join(parent, segments.at(-1)!);
    await refuseDirectory(final, where);
    const tmp = join(parent, `.left4me-tmp-${randomBytes(6).toString('hex')}`);
    try {
      if (entry.content !== undefined) {
        await writeNew(tmp, entry.content, mode);
      } else if (entry.url !== undefined && entry.sha256 !== undefined) {
        try {
          await download(entry.url, tmp, { sha256: entry.sha256, maxBytes: ctx.maxDownloadBytes, signal: ctx.signal, egress: ctx.egress, log: (l) => ctx.log(`${entry.path}: ${l}`) });
        } catch (err) {
          throw prefixed(err, where);
        }
        await chmod(tmp, mode);
      } else {
        throw new BuildStepError(`${where}: needs either content, or url and sha256; add the missing field`);
      }
      // rename replaces a symlink at `final` instead of following it.
      await rename(tmp, final);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
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
 * Creates (mode 0755) or reuses the directory `root/segments...`, checking
 * each component with lstat so an earlier step's symlink or file cannot
 * redirect the write; returns its path. Reads and writes only below `root`.
 */
export async function ensureLayerDir(root: string, segments: string[], where: string): Promise<string> {
  let dir = root;
  for (const [i, segment] of segments.entries()) {
    dir = join(dir, segment);
    const shown = segments.slice(0, i + 1).join('/');
    let st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st === undefined) {
      await mkdir(dir, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await chmod(dir, 0o755); // umask must not narrow what servers may read
      st = await lstat(dir);
    }
    if (st.isSymbolicLink()) {
      throw new BuildStepError(`${where}: ${shown} is a symlink (left by an earlier step); refusing to write through it, remove the link or change the path`);
    }
    if (!st.isDirectory()) {
      throw new BuildStepError(`${where}: ${shown} is a file (left by an earlier step), not a directory; change the path or the earlier step`);
    }
  }
  return dir;
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

async function refuseDirectory(path: string, where: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st?.isDirectory()) throw new BuildStepError(`${where}: a directory already exists there (from an earlier step); change the path`);
}

async function writeNew(path: string, text: string, mode: number): Promise<void> {
  // O_EXCL|O_NOFOLLOW: the temp name is ours alone, never something a previous step planted.
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(text);
    await fh.chmod(mode); // umask must not narrow what servers may read
  } finally {
    await fh.close();
  }
}

/** Keeps the error's class (a person-fixable BuildStepError stays one) and adds where it happened. */
export function prefixed(err: unknown, where: string): Error {
  if (err instanceof BuildStepError) return new BuildStepError(`${where}: ${err.message}`, { cause: err });
  if (err instanceof Error) return new Error(`${where}: ${err.message}`, { cause: err });
  return new Error(`${where}: ${String(err)}`);
}
