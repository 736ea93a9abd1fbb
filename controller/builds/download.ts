import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import { EgressRefusedError, guardedRequest, type EgressGuard } from './egress.js';
import { BuildStepError, type BuildContext } from './source.js';
import { syncDirectory } from '../fs/atomic.js';

/** Options of one download. */
export interface DownloadOptions {
  /** Expected SHA-256 (hex); a different digest fails the download and leaves `dest` untouched. */
  sha256?: string;
  /** Refuse (and stop reading) past this many bytes. */
  maxBytes: number;
  /** Cancels the transfer (build cancelled or timed out). */
  signal: AbortSignal;
  /** Receives progress lines. */
  log?: (line: string) => void;
  /** Size the caller already knows (e.g. from the Workshop API); a different size fails the download. */
  expectedBytes?: number;
  /** Which addresses every hop may connect to. */
  egress: EgressGuard;
  /** Told the bytes received so far (and the whole, when Content-Length or `expectedBytes` says) once the answer starts and after every chunk. */
  onProgress?: (bytes: number, totalBytes: number | undefined) => void;
}

/** What was downloaded. */
export interface DownloadResult {
  bytes: number;
  sha256: string;
}

const MAX_REDIRECTS = 5;
const PROGRESS_STEP = 64 * 1024 * 1024;

/**
 * Downloads `url` (http/https, at most 5 redirects, every hop only to
 * addresses `opts.egress` accepts) to `dest`: streams into
 * `dest.part-<random>` beside it while counting and hashing, and renames into
 * place only after the size and digest are verified and the data is fsynced,
 * so `dest` is either absent or complete. Owns the `.part-*` file (removed on
 * failure; a crash can leave one behind, never a wrong `dest`). Errors name
 * the URL, not the overlay: callers prefix where the download came from.
 */
export async function download(url: string, dest: string, opts: DownloadOptions): Promise<DownloadResult> {
  const shown = redact(url);
  const log = opts.log ?? (() => {});
  if (opts.expectedBytes !== undefined && opts.expectedBytes > opts.maxBytes) {
    throw new BuildStepError(`${shown} is ${opts.expectedBytes} bytes, more than the limit of ${opts.maxBytes}; raise the limit (maxSize) if this file is expected to be this large`);
  }
  log(`downloading ${shown}`);
  const res = await getFollowing(url, shown, opts.signal, opts.egress);

  const declared = contentLength(res);
  if (declared !== undefined && declared > opts.maxBytes) {
    res.destroy();
    throw new BuildStepError(`${shown} is ${declared} bytes (Content-Length), more than the limit of ${opts.maxBytes}; raise the limit (maxSize) if this file is expected to be this large`);
  }
  log(declared !== undefined ? `size ${declared} bytes` : 'size unknown (no Content-Length)');
  const total = declared ?? opts.expectedBytes;
  opts.onProgress?.(0, total);

  const part = `${dest}.part-${randomBytes(6).toString('hex')}`;
  const hash = createHash('sha256');
  let bytes = 0;
  let fh: FileHandle | undefined;
  try {
    fh = await open(part, 'wx', 0o644);
    let nextProgress = PROGRESS_STEP;
    const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    for (;;) {
      let chunk: IteratorResult<Buffer>;
      try {
        chunk = await chunks.next();
      } catch (err) {
        throw transferError(shown, bytes, opts.signal, err);
      }
      if (chunk.done) break;
      bytes += chunk.value.byteLength;
      if (bytes > opts.maxBytes) {
        res.destroy();
        throw new BuildStepError(`${shown} is larger than the limit of ${opts.maxBytes} bytes (stopped reading); raise the limit (maxSize) if this file is expected to be this large`);
      }
      hash.update(chunk.value);
      await fh.write(chunk.value);
      opts.onProgress?.(bytes, total);
      if (bytes >= nextProgress) {
        log(`received ${bytes}${declared !== undefined ? ` of ${declared}` : ''} bytes`);
        nextProgress += PROGRESS_STEP;
      }
    }
    if (opts.signal.aborted) throw transferError(shown, bytes, opts.signal, opts.signal.reason);
    if (declared !== undefined && bytes !== declared) {
      throw new Error(`download of ${shown} was cut short: received ${bytes} of ${declared} bytes; retry later`);
    }
    if (opts.expectedBytes !== undefined && bytes !== opts.expectedBytes) {
      throw new BuildStepError(`${shown} is ${bytes} bytes, but ${opts.expectedBytes} were expected; the file changed or the transfer was damaged, retry or check the source`);
    }
    const digest = hash.digest('hex');
    if (opts.sha256 !== undefined && digest !== opts.sha256.toLowerCase()) {
      throw new BuildStepError(
        `${shown} has sha256 ${digest}, but the document expects ${opts.sha256.toLowerCase()}; if the new file is trusted, update the document's sha256 to ${digest}`,
      );
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(part, dest);
    await syncDirectory(dirname(dest));
    log(`downloaded ${shown}: ${bytes} bytes, sha256 ${digest}`);
    return { bytes, sha256: digest };
  } catch (err) {
    res.destroy();
    await fh?.close().catch(() => {});
    await unlink(part).catch(() => {});
    throw err;
  }
}

/** GET with redirects followed by hand, so each hop's scheme and address are checked and the count is bounded. */
async function getFollowing(url: string, shown: string, signal: AbortSignal, egress: EgressGuard): Promise<IncomingMessage> {
  let current = parseHttpUrl(url, shown);
  let label = shown;
  for (let hop = 0; ; hop++) {
    let res: IncomingMessage;
    try {
      res = await guardedRequest(current, { guard: egress, signal, shown: label });
    } catch (err) {
      if (err instanceof EgressRefusedError) throw err;
      throw transferError(redact(current.href), 0, signal, err);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      res.destroy();
      if (hop >= MAX_REDIRECTS) {
        throw new BuildStepError(`${shown} redirected more than ${MAX_REDIRECTS} times; use the final URL in the document`);
      }
      let next: string;
      try {
        next = new URL(location, current).href;
      } catch {
        throw new BuildStepError(`${shown} redirected to ${JSON.stringify(location.slice(0, 200))}, which is not a valid URL; use the final URL in the document`);
      }
      label = `${shown} (redirected to ${redact(next)})`;
      current = parseHttpUrl(next, label);
      continue;
    }
    if (status < 200 || status > 299) {
      res.destroy();
      const hopNote = current.href === url ? '' : ` (after redirects, at ${redact(current.href)})`;
      throw new BuildStepError(`${shown}${hopNote} answered HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}; check the URL`);
    }
    return res;
  }
}

function parseHttpUrl(url: string, shown: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BuildStepError(`${shown} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new BuildStepError(`${shown} uses ${parsed.protocol.replace(/:$/, '')}; only http and https downloads are allowed`);
  }
  return parsed;
}

function contentLength(res: IncomingMessage): number | undefined {
  // Bodies are stored as sent (never decoded), so Content-Length is exactly what we count.
  const raw = res.headers['content-length'];
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

function transferError(shown: string, bytes: number, callerSignal: AbortSignal, err: unknown): Error {
  if (callerSignal.aborted) {
    const reason = callerSignal.reason instanceof Error ? callerSignal.reason.message : String(callerSignal.reason);
    return new Error(`download of ${shown} stopped after ${bytes} bytes: ${reason}`, { cause: err });
  }
  const detail = err instanceof Error ? (err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message) : String(err);
  return new Error(`download of ${shown} failed after ${bytes} bytes: ${detail}; retry later or check the URL`, { cause: err });
}

const MAX_NAME_CHARS = 60;

/**
 * What a status may call a download: the last segment of the URL's path
 * (`maps.7z`), decoded, without control characters and cut short; the host
 * when the path has none. Never the query, the fragment or credentials
 * (signed URLs carry tokens there).
 */
export function downloadName(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'file';
  }
  const last = u.pathname.split('/').filter(Boolean).at(-1);
  let name = last ?? u.hostname;
  try {
    name = decodeURIComponent(name);
  } catch {
    // not valid percent-encoding: shown as written
  }
  name = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
  if (name.length > MAX_NAME_CHARS) name = `${name.slice(0, MAX_NAME_CHARS - 1)}…`;
  return name || u.hostname || 'file';
}

/** Says in the step's progress that it downloads `url`, and returns the `onProgress` that reports the bytes under the same label. */
export function downloadProgress(ctx: Pick<BuildContext, 'progress'>, url: string): NonNullable<DownloadOptions['onProgress']> {
  const label = `download ${downloadName(url)}`;
  ctx.progress?.({ label });
  return (bytes, totalBytes) => ctx.progress?.({ label, bytes, ...(totalBytes !== undefined ? { totalBytes } : {}) });
}

/** URLs may carry credentials; logs and statuses must not. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.href;
  } catch {
    return url;
  }
}
