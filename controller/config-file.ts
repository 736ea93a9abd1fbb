// One concern: the controller configuration file (controller.yaml) and the host settings it shares with the flags.
//
// The file is read with the documents' strict YAML reader and checked against
// schemas/controller.schema.json, so every problem has file:line:col and a
// pointer; then the checks a schema cannot express (port and uid ranges,
// networks, installation roots, git URLs and ref names) run on the same code
// the command-line flags go through, so a value means the same in both places.
// The file holds no secrets: git credentials are only named here.
import { constants, readFileSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parseNetwork } from './builds/networks.js';
import { controllerConfig, installationRootProblem, keptDirectories, type ControllerConfig, type ControllerConfigInput } from './config.js';
import { parseDuration } from './documents/duration.js';
import { compareProblems, type Problem } from './documents/problems.js';
import { translate } from './documents/schema.js';
import { parseYamlFile, type RawDocument } from './documents/yaml-source.js';
import { DEFAULT_CONFIG_DIR, DEFAULT_DATA_DIR, hostLayout } from './host/layout.js';
import { packageRoot } from './package-root.js';
import type { GitSourceConfig } from './sources/types.js';
import { uidRangeProblem } from './systemd/server-accounts.js';
import { SERVER_SANDBOXES, UnitRenderError, type ServerSandbox } from './systemd/units.js';

/** Where the controller looks for its configuration when `--config` is not given (as the host sees it). */
export const DEFAULT_CONTROLLER_CONFIG = join(DEFAULT_CONFIG_DIR, 'controller.yaml');

/** Largest configuration file read, like the largest state file. */
export const MAX_CONFIG_BYTES = 2 ** 20;

/** Shortest and longest fetch interval of a git source. */
const MIN_INTERVAL_MS = 10_000;
const MAX_INTERVAL_MS = 86_400_000;

// ---------------------------------------------------------------------------
// Host settings: one shape for the file and the flags

/**
 * The host settings the file and the command line share, as text the way
 * flags take it (sizes may also be numbers in the file). Absent = not set
 * here, so a flag only overrides what it names.
 */
export interface HostSettings {
  stateDir?: string;
  dataDir?: string;
  configDir?: string;
  unitDir?: string;
  /** How this process reaches the host (`--fs-root`, tests only); never from the file. */
  fsRoot?: string;
  busAddress?: string;
  node?: string;
  portRange?: string;
  clientPortRange?: string;
  uidRange?: string;
  allowDownloadNetworks?: readonly string[];
  installationRoots?: readonly string[];
  maxArchiveBytes?: string | number;
  maxBuildBytes?: string | number;
  maxDownloadBytes?: string | number;
  buildConcurrency?: string | number;
  concurrency?: number;
  steamApiBase?: string;
  /** The game servers' sandbox profile, `strict` or `compat` (ServerSandbox in systemd/units.ts). */
  serverSandbox?: string;
}

export type SettingName = keyof HostSettings;

/** A bad setting; `message` already names it the way its caller wants (a flag, or a field of a file). */
export class SettingError extends Error {
  constructor(
    readonly setting: SettingName,
    message: string,
    /** For a list setting: which entry. */
    readonly index?: number,
  ) {
    super(message);
  }
}

const BINARY_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Bytes in a size such as `8G`, `512MiB` or `1048576` (binary units), at least 1; undefined when it is not one. */
export function sizeBytes(value: string | number): number | undefined {
  const m = /^(\d{1,15})([kmgt]?)(?:i?b)?$/i.exec(String(value));
  const bytes = m ? Number(m[1]) * BINARY_UNITS[m[2]!.toLowerCase()]! : NaN;
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : undefined;
}

/** `27015-27115` as an inclusive range of unprivileged ports; undefined when it is not one. */
export function portRange(text: string): { min: number; max: number } | undefined {
  const m = /^(\d{4,5})-(\d{4,5})$/.exec(text);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  return m && min >= 1024 && max <= 65535 && min <= max ? { min, max } : undefined;
}

/**
 * The controller configuration some host settings describe; throws
 * SettingError for the first bad one, naming it with `name` (a flag such as
 * `--port-range` on the command line, a field and file for controller.yaml).
 */
export function hostSettingsConfig(s: HostSettings, name: (setting: SettingName) => string, extra: ControllerConfigInput = {}): ControllerConfig {
  const fail = (setting: SettingName, message: string, index?: number): never => {
    throw new SettingError(setting, message, index);
  };
  const range = (setting: 'portRange' | 'clientPortRange', fallback: string) =>
    portRange(s[setting] ?? fallback) ?? fail(setting, `${name(setting)} must look like ${fallback} (ports 1024-65535, low first)`);
  const game = range('portRange', '27015-27115');
  const client = range('clientPortRange', '26900-27000');
  if (game.min <= client.max && client.min <= game.max) fail(s.clientPortRange !== undefined ? 'clientPortRange' : 'portRange', `${name('portRange')} and ${name('clientPortRange')} must not overlap`);

  let uidRange: { min: number; max: number } | undefined;
  if (s.uidRange !== undefined) {
    const m = /^(\d{1,10})-(\d{1,10})$/.exec(s.uidRange);
    if (!m) fail('uidRange', `${name('uidRange')} must look like 1879048192-1879113727`);
    uidRange = { min: Number(m![1]), max: Number(m![2]) };
    const problem = uidRangeProblem(uidRange, game);
    if (problem) fail('uidRange', `${name('uidRange')} ${problem}`);
  }

  const allowedDownloadNetworks = (s.allowDownloadNetworks ?? []).map((text, i) => {
    try {
      return parseNetwork(text).cidr;
    } catch (err) {
      return fail('allowDownloadNetworks', `${name('allowDownloadNetworks')} ${(err as Error).message}`, i);
    }
  });

  const bytes = (setting: 'maxArchiveBytes' | 'maxBuildBytes' | 'maxDownloadBytes'): { [k: string]: number } => {
    const value = s[setting];
    if (value === undefined) return {};
    return { [setting]: sizeBytes(value) ?? fail(setting, `${name(setting)} must be a size in bytes such as 8G, 512M or 1048576 (at least 1)`) };
  };
  const builds = s.buildConcurrency;
  if (builds !== undefined && (!/^\d{1,2}$/.test(String(builds)) || Number(builds) < 1 || Number(builds) > 64)) {
    fail('buildConcurrency', `${name('buildConcurrency')} must be a whole number from 1 to 64`);
  }

  const sandbox = s.serverSandbox;
  if (sandbox !== undefined && !SERVER_SANDBOXES.some((p) => p === sandbox)) {
    fail('serverSandbox', `${name('serverSandbox')} must be one of ${SERVER_SANDBOXES.join(', ')} (compat: the previous deployment's sandbox, for when srcds fails under strict)`);
  }

  const cfg = layoutChecked(s, name, () => controllerConfig({
    ...(s.stateDir !== undefined ? { stateDir: s.stateDir } : {}),
    ...(s.unitDir !== undefined ? { unitDir: s.unitDir } : {}),
    ...(s.fsRoot !== undefined ? { fsRoot: s.fsRoot } : {}),
    ...(s.busAddress !== undefined ? { busAddress: s.busAddress } : {}),
    ...(s.node !== undefined ? { node: s.node } : {}),
    ...(s.dataDir !== undefined || s.configDir !== undefined || sandbox !== undefined
      ? {
          units: {
            ...(s.dataDir !== undefined || s.configDir !== undefined ? { layout: hostLayout(s.dataDir ?? DEFAULT_DATA_DIR, s.configDir ?? DEFAULT_CONFIG_DIR) } : {}),
            ...(sandbox !== undefined ? { server: { sandbox: sandbox as ServerSandbox } } : {}),
          },
        }
      : {}),
    portRanges: { game, client },
    allowedDownloadNetworks,
    ...(uidRange ? { uidRange } : {}),
    ...(s.installationRoots !== undefined ? { installationRoots: s.installationRoots } : {}),
    ...bytes('maxArchiveBytes'),
    ...bytes('maxBuildBytes'),
    ...bytes('maxDownloadBytes'),
    ...(builds !== undefined ? { buildConcurrency: Number(builds) } : {}),
    ...(s.concurrency !== undefined ? { concurrency: s.concurrency } : {}),
    ...(s.steamApiBase !== undefined ? { steamApiBase: s.steamApiBase } : {}),
    ...extra,
  }));
  const kept = keptDirectories(cfg);
  cfg.installationRoots.forEach((root, i) => {
    const unsafe = installationRootProblem([root], kept);
    if (unsafe) fail('installationRoots', `${name('installationRoots')}: ${unsafe}`, s.installationRoots !== undefined ? i : undefined);
  });
  return cfg;
}

/** Runs `build`, turning the unit layout's refusal of a data or configuration directory (e.g. below /tmp) into a SettingError. */
function layoutChecked<T>(s: HostSettings, name: (setting: SettingName) => string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (!(err instanceof UnitRenderError) || !err.field.startsWith('layout.')) throw err;
    const setting: SettingName = err.field === 'layout.configDir' || (s.dataDir === undefined && s.configDir !== undefined) ? 'configDir' : 'dataDir';
    throw new SettingError(setting, `${name(setting)}: ${err.message}`);
  }
}

// ---------------------------------------------------------------------------
// Git URLs and ref names

const TRANSPORTS = 'use https://, ssh://, user@host:path, file:/// or an absolute path';

/**
 * Why a source URL is refused, or undefined. Never quotes the URL: a refused
 * one may carry a password. Refuses what could run a program (remote
 * helpers, a leading '-' git might read as an option), what anyone on the
 * path could answer (http://, git://) and credentials in the URL.
 */
export function gitUrlProblem(url: string, configDir: string = DEFAULT_CONFIG_DIR): string | undefined {
  if (/[\u0000-\u0020\u007f-\u009f]/.test(url)) return 'must not contain spaces or control characters';
  if (url.startsWith('-')) return "must not start with '-' (git would read it as an option)";
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined && /^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) {
    return `names a git remote helper (transport::address), which runs a program; ${TRANSPORTS}`;
  }
  const credentials = `carries credentials: put them in ${configDir}/secrets/git/NAME/ and name that directory in "credentials", not in the URL`;
  if (scheme !== undefined) {
    if (!['https', 'http', 'ssh', 'file'].includes(scheme)) return `the ${scheme}:// transport is refused: ${TRANSPORTS}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `is not a valid ${scheme}:// URL`;
    }
    // Loopback only: nobody else is on the way there (a git server on this host, the tests' fixture server).
    if (scheme === 'http' && !['localhost', '[::1]'].includes(parsed.hostname) && !/^127\.\d+\.\d+\.\d+$/.test(parsed.hostname)) {
      return 'plain http:// is refused except to this host (anyone on the way could serve other documents): use https://';
    }
    // An https user name is how tokens get pasted in (`https://TOKEN@host/...`); ssh's is just the login.
    if (parsed.password !== '' || (scheme !== 'ssh' && parsed.username !== '')) return credentials;
    if (parsed.search !== '' || parsed.hash !== '') return `must not carry a query or fragment (credentials belong in ${configDir}/secrets/git/NAME/)`;
    if (scheme === 'file') {
      if (parsed.host !== '') return 'a file:// URL names a local path and no host: file:///srv/fleet.git';
      if (parsed.pathname === '/' || parsed.pathname.split('/').includes('..')) return "a file:// URL needs an absolute path without '..'";
      return undefined;
    }
    if (parsed.hostname === '' || parsed.hostname.startsWith('-')) return "needs a host name that does not start with '-'";
    if (parsed.pathname === '' || parsed.pathname === '/') return 'names no repository path';
    return undefined;
  }
  if (url.startsWith('/')) return url.split('/').includes('..') ? "a local path must be absolute without '..'" : undefined;
  // scp-like: git reads `[user@]host:path` when a ':' comes before any '/'.
  if (/^[^/]*:[^/]*@/.test(url)) return credentials;
  const m = /^(?:[A-Za-z0-9._][A-Za-z0-9._-]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(.*)$/.exec(url);
  if (!m) return `is not a repository address git can fetch safely: ${TRANSPORTS}`;
  if (m[2] === '') return 'names no repository path after ":"';
  return undefined;
}

/** Why a branch or tag name is refused (git check-ref-format's rules, plus no leading '-'), or undefined. */
export function refNameProblem(ref: string): string | undefined {
  if (ref.startsWith('-')) return "must not start with '-' (git would read it as an option)";
  if (ref.startsWith('refs/')) return 'takes the short name (`main`, not `refs/heads/main`)';
  const bad =
    /[\u0000-\u0020\u007f~^:?*[\\]/.test(ref) ||
    ref.includes('..') ||
    ref.includes('@{') ||
    ref === '@' ||
    ref.startsWith('/') ||
    ref.endsWith('/') ||
    ref.endsWith('.') ||
    ref.includes('//') ||
    ref.split('/').some((c) => c.startsWith('.') || c.endsWith('.lock'));
  return bad
    ? 'is not a valid git ref name: no spaces, control characters or ~ ^ : ? * [ \\, no "..", "@{" or "//", no leading or trailing "/", and no part starting with "." or ending in ".lock"'
    : undefined;
}

// ---------------------------------------------------------------------------
// The file

/** What controller.yaml says, after validation and the sources' defaults. */
export interface ControllerFile {
  settings: HostSettings;
  /** `resync`, in ms. */
  resyncMs?: number;
  /** `trashRetention`, in ms. */
  trashRetentionMs?: number;
  logLevel?: string;
  pidFile?: string;
  sources: GitSourceConfig[];
}

export interface ControllerFileResult {
  /** False when an optional file (the default path) does not exist: then there is no configuration, and no problem. */
  found: boolean;
  /** Meaningful only without problems. */
  options: ControllerFile;
  problems: Problem[];
}

export interface LoadConfigOptions {
  /** A missing file is no problem (the default path); otherwise it is one. */
  optional?: boolean;
  /**
   * The uid that must own the file, which nobody else may write: whoever can
   * change it steers the root controller (its directories, the repositories
   * it fetches). Left out: not checked (`left4me config check` as anyone).
   */
  owner?: number;
}

/** The fields of the file that are host settings (everything but resync, trashRetention, logLevel, pidFile and sources). */
const SETTINGS: readonly SettingName[] = [
  'stateDir', 'dataDir', 'configDir', 'unitDir', 'busAddress', 'node', 'portRange', 'clientPortRange', 'uidRange',
  'allowDownloadNetworks', 'installationRoots', 'maxArchiveBytes', 'maxBuildBytes', 'maxDownloadBytes', 'buildConcurrency',
  'concurrency', 'steamApiBase', 'serverSandbox',
];

let validator: ValidateFunction | undefined;

/** The compiled controller schema (with common.schema.json for its shared types), with the documents' ajv options. */
function controllerValidator(): ValidateFunction {
  if (validator) return validator;
  // ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  const read = (file: string) => JSON.parse(readFileSync(join(packageRoot(), 'schemas', file), 'utf8')) as Record<string, unknown>;
  ajv.addSchema(read('common.schema.json'));
  validator = ajv.compile(read('controller.schema.json'));
  return validator;
}

const EMPTY: ControllerFile = { settings: {}, sources: [] };

/**
 * Reads and checks a controller configuration file. Every problem carries
 * file:line:col and a JSON pointer; with any problem, `options` must not be
 * used (the controller refuses to start rather than run half-configured).
 */
export async function loadControllerConfigFile(path: string, opts: LoadConfigOptions = {}): Promise<ControllerFileResult> {
  const at = (message: string): ControllerFileResult => ({ found: true, options: EMPTY, problems: [{ file: path, line: 1, col: 1, pointer: '', message }] });
  let text: string;
  try {
    const read = await readSmallFile(path, opts.owner);
    if ('problem' in read) return at(read.problem);
    text = read.text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && opts.optional) return { found: false, options: EMPTY, problems: [] };
    return at(code === 'ENOENT' ? 'no such file' : `cannot read the file: ${code ?? (err as Error).message}`);
  }

  const parsed = parseYamlFile(path, text);
  if (parsed.problems.length > 0) return { found: true, options: EMPTY, problems: parsed.problems };
  const [doc, extra] = parsed.documents;
  if (extra) return { found: true, options: EMPTY, problems: [{ file: path, line: extra.line, col: extra.col, pointer: '', message: 'a controller configuration is one YAML document; remove this second one' }] };
  if (!doc) return { found: true, options: EMPTY, problems: [] }; // empty, or comments only: every default

  const problems: Problem[] = [];
  const problem = (pointer: string, message: string, atKey = false) => {
    const { line, col } = doc.locate(pointer, { key: atKey });
    problems.push({ file: path, line, col, pointer, message });
  };
  const validate = controllerValidator();
  if (!validate(doc.data)) for (const issue of translate(validate.errors ?? [])) problem(issue.pointer, issue.message, issue.atKey);
  // A value the schema refused is not looked at again; everything else still is, so one run shows every problem.
  const refused = problems.map((p) => p.pointer);
  if (refused.includes('')) return { found: true, options: EMPTY, problems };
  const clean = (pointer: string) => !refused.some((r) => r === pointer || r.startsWith(`${pointer}/`) || pointer.startsWith(`${r}/`));

  const data = doc.data as Record<string, unknown>;
  const settings: HostSettings = {};
  for (const key of SETTINGS) if (data[key] !== undefined) (settings as Record<string, unknown>)[key] = data[key];
  const raw = refused.includes('/sources') ? [] : ((data.sources ?? []) as RawSource[]);
  const options: ControllerFile = { settings, sources: sources(doc, raw, settings.configDir ?? DEFAULT_CONFIG_DIR, clean, problem) };
  if (data.resync !== undefined && clean('/resync')) {
    options.resyncMs = parseDuration(data.resync as string);
    if (options.resyncMs < 1000 || options.resyncMs > MAX_INTERVAL_MS) problem('/resync', 'must be from 1s to 1d');
  }
  if (data.trashRetention !== undefined && clean('/trashRetention')) {
    options.trashRetentionMs = parseDuration(data.trashRetention as string);
    if (options.trashRetentionMs < 1000 || options.trashRetentionMs > 365 * 86_400_000) problem('/trashRetention', 'must be from 1s to 365d');
  }
  if (data.logLevel !== undefined) options.logLevel = data.logLevel as string;
  if (data.pidFile !== undefined) options.pidFile = data.pidFile as string;

  // What only the settings together can tell (overlapping ranges, roots inside kept directories).
  if (SETTINGS.every((key) => clean(`/${key}`))) {
    try {
      hostSettingsConfig(settings, (s) => s);
    } catch (err) {
      if (!(err instanceof SettingError)) throw err;
      problem(err.index === undefined ? `/${err.setting}` : `/${err.setting}/${err.index}`, err.message);
    }
  }
  return { found: true, options, problems: problems.sort(compareProblems) };
}

interface RawSource {
  name: string;
  url: string;
  branch?: string;
  tag?: string;
  path: string;
  interval: string;
  credentials?: string;
  submodules: boolean;
  allowForcePush: boolean;
}

/** The sources' entries as GitSourceConfig (schema defaults already filled), with what the schema cannot check. */
function sources(
  doc: RawDocument,
  raw: RawSource[],
  configDir: string,
  clean: (pointer: string) => boolean,
  problem: (pointer: string, message: string, atKey?: boolean) => void,
): GitSourceConfig[] {
  const seen = new Map<string, number>();
  return raw.flatMap((s, i) => {
    const at = `/sources/${i}`;
    if (!clean(at)) return [];
    const first = seen.get(s.name);
    if (first !== undefined) problem(`${at}/name`, `source "${s.name}" is already defined at line ${doc.locate(`/sources/${first}/name`, { key: false }).line}; names must be unique`);
    else seen.set(s.name, i);
    const urlProblem = gitUrlProblem(s.url, configDir);
    if (urlProblem) problem(`${at}/url`, `the URL ${urlProblem}`);
    if (s.branch !== undefined && s.tag !== undefined) problem(`${at}/tag`, 'give either branch or tag, not both', true);
    for (const key of ['branch', 'tag'] as const) {
      const ref = s[key];
      const bad = ref === undefined ? undefined : refNameProblem(ref);
      if (bad) problem(`${at}/${key}`, `the ${key} ${bad}`);
    }
    const intervalMs = parseDuration(s.interval);
    if (intervalMs < MIN_INTERVAL_MS || intervalMs > MAX_INTERVAL_MS) problem(`${at}/interval`, 'must be from 10s to 1d');
    return [{
      name: s.name,
      url: s.url,
      ref: s.tag !== undefined ? { tag: s.tag } : { branch: s.branch ?? 'main' },
      path: s.path,
      intervalMs,
      ...(s.credentials !== undefined ? { credentials: s.credentials } : {}),
      submodules: s.submodules,
      allowForcePush: s.allowForcePush,
    }];
  });
}

/**
 * Reads a regular file of at most MAX_CONFIG_BYTES. Opened non-blocking so a
 * FIFO cannot hang the controller; throws the open's errno (ENOENT…).
 */
async function readSmallFile(path: string, owner: number | undefined): Promise<{ text: string } | { problem: string }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st: Stats = await fh.stat();
    if (!st.isFile()) return { problem: 'is not a regular file' };
    if (owner !== undefined && (st.uid !== owner || (st.mode & 0o022) !== 0)) {
      return { problem: `must be owned by uid ${owner} and writable by nobody else (it is uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}): whoever can change it steers the controller; chown ${owner} and chmod 0644 it` };
    }
    if (st.size > MAX_CONFIG_BYTES) return { problem: `is larger than ${MAX_CONFIG_BYTES} bytes` };
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_CONFIG_BYTES) return { problem: `is larger than ${MAX_CONFIG_BYTES} bytes` };
    }
    return { text: buf.subarray(0, length).toString('utf8') };
  } finally {
    await fh.close();
  }
}
