import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OverlaySource } from '../documents/kinds.js';
import { download } from './download.js';
import { ensureLayerDir, layerPathSegments, prefixed, stepLabel } from './files.js';
import { BuildStepError, type BuildContext } from './source.js';

/** The `archive` field of an overlay source. */
export type ArchiveSpec = Extract<OverlaySource, { archive: unknown }>['archive'];

/** Archive formats the controller can list and extract. */
export type ArchiveFormat = NonNullable<ArchiveSpec['format']>;

/** More entries than this is not a map pack; listing it would only burn memory. */
export const MAX_ARCHIVE_ENTRIES = 200_000;

/** Symlink targets are read separately for zip/7z; a map pack needs few, and each is a short path. */
const MAX_ARCHIVE_SYMLINKS = 1_000;
const MAX_SYMLINK_TARGET = 4_096;
/** Symlink chains longer than this are treated as loops (the kernel's own limit is 40). */
const MAX_LINK_HOPS = 40;

/** What a listing says about one entry. `name` is as stored in the archive. */
interface ArchiveEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'socket' | 'other';
  size: number;
  linkTarget?: string;
  encrypted?: boolean;
}

/**
 * Runs an `archive` step: downloads `spec.url` into `ctx.tmpDir` (checked
 * against `spec.sha256`, at most `spec.maxSize` and `ctx.maxDownloadBytes`),
 * lists it and refuses it whole if any entry could escape or is not a plain
 * file, directory or contained symlink, extracts into a scratch directory in
 * `ctx.tmpDir`, checks the result again, normalises modes and merges it into
 * `ctx.dir/<target>` (later steps win). Owns its download and scratch
 * directory and removes both.
 */
export async function buildArchive(spec: ArchiveSpec, ctx: BuildContext): Promise<void> {
  const where = `${stepLabel(ctx)}, archive ${spec.url}`;
  const format = spec.format ?? guessArchiveFormat(spec.url);
  if (format === undefined) {
    throw new BuildStepError(`${where}: cannot tell the archive format from the URL's file name; set format (zip, tar, tar.gz, tar.xz, tar.bz2 or 7z)`);
  }
  const targetSegments = spec.target === undefined ? [] : layerPathSegments(spec.target, `${where}, target`);
  const strip = spec.stripComponents ?? 0;
  const maxSize = spec.maxSize;

  const file = join(ctx.tmpDir, `archive-${ctx.step}-${randomBytes(6).toString('hex')}`);
  let scratch: string | undefined;
  try {
    try {
      await download(spec.url, file, { sha256: spec.sha256, maxBytes: Math.min(maxSize, ctx.maxDownloadBytes), signal: ctx.signal, egress: ctx.egress, log: ctx.log });
    } catch (err) {
      throw prefixed(err, `${stepLabel(ctx)}, archive`);
    }

    const entries = format === 'zip' || format === '7z' ? await list7z(file, where, ctx.signal) : await listTar(file, format, maxSize, where, ctx.signal);
    const declared = checkEntries(entries, strip, maxSize, where);
    ctx.log(`archive lists ${entries.length} entries, ${declared} bytes`);

    scratch = await mkdtemp(join(ctx.tmpDir, `extract-${ctx.step}-`));
    const raw = join(scratch, 'raw');
    await mkdir(raw, { mode: 0o700 });
    let tree = raw;
    if (format === 'zip' || format === '7z') {
      await run('7z', ['x', '-y', '-bd', '-bb0', `-o${raw}`, '--', file], { where, signal: ctx.signal, locale: 'C.UTF-8' });
      if (strip > 0) {
        tree = join(scratch, 'stripped');
        await mkdir(tree, { mode: 0o700 });
        await stripInto(raw, tree, strip);
      }
    } else {
      const args = ['-x', '-f', file, '-C', raw, '--force-local', '--no-same-owner', '--no-same-permissions', '--delay-directory-restore', `--strip-components=${strip}`];
      const compression = TAR_COMPRESSION[format];
      if (compression) args.push(compression);
      await run('tar', [...args, '--'], { where, signal: ctx.signal, locale: 'C' });
    }

    const { entries: extracted, bytes } = await inspectTree(tree, maxSize, where);
    if (extracted === 0) {
      throw new BuildStepError(`${where}: nothing is left after stripping ${strip} leading path components; lower stripComponents`);
    }
    const dest = await ensureLayerDir(ctx.dir, targetSegments, where);
    await mergeInto(tree, dest);
    ctx.log(`extracted ${extracted} entries (${bytes} bytes) into ${spec.target ?? 'the layer root'}`);
  } finally {
    await rm(file, { force: true });
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
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

const TAR_COMPRESSION: Record<ArchiveFormat, string | undefined> = { tar: undefined, 'tar.gz': '-z', 'tar.xz': '-J', 'tar.bz2': '-j', zip: undefined, '7z': undefined };

/**
 * Refuses the archive at its first entry that is absolute, has `..`, is not a
 * file, directory or symlink, is encrypted, lies under a symlink of the same
 * archive (extraction would write through it), or is a symlink that resolves
 * outside the extraction root; and when the entry count or declared total
 * size is over the limit. Returns the declared total size.
 */
function checkEntries(entries: ArchiveEntry[], strip: number, maxSize: number, where: string): number {
  if (entries.length > MAX_ARCHIVE_ENTRIES) {
    throw new BuildStepError(`${where}: the archive has more than ${MAX_ARCHIVE_ENTRIES} entries; repackage it or use a script step`);
  }
  const refuse = (entry: ArchiveEntry, why: string) =>
    new BuildStepError(`${where}: entry ${JSON.stringify(entry.name)} ${why}; the archive is refused as a whole, fix or repackage it`);

  // Paths as they land below the target, like tar's --strip-components: "." segments count, empty ones do not.
  const landed = new Map<ArchiveEntry, string[]>();
  const links = new Map<string, string>();
  let total = 0;
  for (const entry of entries) {
    const parts = entry.name.split('/');
    if (entry.name.startsWith('/')) throw refuse(entry, 'is an absolute path');
    if (parts.includes('..')) throw refuse(entry, 'contains ".."');
    if (entry.name.includes('\0')) throw refuse(entry, 'contains a NUL byte');
    if (entry.encrypted) throw refuse(entry, 'is encrypted (there is no password to give)');
    switch (entry.type) {
      case 'file':
      case 'dir':
      case 'symlink':
        break;
      case 'hardlink':
        throw refuse(entry, `is a hard link${entry.linkTarget !== undefined ? ` to ${JSON.stringify(entry.linkTarget)}` : ''} (not allowed: it can alias files outside the layer)`);
      case 'device':
        throw refuse(entry, 'is a device node');
      case 'fifo':
        throw refuse(entry, 'is a FIFO');
      case 'socket':
        throw refuse(entry, 'is a socket');
      default:
        throw refuse(entry, 'is neither a file, a directory nor a symlink');
    }
    total += entry.size;
    if (total > maxSize) throw tooLarge(entry, maxSize, where);
    const kept = parts.filter((p) => p !== '').slice(strip).filter((p) => p !== '.');
    if (kept.length === 0) continue;
    landed.set(entry, kept);
    if (entry.type === 'symlink') links.set(kept.join('/'), entry.linkTarget ?? '');
  }

  for (const [entry, kept] of landed) {
    for (let i = 1; i < kept.length; i++) {
      const prefix = kept.slice(0, i).join('/');
      if (links.has(prefix)) throw refuse(entry, `lies under the symlink ${JSON.stringify(prefix)} of the same archive, so extracting it would write through the link`);
    }
    if (entry.type === 'symlink') {
      const target = entry.linkTarget ?? '';
      if (target === '') throw refuse(entry, 'is a symlink without a target');
      if (escapesRoot(kept, target, (rel) => links.get(rel))) {
        throw refuse(entry, `is a symlink to ${JSON.stringify(target)}, which leaves the target directory`);
      }
    }
  }
  return total;
}

function tooLarge(entry: ArchiveEntry, maxSize: number, where: string): BuildStepError {
  return new BuildStepError(`${where}: the archive declares more than maxSize (${maxSize} bytes) of content, passed at entry ${JSON.stringify(entry.name)}; raise maxSize if the archive is trusted and really this large`);
}

/**
 * Whether a symlink at `linkPath` (segments below the root) pointing at
 * `target` resolves outside the root, following further links through
 * `readLink` (which answers for paths relative to the root). Loops and
 * over-long chains count as escaping.
 */
function escapesRoot(linkPath: string[], target: string, readLink: (rel: string) => string | undefined): boolean {
  if (target.startsWith('/')) return true;
  const stack = linkPath.slice(0, -1);
  const pending = target.split('/');
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return true;
      stack.pop();
      continue;
    }
    stack.push(part);
    const next = readLink(stack.join('/'));
    if (next === undefined) continue;
    if (++hops > MAX_LINK_HOPS || next.startsWith('/')) return true;
    stack.pop();
    pending.unshift(...next.split('/'));
  }
  return false;
}

/**
 * Lists a tar (any compression) with GNU tar; `--quoting-style=c` keeps names
 * with spaces, arrows or newlines unambiguous. Listing a compressed tar
 * decompresses all of it, so a bomb is stopped as soon as its declared sizes
 * pass `maxSize` rather than after the whole stream.
 */
async function listTar(file: string, format: ArchiveFormat, maxSize: number, where: string, signal: AbortSignal): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  let total = 0;
  const args = ['-t', '-v', '-f', file, '--force-local', '--numeric-owner', '--full-time', '--quoting-style=c'];
  const compression = TAR_COMPRESSION[format];
  if (compression) args.push(compression);
  await run('tar', [...args, '--'], {
    where,
    signal,
    locale: 'C',
    onLine: (line) => {
      if (line === '') return;
      const entry = parseTarLine(line, where);
      entries.push(entry);
      total += entry.size;
      if (total > maxSize) throw tooLarge(entry, maxSize, where);
      if (entries.length > MAX_ARCHIVE_ENTRIES) {
        throw new BuildStepError(`${where}: the archive has more than ${MAX_ARCHIVE_ENTRIES} entries; repackage it or use a script step`);
      }
    },
  });
  return entries;
}

const TAR_LINE = /^(.)[rwxsStT-]{9}\S*\s+\d+\/\d+\s+(\S+)\s+\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d\s+(".*)$/;
const TAR_TYPES: Record<string, ArchiveEntry['type']> = { '-': 'file', d: 'dir', l: 'symlink', h: 'hardlink', c: 'device', b: 'device', p: 'fifo', s: 'socket' };

function parseTarLine(line: string, where: string): ArchiveEntry {
  const m = TAR_LINE.exec(line);
  const unreadable = () => new BuildStepError(`${where}: cannot read the archive listing line ${JSON.stringify(line)}; repackage the archive as a plain tar or zip`);
  if (!m) throw unreadable();
  const [, typeChar, sizeText, rest] = m as unknown as [string, string, string, string];
  const name = readCQuoted(rest, 0);
  if (!name) throw unreadable();
  const type = TAR_TYPES[typeChar] ?? 'other';
  const entry: ArchiveEntry = { name: name.text, type, size: /^\d+$/.test(sizeText) ? Number(sizeText) : 0 };
  const tail = rest.slice(name.end);
  const arrow = type === 'symlink' ? ' -> ' : type === 'hardlink' ? ' link to ' : undefined;
  if (arrow !== undefined) {
    if (!tail.startsWith(arrow)) throw unreadable();
    const target = readCQuoted(tail, arrow.length);
    if (!target || target.end !== tail.length) throw unreadable();
    entry.linkTarget = target.text;
  } else if (tail !== '' && type !== 'other') {
    throw unreadable();
  }
  return entry;
}

/** Decodes one C-quoted string ("a\"b\303\251") starting at `at`; octal escapes are bytes, decoded as UTF-8 at the end. */
function readCQuoted(s: string, at: number): { text: string; end: number } | undefined {
  if (s[at] !== '"') return undefined;
  const bytes: number[] = [];
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, '"': 34, '?': 63, "'": 39 };
  for (let i = at + 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') return { text: Buffer.from(bytes).toString('utf8'), end: i + 1 };
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const next = s[++i];
    if (next === undefined) return undefined;
    const octal = /^[0-7]{1,3}/.exec(s.slice(i, i + 3));
    if (octal) {
      bytes.push(parseInt(octal[0], 8) & 0xff);
      i += octal[0].length - 1;
    } else if (simple[next] !== undefined) {
      bytes.push(simple[next]!);
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** Lists a zip or 7z archive with `7z l -slt`, then reads the targets of its symlinks (stored as their content). */
async function list7z(file: string, where: string, signal: AbortSignal): Promise<ArchiveEntry[]> {
  const blocks: Map<string, string>[] = [];
  let started = false;
  let current: Map<string, string> | undefined;
  const unreadable = (line: string) => new BuildStepError(`${where}: cannot read the archive listing line ${JSON.stringify(line)}; repackage the archive`);
  await run('7z', ['l', '-slt', '-bd', '--', file], {
    where,
    signal,
    locale: 'C.UTF-8',
    onLine: (line) => {
      if (!started) {
        started = line === '----------';
        return;
      }
      if (line === '') {
        current = undefined;
        return;
      }
      const m = /^([A-Za-z][A-Za-z ]*?) = ?(.*)$/.exec(line);
      // A name with a newline would split a block; refuse rather than guess.
      if (!m) throw unreadable(line);
      if (current === undefined) {
        current = new Map();
        blocks.push(current);
        if (blocks.length > MAX_ARCHIVE_ENTRIES) {
          throw new BuildStepError(`${where}: the archive has more than ${MAX_ARCHIVE_ENTRIES} entries; repackage it or use a script step`);
        }
      }
      if (current.has(m[1]!)) throw unreadable(line);
      current.set(m[1]!, m[2]!);
    },
  });
  if (!started) throw new BuildStepError(`${where}: 7z printed no listing; check that the file is a zip or 7z archive (or set format)`);

  const entries = blocks.map((b): ArchiveEntry => {
    const name = b.get('Path');
    if (name === undefined) throw unreadable([...b].map(([k, v]) => `${k} = ${v}`).join('; '));
    const attributes = b.get('Attributes') ?? '';
    const unix = /(?:^|\s)([-dlcbps])[rwxsStT-]{9}$/.exec(attributes)?.[1];
    const windowsDir = /D/.test(attributes.split(' ')[0] ?? '');
    let type: ArchiveEntry['type'] = unix !== undefined ? (TAR_TYPES[unix] ?? 'other') : b.get('Folder') === '+' || windowsDir ? 'dir' : 'file';
    if (b.get('Folder') === '+' && type === 'file') type = 'dir';
    if ((b.get('Hard Link') ?? '') !== '') type = 'hardlink';
    const entry: ArchiveEntry = { name, type, size: Number(b.get('Size') || 0), encrypted: b.get('Encrypted') === '+' };
    const symlink = b.get('Symbolic Link');
    if (symlink) {
      entry.type = 'symlink';
      entry.linkTarget = symlink;
    }
    return entry;
  });

  const links = entries.filter((e) => e.type === 'symlink' && e.linkTarget === undefined);
  if (links.length > 0) await read7zLinkTargets(file, entries, links, where, signal);
  return entries;
}

/** 7z stores a zip/7z symlink's target as its data; extract just those to stdout, in archive order, and split by the listed sizes. */
async function read7zLinkTargets(file: string, all: ArchiveEntry[], links: ArchiveEntry[], where: string, signal: AbortSignal): Promise<void> {
  if (links.length > MAX_ARCHIVE_SYMLINKS) {
    throw new BuildStepError(`${where}: the archive has more than ${MAX_ARCHIVE_SYMLINKS} symlinks; repackage it without them`);
  }
  for (const link of links) {
    if (link.size > MAX_SYMLINK_TARGET) throw new BuildStepError(`${where}: entry ${JSON.stringify(link.name)} is a symlink with an implausibly long target; repackage the archive`);
    // -so would also print a same-named file, and splitting by size would then misattribute bytes.
    if (all.filter((e) => e.name === link.name).length > 1) {
      throw new BuildStepError(`${where}: entry ${JSON.stringify(link.name)} is a symlink that appears more than once; the archive is refused as a whole, repackage it`);
    }
  }
  const out = await run('7z', ['x', '-so', '-spd', '-bd', '--', file, ...links.map((l) => l.name)], { where, signal, locale: 'C.UTF-8', capture: true });
  const expected = links.reduce((n, l) => n + l.size, 0);
  if (out.length !== expected) {
    throw new BuildStepError(`${where}: could not read the archive's symlink targets (got ${out.length} bytes, expected ${expected}); repackage the archive`);
  }
  let at = 0;
  for (const link of links) {
    link.linkTarget = out.subarray(at, at + link.size).toString('utf8');
    at += link.size;
  }
}

/**
 * Walks an extracted tree with lstat: refuses symlinks that resolve outside
 * it, hard-linked files and anything that is not a file, directory or
 * symlink, and the tree when it is bigger than `maxSize` (sizes a zip header
 * understated) or has too many entries; sets directories to 0755 and files to
 * 0644, or 0755 when the owner could execute (set-id bits are dropped).
 * Exported for tests: the listing check makes its refusals unreachable
 * through a real archive, which is the point of checking twice.
 */
export async function inspectTree(root: string, maxSize: number, where: string): Promise<{ entries: number; bytes: number }> {
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
        if (bytes > maxSize) throw new BuildStepError(`${where}: the extracted archive is larger than maxSize (${maxSize} bytes), passed at ${JSON.stringify(relPath)}; raise maxSize if the archive is trusted`);
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

interface RunOptions {
  where: string;
  signal: AbortSignal;
  locale: string;
  /** Called per stdout line; throwing stops the tool and fails the run with that error. */
  onLine?: (line: string) => void;
  /** Return stdout as bytes instead of splitting it into lines. */
  capture?: boolean;
}

/**
 * Runs an archive tool without a shell (spawn rather than execFile: listings
 * are parsed as they stream, so the entry cap stops the tool early instead of
 * buffering its whole output), stdin closed (so an encrypted archive
 * fails instead of asking for a password), killed when `signal` aborts.
 * Resolves with captured stdout when asked for it.
 */
function run(cmd: string, args: string[], opts: RunOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: opts.locale, LANG: opts.locale },
    });
    let failure: Error | undefined;
    let settled = false;
    let stderr = '';
    let pending = '';
    const captured: Buffer[] = [];
    const fail = (err: Error) => {
      failure ??= err;
      child.kill('SIGKILL');
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (failure) return;
      if (opts.capture) {
        captured.push(chunk);
        return;
      }
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      try {
        for (const line of lines) opts.onLine?.(line);
      } catch (err) {
        fail(err as Error);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.on('error', (err) => {
      if (opts.signal.aborted) {
        const reason = opts.signal.reason instanceof Error ? opts.signal.reason.message : String(opts.signal.reason);
        fail(new Error(`${opts.where}: ${cmd} stopped: ${reason}`, { cause: err }));
      } else {
        fail(new Error(`${opts.where}: cannot run ${cmd} (${err.message}); install it on the host`, { cause: err }));
      }
      // A tool that never started emits no 'close'.
      if (child.pid === undefined && !settled) {
        settled = true;
        reject(failure);
      }
    });
    child.on('close', (code, sig) => {
      if (settled) return;
      settled = true;
      if (!failure && pending !== '') {
        try {
          opts.onLine?.(pending);
        } catch (err) {
          failure = err as Error;
        }
      }
      if (failure) return reject(failure);
      if (code !== 0) {
        const detail = stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-5).join(' / ');
        return reject(new BuildStepError(`${opts.where}: ${cmd} failed (${sig ?? `exit ${code}`}): ${detail || 'no message'}; check that the archive is intact and its format is right`));
      }
      resolve(Buffer.concat(captured));
    });
  });
}
