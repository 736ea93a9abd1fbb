/**
 * The doctor's one window on a host: files read below a file system root and
 * commands run with a given PATH. On a real host the root is `/` and the PATH
 * is the process's own; tests point both at a temp dir standing for a host
 * (its `proc/`, `sys/`, `etc/` as real files, stand-in tools in a bin dir),
 * so every check runs against real files and real processes either way.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, readFile, readlink, stat, statfs } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** What a command printed and how it ended; `code` 127 when it could not be started. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A file's owner, group and mode bits (including setuid/setgid/sticky). */
export interface FileFacts {
  uid: number;
  gid: number;
  /** Permission bits with setuid, setgid and sticky (st_mode & 0o7777). */
  mode: number;
  isDirectory: boolean;
}

/** Everything a check may learn about a host; every path is a host path (absolute, as the host sees it). */
export interface HostProbe {
  /** Where host paths are found from this process (`/` on the host itself). */
  readonly fsRoot: string;
  /** A file's text, or undefined when it does not exist or cannot be read. */
  read(path: string): Promise<string | undefined>;
  /** Owner, group and mode, or undefined when the path does not exist. */
  stat(path: string): Promise<FileFacts | undefined>;
  /** Whether a path exists (following symlinks). */
  exists(path: string): Promise<boolean>;
  /** Entry names of a directory, or [] when it cannot be listed. */
  list(path: string): Promise<string[]>;
  /** A symlink's target, or undefined. */
  readlink(path: string): Promise<string | undefined>;
  /** Bytes available to unprivileged writers on the file system holding `path` (the nearest existing ancestor). */
  freeBytes(path: string): Promise<number>;
  /** Where an executable named `name` is on the probe's PATH (as run() finds it), or undefined. */
  which(name: string): Promise<string | undefined>;
  /** Runs a command with the probe's PATH; never rejects. */
  run(cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
}

/** Options of hostProbe: where the host's files are and which PATH its commands are found on. */
export interface ProbeOptions {
  fsRoot?: string;
  /** PATH for which() and run(), directories of this machine (run() spawns here); default: this process's. */
  path?: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** A command's output beyond this is dropped: the doctor reads a few lines, never a whole journal. */
const MAX_OUTPUT = 1 << 20;

/** A probe of the host below `fsRoot` (default `/`), running commands with `path`. */
export function hostProbe(opts: ProbeOptions = {}): HostProbe {
  const fsRoot = opts.fsRoot ?? '/';
  const searchPath = opts.path ?? process.env.PATH ?? DEFAULT_PATH;
  const at = (path: string) => (fsRoot === '/' ? path : join(fsRoot, path));
  return {
    fsRoot,
    async read(path) {
      try {
        return await readFile(at(path), 'utf8');
      } catch {
        return undefined;
      }
    },
    async stat(path) {
      try {
        const s = await stat(at(path));
        return { uid: s.uid, gid: s.gid, mode: s.mode & 0o7777, isDirectory: s.isDirectory() };
      } catch {
        return undefined;
      }
    },
    async exists(path) {
      try {
        await access(at(path));
        return true;
      } catch {
        return false;
      }
    },
    async list(path) {
      try {
        return await readdir(at(path));
      } catch {
        return [];
      }
    },
    async readlink(path) {
      try {
        return await readlink(at(path));
      } catch {
        return undefined;
      }
    },
    async freeBytes(path) {
      // A data directory that does not exist yet will live on its parent's file system.
      for (let p = path; ; p = p.slice(0, p.lastIndexOf('/')) || '/') {
        try {
          const s = await statfs(at(p));
          return s.bavail * s.bsize;
        } catch (err) {
          if (p === '/') throw err;
        }
      }
    },
    async which(name) {
      for (const dir of searchPath.split(delimiter)) {
        if (!dir.startsWith('/')) continue;
        const candidate = join(dir, name);
        try {
          await access(candidate, constants.X_OK);
          return candidate;
        } catch {
          // not here
        }
      }
      return undefined;
    },
    run(cmd, args, { timeoutMs = 15_000 } = {}) {
      return new Promise((resolve) => {
        // C locale: the checks read systemd's words, not a translation of them.
        const child = spawn(cmd, args, { env: { PATH: searchPath, LC_ALL: 'C', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let size = 0;
        const collect = (into: Buffer[]) => (b: Buffer) => {
          if ((size += b.length) <= MAX_OUTPUT) into.push(b);
        };
        child.stdout.on('data', collect(out));
        child.stderr.on('data', collect(err));
        child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: e.message }));
        child.on('close', (code, signal) =>
          resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
        );
      });
    },
  };
}
