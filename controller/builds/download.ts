import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BuildStepError } from './source.js';

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
}

/** What was downloaded. */
export interface DownloadResult {
  bytes: number;
  sha256: string;
}

const MAX_REDIRECTS = 5;
const PROGRESS_STEP = 64 * 1024 * 1024;

/**
 * Downloads `url` (http/https, at most 5 redirects) to `dest`: streams into
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
  // Our own controller stops the transfer when the size limit is hit; the caller's signal stops it on cancel/timeout.
  const limit = new AbortController();
  const signal = AbortSignal.any([opts.signal, limit.signal]);
  log(`downloading ${shown}`);
  const res = await fetchFollowing(url, shown, signal);

  const declared = contentLength(res);
  if (declared !== undefined && declared > opts.maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new BuildStepError(`${shown} is ${declared} bytes (Content-Length), more than the limit of ${opts.maxBytes}; raise the limit (maxSize) if this file is expected to be this large`);
  }
  log(declared !== undefined ? `size ${declared} bytes` : 'size unknown (no Content-Length)');

  const part = `${dest}.part-${randomBytes(6).toString('hex')}`;
  const hash = createHash('sha256');
  let bytes = 0;
  let fh: FileHandle | undefined;
  try {
    fh = await open(part, 'wx', 0o644);
    if (res.body) {
      let nextProgress = PROGRESS_STEP;
      const reader = res.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw transferError(shown, bytes, opts.signal, err);
        }
        if (chunk.done) break;
        bytes += chunk.value.byteLength;
        if (bytes > opts.maxBytes) {
          limit.abort();
          await reader.cancel().catch(() => {});
          throw new BuildStepError(`${shown} is larger than the limit of ${opts.maxBytes} bytes (stopped reading); raise the limit (maxSize) if this file is expected to be this large`);
        }
        hash.update(chunk.value);
        await fh.write(chunk.value);
        if (bytes >= nextProgress) {
          log(`received ${bytes}${declared !== undefined ? ` of ${declared}` : ''} bytes`);
          nextProgress += PROGRESS_STEP;
        }
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
    await syncDir(dirname(dest));
    log(`downloaded ${shown}: ${bytes} bytes, sha256 ${digest}`);
    return { bytes, sha256: digest };
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(part).catch(() => {});
    throw err;
  }
}

/** GET with redirects followed by hand, so each hop's scheme is checked and the count is bounded. */
async function fetchFollowing(url: string, shown: string, signal: AbortSignal): Promise<Response> {
  let current = parseHttpUrl(url, shown);
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await fetch(current, { redirect: 'manual', signal });
    } catch (err) {
      throw transferError(redact(current.href), 0, signal, err);
    }
    if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
      await res.body?.cancel().catch(() => {});
      if (hop >= MAX_REDIRECTS) {
        throw new BuildStepError(`${shown} redirected more than ${MAX_REDIRECTS} times; use the final URL in the document`);
      }
      const location = res.headers.get('location') ?? '';
      current = parseHttpUrl(new URL(location, current).href, `${shown} (redirected to ${redact(location)})`);
      continue;
    }
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel().catch(() => {});
      const hopNote = current.href === url ? '' : ` (after redirects, at ${redact(current.href)})`;
      throw new BuildStepError(`${shown}${hopNote} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}; check the URL`);
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

function contentLength(res: Response): number | undefined {
  const raw = res.headers.get('content-length');
  if (raw === null || !/^\d+$/.test(raw.trim())) return undefined;
  // A compressed transfer's Content-Length is the wire size, not what we count after decoding.
  const encoding = res.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return undefined;
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

async function syncDir(dir: string): Promise<void> {
  // Without this the rename may not survive a power loss even though the data does.
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh.close();
  }
}
