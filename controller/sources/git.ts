/**
 * The one way left4me runs git: `spawn` with an argv array (never a shell), an
 * environment built from nothing (no inherited GIT_* variable, no user or
 * system configuration, no prompt), configuration on the command line that
 * turns off everything a repository could use to run code or reach further
 * than asked (hooks, fsmonitor, submodules, transports other than the URL's),
 * a timeout that kills the whole process group, capped output, and messages
 * passed through a redactor before anyone sees them. A repository is data
 * here, never a program.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/** The transports a source URL may use; everything else (ext::, git://, fd::) stays forbidden. */
export type Transport = 'https' | 'http' | 'ssh' | 'file';

/** Which transport a source URL uses, or an error saying why it is not one left4me fetches from. */
export function transportOf(url: string): Transport {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'https' || scheme === 'http' || scheme === 'ssh' || scheme === 'file') return scheme;
  if (scheme) throw new Error(`unsupported URL scheme "${scheme}://" (use https://, ssh://, user@host:path, file:// or an absolute path)`);
  if (url.startsWith('/')) return 'file';
  // `<helper>::<address>` runs a remote helper (ext:: runs any command): never a source URL.
  if (/^[a-z0-9+.-]+::/i.test(url)) throw new Error(`"${redact(url)}" is not a URL left4me fetches from (remote-helper syntax "${url.split('::')[0]}::" is refused)`);
  // scp-like `[user@]host:path`: a colon before any slash (git's own rule).
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash) && !url.startsWith('-')) return 'ssh';
  throw new Error(`"${redact(url)}" is not a URL left4me fetches from (use https://, ssh://, user@host:path, file:// or an absolute path)`);
}

/** Well-known token shapes (GitHub, GitLab, Slack): removed wherever they appear, pasted into a URL or not. */
const TOKEN_LIKE = /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}|xox[abpr]-[A-Za-z0-9-]{10,})\b/g;

/**
 * Removes what could be a credential from text: URL userinfo (`https://user:pw@host` → `https://***@host`),
 * secret-looking query parameters, well-known token shapes, and every exact secret given (a token file's content).
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  out = out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@'"]*@/gi, '$1***@');
  out = out.replace(/([?&](?:access_token|private_token|token|password|key|secret|sig|signature)=)[^&\s'"]*/gi, '$1***');
  return out.replace(TOKEN_LIKE, '***');
}

/** Strips control characters (a hostile remote's message or commit subject must not drive a terminal) and caps the length. */
export function printable(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** What a git run returned. */
export interface GitResult {
  code: number;
  stdout: string;
  /** Redacted, at most the last few KiB. */
  stderr: string;
}

/** A git run that failed, timed out or said too much; the message is redacted. */
export class GitError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    /** Redacted stderr of the run. */
    readonly stderr: string,
    /** `timeout` when killed for running too long, `output` when killed for saying too much. */
    readonly killed?: 'timeout' | 'output',
  ) {
    super(message);
  }
}

/** How to run git for one source. */
export interface GitEnv {
  /** The private HOME of this source (nothing of the service account's own configuration is read). */
  home: string;
  /** Repositories git may treat as safe although another account owns them (the source's own bare repository, a local remote). */
  safeDirectories: readonly string[];
  /** The transport the source URL uses: the only one allowed. */
  transport: Transport;
  /** Extra variables: GIT_SSH_COMMAND, GIT_ASKPASS (paths only, never a secret). */
  env?: Record<string, string>;
  /** Exact secrets removed from every message (what the credential files hold). */
  secrets?: readonly string[];
  /** Follow submodules (default no). */
  submodules?: boolean;
}

/** One run's limits. */
export interface RunOptions {
  /** The git directory (`--git-dir`). */
  gitDir?: string;
  /** The work tree (`--work-tree`), for checkout-index. */
  workTree?: string;
  /** Killed (process group) after this long; default 60 s. */
  timeoutMs?: number;
  /** Killed when stdout passes this many bytes; default 1 MiB. */
  maxOutputBytes?: number;
  /** Exit codes that are answers rather than failures (e.g. 1 of `merge-base --is-ancestor`). */
  okCodes?: readonly number[];
  /** Extra variables for this run only (GIT_INDEX_FILE). */
  env?: Record<string, string>;
  /**
   * Largest file git (and every process it starts) may write, as RLIMIT_FSIZE
   * set by util-linux `prlimit`: a fetch writes one pack, so this bounds what a
   * hostile remote can put on the disk in one fetch. Without prlimit on PATH
   * the run is not capped.
   */
  maxFileBytes?: number;
}

let prlimitPath: string | null | undefined;

/** util-linux prlimit on PATH, looked up once. */
function prlimit(): string | null {
  if (prlimitPath !== undefined) return prlimitPath;
  prlimitPath = null;
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    try {
      accessSync(join(d, 'prlimit'), constants.X_OK);
      prlimitPath = join(d, 'prlimit');
      break;
    } catch {
      /* next */
    }
  }
  return prlimitPath;
}

/** True when a run's stderr says a process was stopped for writing past maxFileBytes (SIGXFSZ, signal 25). */
export function hitFileSizeLimit(stderr: string): boolean {
  return /signal 25\b|File size limit exceeded/i.test(stderr);
}

const STDERR_KEEP = 8 << 10;

/** The configuration every run carries on its command line; repository and user configuration cannot undo it. */
export function safetyConfig(g: GitEnv): string[] {
  const c = [
    'core.hooksPath=/dev/null',
    'core.fsmonitor=false',
    'core.autocrlf=false',
    'core.symlinks=false',
    'protocol.allow=never',
    `protocol.${g.transport}.allow=always`,
    'transfer.fsckObjects=true',
    'credential.helper=',
    'gc.auto=0',
    'maintenance.auto=false',
    `submodule.recurse=${g.submodules ? 'true' : 'false'}`,
    `fetch.recurseSubmodules=${g.submodules ? 'true' : 'false'}`,
    'safe.directory=',
    ...g.safeDirectories.map((d) => `safe.directory=${d}`),
  ];
  return c.flatMap((kv) => ['-c', kv]);
}

/** The whole environment of a git run: built from nothing but PATH, so no GIT_* variable of the service leaks in. */
export function gitEnvironment(g: GitEnv, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: g.home,
    XDG_CONFIG_HOME: `${g.home}/.config`,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ATTR_NOSYSTEM: '1',
    // A documents path with `*` or `:(…)` in it is a name, not a pattern.
    GIT_LITERAL_PATHSPECS: '1',
    LC_ALL: 'C',
    ...(g.env ?? {}),
    ...extra,
  };
}

/**
 * Runs `git <safety config> [--git-dir …] args`. Resolves with the result
 * when git exits with 0 or an `okCodes` code; otherwise rejects with a
 * GitError whose message is the redacted tail of stderr.
 */
export function runGit(g: GitEnv, args: readonly string[], opts: RunOptions = {}): Promise<GitResult> {
  const argv = [...safetyConfig(g)];
  if (opts.gitDir) argv.push(`--git-dir=${opts.gitDir}`);
  if (opts.workTree) argv.push(`--work-tree=${opts.workTree}`);
  argv.push(...args);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const maxOut = opts.maxOutputBytes ?? 1 << 20;
  // The subcommand, for messages: the first word that is neither an option nor a `-c` value.
  const what = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '-c') ?? 'git';
  const clean = (s: string) => redact(s, g.secrets);

  return new Promise((resolve, reject) => {
    // detached: a process group of its own, so a timeout kills ssh, remote helpers and askpass too.
    const capped = opts.maxFileBytes !== undefined ? prlimit() : null;
    const [program, programArgs] = capped ? [capped, [`--fsize=${opts.maxFileBytes}`, 'git', ...argv]] : ['git', argv];
    const child = spawn(program, programArgs, { env: gitEnvironment(g, opts.env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let killed: 'timeout' | 'output' | undefined;
    const kill = (why: 'timeout' | 'output') => {
      if (killed) return;
      killed = why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => kill('timeout'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > maxOut) return kill('output');
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString('utf8')).slice(-STDERR_KEEP);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new GitError(`git ${what}: ${clean(e.message)}`, null, ''));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stderr = clean(err.trim());
      if (killed === 'timeout') return reject(new GitError(`git ${what} took longer than ${Math.round(timeoutMs / 1000)} s and was stopped`, code, stderr, 'timeout'));
      if (killed === 'output') return reject(new GitError(`git ${what} printed more than ${maxOut} bytes and was stopped`, code, stderr, 'output'));
      if (code === 0 || (code !== null && opts.okCodes?.includes(code))) {
        return resolve({ code: code ?? 0, stdout: Buffer.concat(out).toString('utf8'), stderr });
      }
      reject(new GitError(`git ${what} failed${code === null ? '' : ` (exit ${code})`}: ${lastLines(stderr) || 'no message'}`, code, stderr));
    });
  });
}

/** The last few meaningful lines of git's stderr, joined: enough to say why without the progress noise. */
function lastLines(stderr: string): string {
  return stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l && !/^(remote: )?(Counting|Compressing|Receiving|Resolving|Enumerating|Total)/.test(l))
    .slice(-4)
    .map((l) => printable(l, 300))
    .join('; ');
}
