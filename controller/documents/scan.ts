import { constants as fsc } from 'node:fs';
import { open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Problem } from './problems.js';

/** Limits that keep a hostile or broken state tree from exhausting the controller. */
export interface ScanLimits {
  /** Largest YAML file read, in bytes. */
  maxFileBytes: number;
  /** Most YAML files read from one tree. */
  maxFiles: number;
  /** Deepest directory nesting followed. */
  maxDepth: number;
}

/** Default scan limits: 1 MiB per file, 10,000 files, 16 directory levels. */
export const DEFAULT_LIMITS: ScanLimits = { maxFileBytes: 1 << 20, maxFiles: 10_000, maxDepth: 16 };

/** A YAML file found in the state tree, with its text. */
export interface StateFile {
  /** Path for messages: the state directory as given, joined with the file's relative path. */
  path: string;
  /** Path relative to the state directory, '/'-separated. */
  rel: string;
  text: string;
}

/** What a scan found. */
export interface ScanResult {
  files: StateFile[];
  problems: Problem[];
}

const isYaml = (name: string) => name.endsWith('.yaml') || name.endsWith('.yml');

/**
 * Reads every *.yaml / *.yml below `dir`, refusing what could hurt: files over the
 * size limit, special files (FIFOs would block), symlinks that lead outside the
 * tree, link loops. Hidden entries (`.git`, editor swap files) are skipped.
 * Reads the file system only; never follows a path out of `dir`.
 */
export async function scanStateDir(dir: string, limits: ScanLimits = DEFAULT_LIMITS): Promise<ScanResult> {
  const files: StateFile[] = [];
  const problems: Problem[] = [];
  const problem = (path: string, message: string) => problems.push({ file: path, line: 1, col: 1, pointer: '', message });

  let root: string;
  try {
    root = await realpath(dir);
    if (!(await stat(root)).isDirectory()) {
      problem(dir, 'the state directory is not a directory');
      return { files, problems };
    }
  } catch (err) {
    problem(dir, `cannot read the state directory: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return { files, problems };
  }

  const inside = (real: string) => real === root || real.startsWith(root + sep);
  const visited = new Set<string>([root]);

  const walk = async (realDir: string, shownDir: string, relDir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(realDir, { withFileTypes: true });
    } catch (err) {
      problem(shownDir, `cannot list directory: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const shown = join(shownDir, entry.name);
      const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
      let real = join(realDir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        try {
          real = await realpath(real);
        } catch {
          if (isYaml(entry.name)) problem(shown, 'symbolic link points nowhere');
          continue;
        }
        if (!inside(real)) {
          const target = await readlink(join(realDir, entry.name)).catch(() => real);
          problem(shown, `symbolic link leads outside the state directory (to ${target}); refused`);
          continue;
        }
        const st = await stat(real);
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (isDir) {
        if (visited.has(real)) continue; // a link back into the tree: already read there
        if (depth >= limits.maxDepth) {
          problem(shown, `directory nesting deeper than ${limits.maxDepth} levels; not read`);
          continue;
        }
        visited.add(real);
        await walk(real, shown, rel, depth + 1);
        continue;
      }
      if (!isYaml(entry.name)) continue;
      if (!isFile) {
        problem(shown, 'not a regular file (device, FIFO or socket); refused');
        continue;
      }
      if (files.length >= limits.maxFiles) {
        problem(shown, `more than ${limits.maxFiles} YAML files in the state directory; the rest are not read`);
        return;
      }
      const text = await readLimited(real, limits.maxFileBytes).catch((err: NodeJS.ErrnoException) => {
        problem(shown, `cannot read file: ${err.code ?? err.message}`);
        return undefined;
      });
      if (text === undefined) continue;
      if (text === null) {
        problem(shown, `file is larger than ${limits.maxFileBytes} bytes; refused`);
        continue;
      }
      files.push({ path: shown, rel, text });
    }
  };
  await walk(root, dir, '', 0);
  return { files, problems };
}

/** Reads at most `max` bytes of a regular file; null when it is larger. O_NONBLOCK so a FIFO swapped in cannot hang us. */
async function readLimited(path: string, max: number): Promise<string | null> {
  const fh = await open(path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
    if (st.size > max) return null;
    // Sized by fstat, grown if the file grows while we read; never past max + 1.
    let buf = Buffer.alloc(Math.min(st.size, max) + 1);
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        if (length > max) return null;
        const bigger = Buffer.alloc(Math.min(buf.length * 2, max + 1));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) return null;
    return buf.subarray(0, length).toString('utf8');
  } finally {
    await fh.close();
  }
}
