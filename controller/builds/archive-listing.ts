/**
 * Reading an archive's listing as data. The listing itself is made by tar
 * or 7z inside the build sandbox (archive-sandbox.ts); what comes back here
 * is their text output, parsed line by line, and checked entry by entry
 * before anything is extracted: no absolute paths, no `..`, only files,
 * directories and symlinks that stay inside, and declared sizes within the
 * limit that applies.
 */
import { BuildStepError } from './source.js';

/** More entries than this is not a map pack; listing it would only burn memory. */
export const MAX_ARCHIVE_ENTRIES = 200_000;
/** Symlink targets are read separately for zip/7z; a map pack needs few, and each is a short path. */
export const MAX_ARCHIVE_SYMLINKS = 1_000;
export const MAX_SYMLINK_TARGET = 4_096;
/** Symlink chains longer than this are treated as loops (the kernel's own limit is 40). */
const MAX_LINK_HOPS = 40;

/** What a listing says about one entry. `name` is as stored in the archive. */
export interface ArchiveEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'socket' | 'other';
  size: number;
  linkTarget?: string;
  encrypted?: boolean;
}

/** The size limit that applies to one archive, and how a refusal names it and says what to do. */
export interface SizeLimit {
  bytes: number;
  /** e.g. `maxSize (4096 bytes)`. */
  label: string;
  /** e.g. `raise maxSize if the archive is trusted and really this large`. */
  advice: string;
}

/** The limit a document's own maxSize sets (the words refusals have always used). */
export function maxSizeLimit(bytes: number): SizeLimit {
  return { bytes, label: `maxSize (${bytes} bytes)`, advice: 'raise maxSize if the archive is trusted and really this large' };
}

/** A refusal of the archive for declaring more content than the limit. */
export function tooLarge(entry: ArchiveEntry, limit: SizeLimit, where: string): BuildStepError {
  return new BuildStepError(`${where}: the archive declares more than ${limit.label} of content, passed at entry ${JSON.stringify(entry.name)}; ${limit.advice}`);
}

function tooManyEntries(where: string): BuildStepError {
  return new BuildStepError(`${where}: the archive has more than ${MAX_ARCHIVE_ENTRIES} entries; repackage it or use a script step`);
}

/**
 * Refuses the archive at its first entry that is absolute, has `..`, is not a
 * file, directory or symlink, is encrypted, lies under a symlink of the same
 * archive (extraction would write through it), or is a symlink that resolves
 * outside the extraction root; and when the entry count or declared total
 * size is over the limit. Returns the declared total size.
 */
export function checkEntries(entries: ArchiveEntry[], strip: number, limit: SizeLimit, where: string): number {
  if (entries.length > MAX_ARCHIVE_ENTRIES) throw tooManyEntries(where);
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
    if (total > limit.bytes) throw tooLarge(entry, limit, where);
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

/**
 * Whether a symlink at `linkPath` (segments below the root) pointing at
 * `target` resolves outside the root, following further links through
 * `readLink` (which answers for paths relative to the root). Loops and
 * over-long chains count as escaping.
 */
export function escapesRoot(linkPath: string[], target: string, readLink: (rel: string) => string | undefined): boolean {
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
 * Reads `tar -tv --quoting-style=c` output line by line (names with spaces,
 * arrows or newlines stay unambiguous). Refuses as soon as the declared sizes
 * pass the limit or the entries the cap, so the caller can stop the listing
 * of a bomb early instead of decompressing all of it.
 */
export class TarListing {
  readonly entries: ArchiveEntry[] = [];
  private total = 0;

  constructor(
    private readonly limit: SizeLimit,
    private readonly where: string,
  ) {}

  /** Takes one output line; throws BuildStepError to refuse the archive. */
  push(line: string): void {
    if (line === '') return;
    const entry = parseTarLine(line, this.where);
    this.entries.push(entry);
    this.total += entry.size;
    if (this.total > this.limit.bytes) throw tooLarge(entry, this.limit, this.where);
    if (this.entries.length > MAX_ARCHIVE_ENTRIES) throw tooManyEntries(this.where);
  }
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

/**
 * Reads `7z l -slt` output line by line into entries. Symlink targets of a
 * zip or 7z are stored as the link's data, so `linksToRead()` names the
 * entries whose targets the caller must fetch separately.
 */
export class SevenZipListing {
  private readonly blocks: Map<string, string>[] = [];
  private started = false;
  private current: Map<string, string> | undefined;

  constructor(private readonly where: string) {}

  /** Takes one output line; throws BuildStepError to refuse the archive. */
  push(line: string): void {
    if (!this.started) {
      this.started = line === '----------';
      return;
    }
    if (line === '') {
      this.current = undefined;
      return;
    }
    const m = /^([A-Za-z][A-Za-z ]*?) = ?(.*)$/.exec(line);
    // A name with a newline would split a block; refuse rather than guess.
    if (!m) throw this.unreadable(line);
    if (this.current === undefined) {
      this.current = new Map();
      this.blocks.push(this.current);
      if (this.blocks.length > MAX_ARCHIVE_ENTRIES) throw tooManyEntries(this.where);
    }
    if (this.current.has(m[1]!)) throw this.unreadable(line);
    this.current.set(m[1]!, m[2]!);
  }

  /** The entries, once the listing is complete. */
  entries(): ArchiveEntry[] {
    if (!this.started) throw new BuildStepError(`${this.where}: 7z printed no listing; check that the file is a zip or 7z archive (or set format)`);
    return this.blocks.map((b): ArchiveEntry => {
      const name = b.get('Path');
      if (name === undefined) throw this.unreadable([...b].map(([k, v]) => `${k} = ${v}`).join('; '));
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
  }

  private unreadable(line: string): BuildStepError {
    return new BuildStepError(`${this.where}: cannot read the archive listing line ${JSON.stringify(line)}; repackage the archive`);
  }
}

/**
 * The symlinks of a zip/7z listing whose targets must be read from their
 * data, refused when there are implausibly many, or one is implausibly long
 * or appears twice (reading by name would then mix up their bytes).
 */
export function linksToRead(entries: ArchiveEntry[], where: string): ArchiveEntry[] {
  const links = entries.filter((e) => e.type === 'symlink' && e.linkTarget === undefined);
  if (links.length > MAX_ARCHIVE_SYMLINKS) {
    throw new BuildStepError(`${where}: the archive has more than ${MAX_ARCHIVE_SYMLINKS} symlinks; repackage it without them`);
  }
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  for (const link of links) {
    if (link.size > MAX_SYMLINK_TARGET) throw new BuildStepError(`${where}: entry ${JSON.stringify(link.name)} is a symlink with an implausibly long target; repackage the archive`);
    if ((counts.get(link.name) ?? 0) > 1) {
      throw new BuildStepError(`${where}: entry ${JSON.stringify(link.name)} is a symlink that appears more than once; the archive is refused as a whole, repackage it`);
    }
    // The names go to 7z one per line.
    if (link.name.includes('\n')) throw new BuildStepError(`${where}: entry ${JSON.stringify(link.name)} is a symlink with a line break in its name; repackage the archive`);
  }
  return links;
}

/** Gives each link its target from 7z's output: the links' data, concatenated in archive order. */
export function assignLinkTargets(links: ArchiveEntry[], data: Buffer, where: string): void {
  const expected = links.reduce((n, l) => n + l.size, 0);
  if (data.length !== expected) {
    throw new BuildStepError(`${where}: could not read the archive's symlink targets (got ${data.length} bytes, expected ${expected}); repackage the archive`);
  }
  let at = 0;
  for (const link of links) {
    link.linkTarget = data.subarray(at, at + link.size).toString('utf8');
    at += link.size;
  }
}
