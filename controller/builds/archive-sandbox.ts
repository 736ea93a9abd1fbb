/**
 * Where archive bytes are parsed: tar, gzip, xz, bzip2 and 7z run in the
 * build sandbox (sandbox.ts: the build account, the build slice, its limits,
 * no network at all), never in the controller's process tree. The controller
 * hands in the downloaded, checksummed file read-only and gets back text (a
 * listing, read as data by archive-listing.ts), bytes (zip/7z symlink
 * targets) or an extracted tree owned by the build account, which the
 * archive step checks and adopts.
 *
 * An extraction is held to its size limit while it runs: RLIMIT_FSIZE stops
 * the extractor the moment one file passes the limit, and a watcher in the
 * same unit stops it when all files together do (checked every fifth of a
 * second and once more at the end), so an archive whose headers understate
 * its sizes never gets to fill the disk before the check afterwards.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArchiveFormat } from './archive.js';
import { MAX_ARCHIVE_SYMLINKS, MAX_SYMLINK_TARGET, type SizeLimit } from './archive-listing.js';
import { archiveUnitProperties, DEFAULT_SANDBOX_LIMITS, SANDBOX_ARCHIVE_FILE, SANDBOX_NAMES_FILE, SANDBOX_OUTPUT_DIR } from './sandbox.js';
import { createRunDir, inferFsRoot, lookupAccount, readAppended, removeRunDir, runSandboxedUnit, sandboxEnvironment, type Account, type ReadCursor, type RunDir, type SandboxRunSettings } from './sandbox-run.js';
import { BuildStepError, type BuildContext } from './source.js';
import type { HostLayout } from '../host/layout.js';

/** How long one listing or extraction may take before systemd kills it. */
export const ARCHIVE_TIMEOUT_SEC = 3600;
/** The largest listing a tool may print (RLIMIT_FSIZE of its output file): far beyond MAX_ARCHIVE_ENTRIES lines of names. */
const MAX_LISTING_BYTES = 256n * 1024n ** 2n;
/** A listing line longer than this is not one entry's description. */
const MAX_LISTING_LINE = 64 * 1024;
/** Room for the tools' own messages in the run's log, whatever the size limit. */
const MIN_FILE_BYTES = 1024n ** 2n;

const TAR_COMPRESSION: Record<ArchiveFormat, string | undefined> = { tar: undefined, 'tar.gz': '-z', 'tar.xz': '-J', 'tar.bz2': '-j', zip: undefined, '7z': undefined };

// Runs one tool, then says how it exited (our systemd interface reports the Result, not the status).
const RUN_TOOL = 'export LC_ALL="$1"; shift; "$@"; status=$?; echo "left4me: $1 exited with status $status" >&2; exit $status';

// Runs the extractor in the background and stops it once the files in /output pass the limit.
const EXTRACT = [
  'limit=$1; export LC_ALL="$2"; shift 2',
  'size() { find /output -type f -printf "%s\\n" 2>/dev/null | awk "{ s += \\$1 } END { printf \\"%.0f\\n\\", s }"; }',
  '"$@" & pid=$!',
  'while kill -0 "$pid" 2>/dev/null; do',
  '  n=$(size)',
  '  if [ "$n" -gt "$limit" ]; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; echo "left4me: stopped at $n bytes"; exit 90; fi',
  '  sleep 0.2',
  'done',
  'wait "$pid"; status=$?',
  'n=$(size)',
  // 153 = 128 + SIGXFSZ: the kernel stopped the extractor writing one file past RLIMIT_FSIZE.
  'if [ "$status" -eq 153 ] || [ "$n" -gt "$limit" ]; then echo "left4me: stopped at $n bytes"; exit 90; fi',
  'echo "left4me: $1 exited with status $status"',
  'exit $status',
].join('\n');

const STATUS_MARKER = /^left4me: (\S+) exited with status (\d+)$/;
const STOPPED_MARKER = /^left4me: stopped at (\d+) bytes$/;
/** 128 + SIGXFSZ: the kernel stopped a tool writing past RLIMIT_FSIZE. */
const FILE_TOO_LARGE_STATUS = 153;

/**
 * One archive in the build sandbox: owns a per-run directory (the sandbox's
 * skeleton root, its log and listing files) and the extraction directories
 * below `ctx.tmpDir`, all removed by close(). Every run (listing, link
 * targets, extraction) is its own transient unit
 * `left4me-build-<overlay>-<hex>-<n>.service`, described by what it does.
 */
export class ArchiveSandbox {
  private runs = 0;
  private readonly outputs: string[] = [];

  private constructor(
    private readonly ctx: BuildContext,
    private readonly fsRoot: string,
    private readonly layout: HostLayout,
    private readonly settings: SandboxRunSettings,
    private readonly account: Account,
    private readonly run: RunDir,
    private readonly name: string,
    private readonly archiveHostPath: string,
  ) {}

  /** Prepares a sandbox for the archive at `file` (as this process reaches it, below ctx.tmpDir); makes the file world-readable, never writable. */
  static async open(ctx: BuildContext, file: string, settings: SandboxRunSettings = {}): Promise<ArchiveSandbox> {
    const fsRoot = settings.fsRoot ?? inferFsRoot(ctx);
    const layout = settings.layout ?? ctx.layout;
    const account = await lookupAccount(fsRoot, layout.buildUser, layout.buildGroup);
    const name = `left4me-build-${ctx.overlay}-${randomBytes(4).toString('hex')}`;
    await chmod(file, 0o644);
    const run = await createRunDir(fsRoot, layout, settings, name);
    try {
      // Bind targets, so systemd need not create them.
      await writeFile(join(run.localDir, 'root', SANDBOX_ARCHIVE_FILE), '');
      await writeFile(join(run.localDir, 'root', SANDBOX_NAMES_FILE), '');
      await mkdir(join(run.localDir, 'root', SANDBOX_OUTPUT_DIR));
    } catch (err) {
      await removeRunDir(run.localDir);
      throw err;
    }
    return new ArchiveSandbox(ctx, fsRoot, layout, settings, account, run, name, hostPath(fsRoot, file));
  }

  /**
   * Lists the archive: `tar -tv` or `7z l -slt`, whose output lines reach
   * `onLine` while the tool runs. When `onLine` throws, the tool is stopped
   * and that error is the result.
   */
  async list(format: ArchiveFormat, onLine: (line: string) => void, where: string): Promise<void> {
    const tool = format === 'zip' || format === '7z'
      ? ['C.UTF-8', '7z', 'l', '-slt', '-bd', '--', SANDBOX_ARCHIVE_FILE]
      : ['C', 'tar', '-t', '-v', '-f', SANDBOX_ARCHIVE_FILE, '--force-local', '--numeric-owner', '--full-time', '--quoting-style=c', ...compression(format), '--'];
    const listing = join(this.run.localDir, 'listing');
    await writeFile(listing, '', { mode: 0o600 });
    try {
      await this.runTool('list the archive', ['-c', RUN_TOOL, 'left4me-archive', ...tool], { where, stdout: listing, maxFileBytes: MAX_LISTING_BYTES, onStdoutLine: onLine });
    } finally {
      await unlink(listing).catch(() => undefined);
    }
  }

  /** Reads the data of the named entries of a zip or 7z (its symlinks' targets), concatenated in archive order. */
  async readEntries(names: string[], where: string): Promise<Buffer> {
    const listFile = join(this.run.localDir, 'names');
    const out = join(this.run.localDir, 'entries');
    await writeFile(listFile, names.map((n) => `${n}\n`).join(''), { mode: 0o644 });
    await chmod(listFile, 0o644);
    await writeFile(out, '', { mode: 0o600 });
    try {
      const tool = ['C.UTF-8', '7z', 'x', '-so', '-spd', '-bd', '-scsUTF-8', `-i@${SANDBOX_NAMES_FILE}`, '--', SANDBOX_ARCHIVE_FILE];
      await this.runTool("read the archive's symlink targets", ['-c', RUN_TOOL, 'left4me-archive', ...tool], {
        where,
        stdout: out,
        namesFile: `${this.run.hostDir}/names`,
        maxFileBytes: BigInt(MAX_ARCHIVE_SYMLINKS * MAX_SYMLINK_TARGET) + MIN_FILE_BYTES,
      });
      return await readFile(out);
    } finally {
      await unlink(out).catch(() => undefined);
      await unlink(listFile).catch(() => undefined);
    }
  }

  /**
   * Extracts the archive (tar strips `strip` leading components itself; 7z
   * cannot) into a new directory below ctx.tmpDir, owned by the build
   * account, and returns it as this process reaches it. Throws when the
   * extracted files grow past `limit` while extracting.
   */
  async extract(format: ArchiveFormat, strip: number, limit: SizeLimit, where: string): Promise<string> {
    const outer = join(this.ctx.tmpDir, `extract-${this.ctx.step}-${randomBytes(6).toString('hex')}`);
    this.outputs.push(outer);
    await mkdir(outer, { mode: 0o700 });
    const out = join(outer, 'raw');
    await mkdir(out, { mode: 0o755 });
    await chown(out, this.account.uid, this.account.gid);
    const tool = format === 'zip' || format === '7z'
      ? ['C.UTF-8', '7z', 'x', '-y', '-bd', '-bb0', `-o${SANDBOX_OUTPUT_DIR}`, '--', SANDBOX_ARCHIVE_FILE]
      : ['C', 'tar', '-x', '-f', SANDBOX_ARCHIVE_FILE, '-C', SANDBOX_OUTPUT_DIR, '--force-local', '--no-same-owner', '--no-same-permissions', '--delay-directory-restore', `--strip-components=${strip}`, ...compression(format), '--'];
    const maxFileBytes = BigInt(limit.bytes) > MIN_FILE_BYTES ? BigInt(limit.bytes) : MIN_FILE_BYTES;
    const tail = await this.runTool('extract the archive', ['-c', EXTRACT, 'left4me-archive', String(limit.bytes), ...tool], {
      where,
      outputDir: hostPath(this.fsRoot, out),
      maxFileBytes,
      // Judged below: stopping at the limit is a refusal, not a broken archive.
      tolerate: (lines) => stoppedAt(lines) !== undefined,
    });
    const stopped = stoppedAt(tail);
    if (stopped !== undefined) {
      throw new BuildStepError(`${where}: the extracted archive grew past ${limit.label} while extracting; the extraction was stopped at ${stopped} bytes; ${limit.advice}`);
    }
    return out;
  }

  /** Removes the extraction directories and the per-run directory. */
  async close(): Promise<void> {
    for (const dir of this.outputs) await rm(dir, { recursive: true, force: true });
    await removeRunDir(this.run.localDir);
  }

  /**
   * Runs `/bin/bash ARGS` as one transient unit and returns the last lines
   * of its log. Fails with the tool's own messages when it exits non-zero,
   * unless `tolerate` accepts the log.
   */
  private async runTool(
    what: string,
    bashArgs: string[],
    o: { where: string; stdout?: string; outputDir?: string; namesFile?: string; maxFileBytes: bigint; onStdoutLine?: (line: string) => void; tolerate?: (tail: string[]) => boolean },
  ): Promise<string[]> {
    const unit = `${this.name}-${++this.runs}.service`;
    await writeFile(this.run.logLocalPath, '');
    const stop = new AbortController();
    let failure: Error | undefined;
    const fail = (err: Error) => {
      failure ??= err;
      stop.abort(failure);
    };
    const onStdoutLine = o.onStdoutLine;
    const reader = o.stdout !== undefined && onStdoutLine !== undefined
      ? new LineReader(o.stdout, (line) => {
          if (failure) return;
          try {
            onStdoutLine(line);
          } catch (err) {
            fail(err as Error);
          }
        }, fail, o.where)
      : undefined;
    reader?.start();
    let outcome;
    try {
      outcome = await runSandboxedUnit({
        systemd: this.ctx.systemd,
        unit,
        properties: archiveUnitProperties({
          description: `left4me build: ${o.where}: ${what}`,
          archiveFile: this.archiveHostPath,
          ...(o.outputDir !== undefined ? { outputDir: o.outputDir } : {}),
          ...(o.namesFile !== undefined ? { namesFile: o.namesFile } : {}),
          ...(o.stdout !== undefined ? { stdoutFile: hostPath(this.fsRoot, o.stdout) } : {}),
          argv: ['/bin/bash', '--noprofile', '--norc', ...bashArgs],
          maxFileBytes: o.maxFileBytes,
          timeoutSec: ARCHIVE_TIMEOUT_SEC,
          ...sandboxEnvironment(this.run, this.layout, this.settings),
        }),
        logFile: this.run.logLocalPath,
        onLine: () => undefined,
        signal: AbortSignal.any([this.ctx.signal, stop.signal]),
        stopTimeoutSec: this.settings.limits?.stopTimeoutSec ?? DEFAULT_SANDBOX_LIMITS.stopTimeoutSec,
      });
    } catch (err) {
      await reader?.stop().catch(() => undefined);
      throw failure ?? err;
    }
    await reader?.stop().catch((err: unknown) => fail(err as Error));
    if (failure) throw failure;
    if (outcome.result === 'success' || o.tolerate?.(outcome.tail)) return outcome.tail;
    throw toolFailure(o.where, outcome.result, outcome.tail);
  }
}

/** The tool's failure, in the words of its last messages. */
function toolFailure(where: string, result: string, tail: string[]): BuildStepError {
  let tool = 'the archive tool';
  let how = `result ${result}`;
  for (const line of tail) {
    const m = STATUS_MARKER.exec(line);
    if (!m) continue;
    tool = m[1]!;
    const status = Number(m[2]);
    how = status > 128 ? `killed by signal ${status - 128}` : `exit ${status}`;
    if (status === FILE_TOO_LARGE_STATUS) how += ', a file grew past the size limit';
  }
  if (result === 'timeout') how = `killed after ${ARCHIVE_TIMEOUT_SEC} s`;
  const detail = tail.filter((l) => !STATUS_MARKER.test(l) && l.trim() !== '').slice(-5).join(' / ');
  return new BuildStepError(`${where}: ${tool} failed (${how}): ${detail || 'no message'}; check that the archive is intact and its format is right`);
}

function stoppedAt(tail: readonly string[]): number | undefined {
  for (const line of tail) {
    const m = STOPPED_MARKER.exec(line);
    if (m) return Number(m[1]);
  }
  return undefined;
}

function compression(format: ArchiveFormat): string[] {
  const flag = TAR_COMPRESSION[format];
  return flag ? [flag] : [];
}

function hostPath(fsRoot: string, local: string): string {
  if (fsRoot === '/') return local;
  if (!local.startsWith(`${fsRoot}/`)) throw new BuildStepError(`${local} is not below ${fsRoot}; the archive step cannot hand it to the sandbox`);
  return local.slice(fsRoot.length);
}

/**
 * Follows a file another process appends to and hands on each complete
 * line (the last one even without a newline, at stop). A line longer than
 * MAX_LISTING_LINE, which no entry's description is, goes to `fail`.
 */
class LineReader {
  private readonly cursor: ReadCursor = { offset: 0, partial: '' };
  private timer?: NodeJS.Timeout;
  private reading: Promise<void> = Promise.resolve();
  private error: Error | undefined;

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
    private readonly fail: (err: Error) => void,
    private readonly where: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.reading = this.reading.then(() => this.read());
    }, 100);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reading;
    await this.read();
    if (this.cursor.partial !== '' && !this.error) this.onLine(this.cursor.partial);
    this.cursor.partial = '';
  }

  private async read(): Promise<void> {
    if (this.error) return;
    // A listing line longer than any real entry name fails the step.
    await readAppended(this.path, this.cursor, this.onLine, MAX_LISTING_LINE, () => {
      this.error = new BuildStepError(`${this.where}: the archive listing has a line longer than ${MAX_LISTING_LINE} bytes; repackage the archive`);
      this.fail(this.error);
      return false;
    });
  }
}
