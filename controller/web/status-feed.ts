/**
 * The status feed: what `GET /api/v1/events` streams. It watches the
 * controller's status directory (`<kind>/<name>.json`, each replaced
 * atomically by rename), turns every file whose summary changed into one
 * numbered event, and keeps a ring of recent events so that a client that
 * reconnects with `Last-Event-ID` resumes exactly where it left off.
 *
 * Why a summary and not the status file: the file holds the uid, the pid and
 * the last error text (which may quote a config line with a password); an
 * event carries only the fields `summarize` picks.
 *
 * Why fs.watch (inotify) and not chokidar: chokidar drops a change whose
 * mtime equals the previous one, which two writes within a millisecond have.
 * Why a rescan besides the watcher: inotify drops events on overflow and a
 * kind's directory may appear after the watch began; a periodic comparison of
 * every file with the last summary sent catches what the watcher lost, and
 * the comparison makes a spurious wake-up cost nothing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { KINDS, type Kind } from '../documents/kinds.js';
import { isDocumentName } from '../documents/names.js';
import type { DocumentStatus, StatusStore } from '../status/store.js';
import type { StatusSummary } from './wire.js';

export type { StatusSummary };

/** One change: a document's summary changed (`status`) or its status went away (`deleted`). */
export interface FeedEvent {
  /** `<epoch>-<seq>`: the epoch is per run of the service, so an id from another run is never mistaken for one of this run. */
  id: string;
  seq: number;
  type: 'status' | 'deleted';
  kind: Kind;
  name: string;
  /** Owner of the document when the event was made; undefined when unknown (then only admins see it). */
  owner: string | undefined;
  summary?: StatusSummary;
}

export interface StatusFeedOptions {
  /** Events kept for resuming (default 1024). */
  ringSize?: number;
  /** Full comparison of every status file this often (default 30 s). */
  rescanMs?: number;
  /** How long changes are gathered before they are read (default 30 ms): a burst of writes becomes one read per file. */
  coalesceMs?: number;
}

/** Picks the fields an event may carry from a status file. */
export function summarize(st: DocumentStatus): StatusSummary {
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  const out: StatusSummary = { kind: st.kind, name: st.name, ready: ready?.status ?? 'Unknown' };
  if (ready) {
    out.reason = String(ready.reason);
    out.message = String(ready.message);
  }
  if (typeof st.port === 'number') out.port = st.port;
  if (typeof st.players === 'number') out.players = st.players;
  if (typeof st.maxPlayers === 'number') out.maxPlayers = st.maxPlayers;
  if (typeof st.map === 'string') out.map = st.map;
  if (st.unit && typeof st.unit.activeState === 'string') out.unit = st.unit.activeState;
  if (st.build?.result === 'Succeeded' || st.build?.result === 'Failed') out.build = st.build.result;
  if (st.building && typeof st.building.build === 'string') out.building = st.building.build;
  const step = st.building?.step;
  if (step) {
    out.buildStep = { step: Number(step.step), steps: Number(step.steps), kind: String(step.kind), label: String(step.label) };
    if (typeof step.bytes === 'number') out.buildStep.bytes = step.bytes;
    if (typeof step.totalBytes === 'number') out.buildStep.totalBytes = step.totalBytes;
  }
  if (st.progress) out.progress = { pass: Number(st.progress.pass), passes: Number(st.progress.passes), state: String(st.progress.state), percent: Number(st.progress.percent) };
  return out;
}

type Listener = (e: FeedEvent) => void;
const key = (kind: Kind, name: string) => `${kind}/${name}`;
const KIND_OF_DIR = new Map<string, Kind>(KINDS.map((k) => [k.toLowerCase(), k]));

/**
 * Follows one status directory. Reads the store; owns the watcher, the
 * ring and the last summary of every document; `ownerOf` says whose a
 * document is (the web's view of the state directory).
 */
export class StatusFeed {
  /** Per run of the service: ids of an earlier run never resume into this one. */
  readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly ring: FeedEvent[] = [];
  private readonly current = new Map<string, { text: string; summary: StatusSummary; owner: string | undefined }>();
  private readonly listeners = new Set<Listener>();
  private readonly dirty = new Set<string>();
  private dirtyAll = false;
  private timer?: NodeJS.Timeout;
  private rescanTimer?: NodeJS.Timeout;
  private readonly watchers = new Map<string, FSWatcher>();
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly ringSize: number;
  private readonly coalesceMs: number;
  private readonly rescanMs: number;

  constructor(
    private readonly store: StatusStore,
    private readonly ownerOf: (kind: Kind, name: string) => Promise<string | undefined>,
    opts: StatusFeedOptions = {},
  ) {
    this.ringSize = opts.ringSize ?? 1024;
    this.coalesceMs = opts.coalesceMs ?? 30;
    this.rescanMs = opts.rescanMs ?? 30_000;
  }

  /** Reads every status once (no events for what is already there), then follows changes. */
  async start(): Promise<void> {
    this.ensureWatchers();
    await this.scanAll(false);
    this.rescanTimer = setInterval(() => this.markAll(), this.rescanMs);
    this.rescanTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.rescanTimer);
    this.listeners.clear();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.flushing;
  }

  /** The newest event id (what a snapshot is current as of). */
  lastId(): string {
    return `${this.epoch}-${this.seq}`;
  }

  /** Every document's current summary and owner. */
  snapshot(): Array<{ summary: StatusSummary; owner: string | undefined }> {
    return [...this.current.values()].map(({ summary, owner }) => ({ summary, owner })).sort((a, b) => (key(a.summary.kind, a.summary.name) < key(b.summary.kind, b.summary.name) ? -1 : 1));
  }

  /**
   * The events after `lastEventId`, or undefined when the ring cannot say
   * (an id of another run, one too old, or not an id at all): the caller then
   * sends a snapshot.
   */
  since(lastEventId: string): FeedEvent[] | undefined {
    const m = /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastEventId);
    if (!m || m[1] !== this.epoch) return undefined;
    const seq = Number(m[2]);
    if (seq > this.seq) return undefined;
    if (seq === this.seq) return [];
    const oldest = this.ring[0]?.seq ?? this.seq + 1;
    // The event right after `seq` must still be in the ring, else something was lost.
    if (seq + 1 < oldest) return undefined;
    return this.ring.filter((e) => e.seq > seq);
  }

  /** Calls `fn` for every event from now on; returns the unsubscribe function. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Watches the status directory and each kind's directory that exists; a missing one is tried again at the next full scan. */
  private ensureWatchers(): void {
    if (this.closed) return;
    const add = (dir: string, fn: (file: string | null) => void) => {
      if (this.watchers.has(dir)) return;
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => fn(file === null ? null : String(file)));
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
          this.markAll();
        });
        this.watchers.set(dir, w);
      } catch {
        // Not there (yet): the periodic rescan tries again.
      }
    };
    // A kind directory appearing: watch it and read it.
    add(this.store.dir, () => this.markAll());
    if (!this.watchers.has(this.store.dir)) {
      // No status directory yet (a controller that has not run): the nearest directory that exists says when it appears.
      let dir = dirname(this.store.dir);
      while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
      add(dir, () => this.markAll());
      return;
    }
    for (const dir of [...this.watchers.keys()]) {
      if (this.store.dir.startsWith(`${dir}/`)) {
        this.watchers.get(dir)!.close();
        this.watchers.delete(dir);
      }
    }
    for (const [dirName, kind] of KIND_OF_DIR) add(join(this.store.dir, dirName), (file) => this.touched(kind, file));
  }

  private touched(kind: Kind, file: string | null): void {
    if (file === null) return this.markAll(); // the kernel could not say which file
    if (!file.endsWith('.json')) return; // the writer's temp files, strays
    const name = file.slice(0, -5);
    if (!isDocumentName(name)) return;
    this.dirty.add(key(kind, name));
    this.schedule();
  }

  private markAll(): void {
    this.dirtyAll = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // One flush at a time, in order: events keep the order the files were read in.
      this.flushing = this.flushing.then(() => this.flush()).catch(() => this.markAllLater());
    }, this.coalesceMs);
  }

  // A failed read (the directory briefly unreadable) retries on the next rescan rather than spinning.
  private markAllLater(): void {
    this.dirtyAll = true;
  }

  private async flush(): Promise<void> {
    if (this.closed) return;
    if (this.dirtyAll) {
      this.dirtyAll = false;
      this.ensureWatchers();
      this.dirty.clear();
      return this.scanAll(true);
    }
    const keys = [...this.dirty];
    this.dirty.clear();
    for (const k of keys) {
      const [kind, name] = k.split('/') as [Kind, string];
      await this.check(kind, name, true);
    }
  }

  private async scanAll(emit: boolean): Promise<void> {
    const seen = new Set<string>();
    for (const kind of KINDS) {
      for (const name of await this.store.names(kind)) {
        seen.add(key(kind, name));
        await this.check(kind, name, emit);
      }
    }
    for (const [k, v] of this.current) if (!seen.has(k)) await this.check(v.summary.kind, v.summary.name, emit);
  }

  /** Reads one status and emits an event when its summary differs from the last one. */
  private async check(kind: Kind, name: string, emit: boolean): Promise<void> {
    const k = key(kind, name);
    const st = await this.store.read(kind, name);
    const before = this.current.get(k);
    if (!st || st.kind !== kind || st.name !== name) {
      if (!before) return;
      this.current.delete(k);
      if (emit) this.emit({ type: 'deleted', kind, name, owner: before.owner });
      return;
    }
    const summary = summarize(st);
    const text = JSON.stringify(summary);
    if (before?.text === text) return;
    // The owner is looked up when the summary changes; a document already deleted keeps the owner it had.
    const owner = (await this.ownerOf(kind, name).catch(() => undefined)) ?? before?.owner;
    this.current.set(k, { text, summary, owner });
    if (emit) this.emit({ type: 'status', kind, name, owner, summary });
  }

  private emit(e: Omit<FeedEvent, 'id' | 'seq'>): void {
    const seq = ++this.seq;
    const event: FeedEvent = { ...e, seq, id: `${this.epoch}-${seq}` };
    this.ring.push(event);
    if (this.ring.length > this.ringSize) this.ring.shift();
    for (const fn of this.listeners) fn(event);
  }
}
