/**
 * The backup archive: a plain POSIX ustar file (no compression; `tar -tvf`
 * lists it) whose first entry, `left4me-backup.json`, is a manifest naming
 * every other entry with its type, mode, owner, size and sha256. Written and
 * read here, by hand, over a file handle: no tar program or library decides
 * what a hostile archive may do. Reading takes the whole archive into memory
 * (bounded by MAX_ARCHIVE_BYTES) and checks all of it — structure, names,
 * types, sizes, the manifest, every checksum — before the caller writes
 * anything; anything unexpected is an ArchiveError naming the entry.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { replaceFile } from '../fs/atomic.js';

/** The manifest's entry name; always the first entry. */
export const MANIFEST_NAME = 'left4me-backup.json';
/** What the manifest's `format` says, and the one version this reader knows. */
export const FORMAT = 'left4me-backup';
export const VERSION = 1;

/** Largest archive read (documents, leases and secrets are small; this is far above any real host). */
export const MAX_ARCHIVE_BYTES = 256 * 2 ** 20;
/** Largest single entry (the manifest included). */
export const MAX_ENTRY_BYTES = 16 * 2 ** 20;
/** Most entries in one archive. */
export const MAX_ENTRIES = 100_000;
/** Longest entry path, in bytes (ustar's name and prefix fields hold 255 with the slash). */
const MAX_PATH_BYTES = 255;
const BLOCK = 512;

/** An archive that cannot be written, or that is refused on reading; the message names the entry. */
export class ArchiveError extends Error {
  override name = 'ArchiveError';
}

/** One entry of the manifest. Owners are account names: uids differ between hosts. */
export interface ManifestEntry {
  path: string;
  type: 'file' | 'dir';
  /** Permission bits only (no setuid, setgid or sticky). */
  mode: number;
  owner: string;
  group: string;
  /** Files only. */
  size?: number;
  sha256?: string;
}

export interface Manifest {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** ISO 8601. */
  created: string;
  /** The host's node name when the backup was made. */
  node: string;
  entries: ManifestEntry[];
}

/** An entry to write or one read back: files carry their bytes. */
export interface ArchiveEntry {
  path: string;
  type: 'file' | 'dir';
  mode: number;
  owner: string;
  group: string;
  data?: Buffer;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * Why an entry path is refused, or undefined: relative, `/`-separated
 * components of printable characters, none empty, `.` or `..`, at most
 * MAX_PATH_BYTES. No path read from an archive is used before passing this.
 */
export function pathProblem(path: string): string | undefined {
  if (path === '') return 'an empty name';
  if (path.startsWith('/')) return 'an absolute path';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `a name longer than ${MAX_PATH_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return 'control characters or a backslash in its name';
  const parts = path.split('/');
  if (parts.includes('..')) return 'a ".." component';
  if (parts.some((p) => p === '' || p === '.')) return 'an empty or "." component';
  return undefined;
}

// ---- writing ----

function octal(value: number, width: number): string {
  const text = value.toString(8);
  if (text.length > width - 1) throw new ArchiveError(`value ${value} does not fit a ustar field`);
  return `${text.padStart(width - 1, '0')}\0`;
}

/** The fields of one raw tar header; exported so tests can craft archives no writer here would make. */
export interface RawHeader {
  name: string;
  prefix?: string;
  /** '0' file, '5' directory, '1' hard link, '2' symbolic link, '3'/'4' devices, '6' fifo, 'x' pax… */
  typeflag: string;
  size?: number;
  mode?: number;
  uname?: string;
  gname?: string;
  linkname?: string;
  /** GNU tar's magic ("ustar  \0") instead of POSIX's. */
  gnuMagic?: boolean;
  /** Spoil the checksum. */
  badChecksum?: boolean;
}

/** One 512-byte ustar header. */
export function rawHeader(h: RawHeader): Buffer {
  const b = Buffer.alloc(BLOCK);
  const put = (text: string, at: number, width: number) => {
    const bytes = Buffer.from(text);
    if (bytes.length > width) throw new ArchiveError(`"${text}" does not fit a ustar field of ${width} bytes`);
    bytes.copy(b, at);
  };
  put(h.name, 0, 100);
  put(octal(h.mode ?? 0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(h.size ?? 0, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put(h.typeflag, 156, 1);
  put(h.linkname ?? '', 157, 100);
  put(h.gnuMagic ? 'ustar  \0' : 'ustar\u000000', 257, 8);
  put(h.uname ?? 'root', 265, 32);
  put(h.gname ?? 'root', 297, 32);
  put(h.prefix ?? '', 345, 155);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  put(`${(h.badChecksum ? sum + 1 : sum).toString(8).padStart(6, '0')}\0 `, 148, 8);
  return b;
}

/** Splits a path into ustar's name (≤ 100 bytes) and prefix (≤ 155 bytes) at a slash. */
function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  throw new ArchiveError(`${path}: the name is too long for a ustar archive`);
}

/** The blocks of one entry: header, data, padding. */
export function entryBlocks(h: RawHeader, data: Buffer = Buffer.alloc(0)): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [rawHeader({ ...h, size: h.size ?? data.length }), data, Buffer.alloc(pad)];
}

/** The two zero blocks that end an archive. */
export const END_BLOCKS = Buffer.alloc(2 * BLOCK);

/** The manifest the entries make. */
export function manifestOf(meta: { created: string; node: string }, entries: readonly ArchiveEntry[]): Manifest {
  return {
    format: FORMAT,
    version: VERSION,
    created: meta.created,
    node: meta.node,
    entries: entries.map((e) => ({ path: e.path, type: e.type, mode: e.mode, owner: e.owner, group: e.group, ...(e.type === 'file' ? { size: e.data!.length, sha256: sha256(e.data!) } : {}) })),
  };
}

/**
 * Writes the archive atomically: a 0600 temp file beside `file` (created
 * O_EXCL|O_NOFOLLOW, replaceFile), fsync, rename. The archive holds secrets, so it is
 * never readable by anyone but its owner, not even while it is written.
 */
export async function writeArchive(file: string, meta: { created: string; node: string }, entries: readonly ArchiveEntry[]): Promise<Manifest> {
  const seen = new Set<string>();
  for (const e of entries) {
    const bad = pathProblem(e.path);
    if (bad) throw new ArchiveError(`${e.path}: ${bad}`);
    if (seen.has(e.path) || e.path === MANIFEST_NAME) throw new ArchiveError(`${e.path}: named twice`);
    seen.add(e.path);
    if (e.type === 'file' && !e.data) throw new ArchiveError(`${e.path}: a file without data`);
  }
  const manifest = manifestOf(meta, entries);
  await replaceFile(file, 0o600, async (fh) => {
    const write = async (blocks: Buffer[]) => {
      for (const b of blocks) if (b.length > 0) await fh.write(b);
    };
    await write(entryBlocks({ name: MANIFEST_NAME, typeflag: '0', mode: 0o600 }, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)));
    for (const e of entries) {
      const { name, prefix } = splitName(e.type === 'dir' ? `${e.path}/` : e.path);
      await write(entryBlocks({ name, prefix, typeflag: e.type === 'dir' ? '5' : '0', mode: e.mode, uname: e.owner, gname: e.group }, e.data));
    }
    await write([END_BLOCKS]);
  });
  return manifest;
}

// ---- reading ----

const KINDS: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a fifo',
  '7': 'a contiguous file',
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
  S: 'a GNU sparse file',
};

function field(b: Buffer, at: number, width: number): string {
  const raw = b.subarray(at, at + width);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? width : end).toString('utf8');
}

function octalField(b: Buffer, at: number, width: number, what: string, entry: string): number {
  const text = b.subarray(at, at + width).toString('latin1');
  const m = /^ *([0-7]{1,11}) *[\0 ]*$/.exec(text);
  if (!m) throw new ArchiveError(`${entry}: its ${what} field is not an octal number`);
  return parseInt(m[1]!, 8);
}

/** Reads and checks a whole archive file; see parseArchive. */
export async function readArchive(file: string): Promise<{ manifest: Manifest; entries: ArchiveEntry[] }> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  let buf: Buffer;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ArchiveError(`${file} is not a regular file`);
    if (st.size > MAX_ARCHIVE_BYTES) throw new ArchiveError(`${file} is ${st.size} bytes, more than the ${MAX_ARCHIVE_BYTES} a backup may be`);
    buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const { bytesRead } = await fh.read(buf, got, st.size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got !== st.size) throw new ArchiveError(`${file} changed size while it was read`);
  } finally {
    await fh.close();
  }
  return parseArchive(buf);
}

/**
 * Parses an archive and checks everything before anything is used: only
 * regular files and directories (links, devices, fifos, pax and GNU
 * extension headers are refused); every name passes pathProblem; no name
 * twice; the manifest first, well-formed, this format and version; every
 * entry in the manifest and every manifest entry in the archive, with the
 * same type, mode, owner and group; sizes within MAX_ENTRY_BYTES; sha256 of
 * every file equal to the manifest's; nothing but zero blocks after the end.
 */
export function parseArchive(buf: Buffer): { manifest: Manifest; entries: ArchiveEntry[] } {
  if (buf.length > MAX_ARCHIVE_BYTES) throw new ArchiveError(`the archive is larger than ${MAX_ARCHIVE_BYTES} bytes`);
  const raw: Array<ArchiveEntry & { index: number }> = [];
  let offset = 0;
  let ended = false;
  while (offset + BLOCK <= buf.length) {
    const h = buf.subarray(offset, offset + BLOCK);
    if (h.every((x) => x === 0)) {
      if (!buf.subarray(offset).every((x) => x === 0)) throw new ArchiveError('data follows the end of the archive');
      ended = true;
      break;
    }
    const label = `entry ${raw.length + 1}`;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (octalField(h, 148, 8, 'checksum', label) !== sum) throw new ArchiveError(`${label}: bad header checksum (not a tar archive, or a damaged one)`);
    const magic = h.subarray(257, 265).toString('latin1');
    if (magic !== 'ustar\u000000' && magic !== 'ustar  \0') throw new ArchiveError(`${label}: not a ustar header`);
    const prefix = field(h, 345, 155);
    const name = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const typeflag = String.fromCharCode(h[156]!);
    const shown = JSON.stringify(name);
    if (typeflag !== '0' && typeflag !== '\0' && typeflag !== '5') throw new ArchiveError(`${shown} is ${KINDS[typeflag] ?? `an entry of unknown type ${JSON.stringify(typeflag)}`}; a backup holds only files and directories`);
    const type = typeflag === '5' ? 'dir' : 'file';
    const path = type === 'dir' && name.endsWith('/') ? name.slice(0, -1) : name;
    const bad = pathProblem(path);
    if (bad) throw new ArchiveError(`${shown} has ${bad}; refusing the archive`);
    const size = octalField(h, 124, 12, 'size', shown);
    if (type === 'dir' && size !== 0) throw new ArchiveError(`${shown} is a directory with data`);
    if (size > MAX_ENTRY_BYTES) throw new ArchiveError(`${shown} is ${size} bytes, more than the ${MAX_ENTRY_BYTES} an entry may be`);
    const start = offset + BLOCK;
    if (start + size > buf.length) throw new ArchiveError(`${shown} is cut short (the archive is truncated)`);
    const mode = octalField(h, 100, 8, 'mode', shown);
    raw.push({ index: raw.length, path, type, mode, owner: field(h, 265, 32), group: field(h, 297, 32), ...(type === 'file' ? { data: Buffer.from(buf.subarray(start, start + size)) } : {}) });
    if (raw.length > MAX_ENTRIES + 1) throw new ArchiveError(`more than ${MAX_ENTRIES} entries`);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  if (!ended) throw new ArchiveError('the archive has no end (truncated, or not a tar archive)');
  const [first, ...entries] = raw;
  if (!first || first.path !== MANIFEST_NAME || first.type !== 'file') throw new ArchiveError(`the first entry is not the manifest ${MANIFEST_NAME}: not a left4me backup`);
  const manifest = parseManifest(first.data!);
  const named = new Map<string, ManifestEntry>();
  for (const m of manifest.entries) {
    if (named.has(m.path) || m.path === MANIFEST_NAME) throw new ArchiveError(`the manifest names ${JSON.stringify(m.path)} twice`);
    named.set(m.path, m);
  }
  const seen = new Set<string>();
  for (const e of entries) {
    const shown = JSON.stringify(e.path);
    if (seen.has(e.path) || e.path === MANIFEST_NAME) throw new ArchiveError(`${shown} appears twice in the archive`);
    seen.add(e.path);
    const m = named.get(e.path);
    if (!m) throw new ArchiveError(`${shown} is in the archive but not in its manifest`);
    if (m.type !== e.type) throw new ArchiveError(`${shown} is a ${e.type === 'dir' ? 'directory' : 'file'} but the manifest says ${m.type}`);
    if (m.mode !== e.mode || m.owner !== e.owner || m.group !== e.group) throw new ArchiveError(`${shown}: its mode or owner differs from the manifest's`);
    if (e.type === 'file') {
      if (e.data!.length !== m.size) throw new ArchiveError(`${shown} is ${e.data!.length} bytes but the manifest says ${m.size}`);
      if (sha256(e.data!) !== m.sha256) throw new ArchiveError(`${shown}: sha256 differs from the manifest's (the archive is damaged or was altered)`);
    }
  }
  for (const m of manifest.entries) if (!seen.has(m.path)) throw new ArchiveError(`the manifest names ${JSON.stringify(m.path)} but the archive does not hold it`);
  return { manifest, entries: entries.map(({ index: _index, ...e }) => e) };
}

const ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Checks the manifest's shape field by field; the parsed object is never trusted beyond what is checked here. */
function parseManifest(data: Buffer): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    throw new ArchiveError(`${MANIFEST_NAME} is not JSON`);
  }
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(value) || value.format !== FORMAT) throw new ArchiveError(`${MANIFEST_NAME} is not a left4me backup manifest`);
  if (value.version !== VERSION) throw new ArchiveError(`this backup is format version ${JSON.stringify(value.version)}; this left4me reads version ${VERSION}`);
  if (typeof value.created !== 'string' || typeof value.node !== 'string' || !Array.isArray(value.entries)) throw new ArchiveError(`${MANIFEST_NAME} lacks created, node or entries`);
  if (value.entries.length > MAX_ENTRIES) throw new ArchiveError(`${MANIFEST_NAME} names more than ${MAX_ENTRIES} entries`);
  const entries = value.entries.map((e, i): ManifestEntry => {
    const where = `${MANIFEST_NAME} entry ${i + 1}`;
    if (!obj(e) || typeof e.path !== 'string') throw new ArchiveError(`${where} has no path`);
    const bad = pathProblem(e.path);
    if (bad) throw new ArchiveError(`${where} (${JSON.stringify(e.path)}) has ${bad}`);
    if (e.type !== 'file' && e.type !== 'dir') throw new ArchiveError(`${where}: type must be file or dir`);
    if (!Number.isInteger(e.mode) || (e.mode as number) < 0 || (e.mode as number) > 0o777) throw new ArchiveError(`${where}: mode must be permission bits (0 to 0777; no setuid, setgid or sticky)`);
    if (typeof e.owner !== 'string' || !ACCOUNT.test(e.owner) || typeof e.group !== 'string' || !ACCOUNT.test(e.group)) throw new ArchiveError(`${where}: owner and group must be account names`);
    const base: ManifestEntry = { path: e.path, type: e.type, mode: e.mode as number, owner: e.owner, group: e.group };
    if (e.type === 'dir') return base;
    if (!Number.isInteger(e.size) || (e.size as number) < 0 || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) throw new ArchiveError(`${where}: a file needs its size and sha256`);
    return { ...base, size: e.size as number, sha256: e.sha256 };
  });
  return { format: FORMAT, version: VERSION, created: value.created, node: value.node, entries };
}
