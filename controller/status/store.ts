// The status room: what the controller knows about each document (never
// written into the documents), the sticky port and uid leases, and the
// condition vocabulary (conditions.ts). Files written atomically; read by the
// CLI and, later, the web API.
import { statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { readSmallFile } from '../fs/small-file.js';
import { join } from 'node:path';
import type { Kind } from '../documents/kinds.js';
import { isDocumentName } from '../documents/names.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { Condition } from './conditions.js';

/** An event: recorded only on transitions. */
export interface StatusEvent {
  time: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The controller's view of one document. Never written into the document itself. */
export interface DocumentStatus {
  kind: Kind;
  name: string;
  /** The spec generation the conditions speak about. */
  observedGeneration?: string;
  conditions: Condition[];
  /** Instances: leased ports. */
  port?: number;
  clientPort?: number;
  /** Instances: the uid leased to the server (its own; no other server or build has it). */
  uid?: number;
  /** Instances: what systemd says. */
  unit?: { activeState: string; subState: string; mainPid?: number; since?: string };
  /** Instances: the generation of the config the running server was started with. */
  runningGeneration?: string;
  /** Instances: players and map from the last A2S answer. */
  players?: number;
  map?: string;
  maxPlayers?: number;
  /** When a pending restart started waiting (whenEmpty). */
  restartPendingSince?: string;
  /** The last restartedAt / resetAt annotation acted on. */
  handledRestartAt?: string;
  handledResetAt?: string;
  lastError?: { message: string; file?: string; line?: number; time: string };
  /** Overlays and Steam installations: the build instances use (`ready`) and the newest attempt. */
  build?: OverlayBuildStatus;
  /** Overlays: a build running now (its log is written while it runs, `step` while a step runs); gone when it ends. */
  building?: { build: string; log: string; since: string; step?: BuildStepProgress };
  /** Steam installations: progress of a running install. */
  progress?: { pass: number; passes: number; platform: string; state: string; percent: number };
  events: StatusEvent[];
}

/**
 * Where a running overlay build is: step `step` (1-based) of `steps`, the
 * source kind, a short label of what it does (`download maps.7z`,
 * `workshop 123456`, `extract maps.7z`, `script`: never a whole URL, which
 * may carry credentials) and, while it downloads, the bytes so far and of
 * the whole (when the server or Steam said).
 */
export interface BuildStepProgress {
  step: number;
  steps: number;
  kind: string;
  label: string;
  bytes?: number;
  totalBytes?: number;
}

/** An overlay's builds, as the controller tracks them. */
export interface OverlayBuildStatus {
  /** The build instances mount: the newest that succeeded. */
  ready?: string;
  /** The build the current spec (and remote content) calls for. */
  wanted: string;
  /** The spec generation `wanted` was computed for, and when remote sources were last checked. */
  generation: string;
  checkedAt: string;
  /** Outcome of building `wanted`. */
  result: 'Succeeded' | 'Failed';
  /** Log of the newest attempt, relative to the data directory. */
  log: string;
  /** Last lines of a failed build's log. */
  tail?: string[];
}

const MAX_EVENTS = 20;

/**
 * Per-document status files under `<dir>/<kind>/<name>.json`, written
 * atomically; only document names are read, listed or written, so a stray
 * file such as `__proto__.json` is nobody's status. The only writer is the controller; the CLI, API and dashboard read.
 */
export class StatusStore {
  /** The text last read or written per file: a write of the same text is skipped without serialising the old status again. */
  private readonly texts = new Map<string, string>();

  constructor(readonly dir: string) {}

  private path(kind: Kind, name: string): string {
    return join(this.dir, kind.toLowerCase(), `${name}.json`);
  }

  /** Reads one status; undefined when none was written yet, or when `name` is no document name. */
  async read(kind: Kind, name: string): Promise<DocumentStatus | undefined> {
    return this.readNow(kind, name);
  }

  /** read(), synchronously: the file is small and read with readFileSync anyway (see fs/small-file.ts). */
  readNow(kind: Kind, name: string): DocumentStatus | undefined {
    if (!isDocumentName(name)) return undefined;
    try {
      const path = this.path(kind, name);
      const text = readSmallFile(path);
      if (text === undefined) return undefined;
      this.texts.set(path, text);
      const status = JSON.parse(text) as DocumentStatus | null;
      // A status is rebuilt from the host by the next pass; one that is not even shaped like one counts as none.
      return isStatusShaped(status) ? status : undefined;
    } catch (err) {
      if (err instanceof SyntaxError) return undefined; // a torn file cannot happen (atomic writes), but never crash on one
      throw err;
    }
  }

  /** The document names of a kind that have a status, sorted; reads the directory only. */
  async names(kind: Kind): Promise<string[]> {
    let files: string[];
    try {
      files = await readdir(join(this.dir, kind.toLowerCase()));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).filter(isDocumentName).sort();
  }

  /** Reads every status of a kind. */
  async list(kind: Kind): Promise<DocumentStatus[]> {
    const all = await Promise.all((await this.names(kind)).map((n) => this.read(kind, n)));
    return all.filter((s): s is DocumentStatus => s !== undefined);
  }

  /** Writes a status when it differs from what is stored (so a no-op resync writes nothing). */
  async write(status: DocumentStatus, previous?: DocumentStatus): Promise<boolean> {
    if (!isDocumentName(status.name)) throw new Error(`cannot keep a status for "${status.name}": not a document name`);
    status.events = status.events.slice(-MAX_EVENTS);
    const text = `${JSON.stringify(status, null, 2)}\n`;
    const path = this.path(status.kind, status.name);
    const before = this.texts.get(path) ?? (previous ? `${JSON.stringify(previous, null, 2)}\n` : undefined);
    if (before === text) return false;
    await writeFileAtomic(path, text);
    this.texts.set(path, text);
    return true;
  }

  /** Removes a status (its document and everything it owned are gone). */
  async remove(kind: Kind, name: string): Promise<void> {
    if (!isDocumentName(name)) return;
    this.texts.delete(this.path(kind, name));
    await rm(this.path(kind, name), { force: true });
  }
}

/** Whether parsed JSON has what every reader of a status relies on: an object with condition and event lists. */
function isStatusShaped(v: unknown): v is DocumentStatus {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const s = v as Partial<DocumentStatus>;
  return Array.isArray(s.conditions) && s.conditions.every((c) => typeof c === 'object' && c !== null) && Array.isArray(s.events);
}

/**
 * A status store for readers that ask often (the web service lists every
 * instance's status per request): a status is read and parsed again only
 * when its file changed. The controller writes by rename, so a new write is
 * a new inode; inode, size and mtime together say whether it changed. The
 * objects it returns are shared between callers: read them, never change them.
 */
export class CachedStatusReader extends StatusStore {
  private readonly parsed = new Map<string, { ino: number; size: number; mtimeMs: number; status: DocumentStatus }>();

  override readNow(kind: Kind, name: string): DocumentStatus | undefined {
    if (!isDocumentName(name)) return undefined;
    const path = join(this.dir, kind.toLowerCase(), `${name}.json`);
    let st;
    try {
      st = statSync(path);
    } catch {
      this.parsed.delete(path);
      return undefined;
    }
    const hit = this.parsed.get(path);
    if (hit && hit.ino === st.ino && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.status;
    const status = super.readNow(kind, name);
    if (status) this.parsed.set(path, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, status });
    else this.parsed.delete(path);
    return status;
  }
}
