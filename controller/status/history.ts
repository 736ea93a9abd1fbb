/**
 * One concern: per-instance history (players, CPU, memory) as fixed-size ring
 * files, so seven days at one-minute resolution cost the same bytes on day
 * one and day one hundred. `<dir>/<instance>.ring`: a 64-byte header, then
 * `slots` records of 32 bytes; the sample taken at time t lives in slot
 * floor(t / step) mod slots and is written in place over whatever lap was
 * there. The controller writes (one writer); the web service and the CLI read.
 *
 * Record (little-endian): f64 time ms · u64 cumulative CPU ns (all ones:
 * unknown) · f64 memory bytes (NaN: unknown) · i16 players · i16 max players
 * (-1: unknown) · u32 FNV-1a of the 28 bytes before it. A record torn by a
 * crash fails its checksum and is skipped; a record of an older lap is older
 * than the window and is skipped too. CPU is kept cumulative, as systemd
 * reports it, so a reader derives the rate between any two samples and no
 * state is lost when the controller restarts.
 *
 * Players, CPU and memory are not secrets: files are 0644 in a 0755
 * directory, readable by the web account.
 */
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isDocumentName } from '../documents/names.js';

/** Seven days of minutes. */
export const DEFAULT_SLOTS = 7 * 24 * 60;
export const DEFAULT_STEP_MS = 60_000;
const MAGIC = 'L4MHIST1';
const HEADER_BYTES = 64;
export const RECORD_BYTES = 32;
const VERSION = 1;
const NO_CPU = 0xffff_ffff_ffff_ffffn;

/** One sample as the controller took it. */
export interface HistorySample {
  /** Wall-clock time of the sample, ms since the epoch. */
  t: number;
  /** Cumulative CPU time of the server's cgroup (systemd's CPUUsageNSec), when known. */
  cpuNs?: bigint;
  /** The server cgroup's memory (systemd's MemoryCurrent), bytes, when known. */
  memory?: number;
  /** Players from the A2S answer, when the server answered. */
  players?: number;
  maxPlayers?: number;
}

/** One point of an answer: a bucket of `step` ms starting at t. */
export interface HistoryPoint {
  t: number;
  /** The most players seen in the bucket (a peak is what people look for); null when the server never answered. */
  players: number | null;
  /** Mean CPU use over the bucket in cores (1 = one core busy); null when not derivable. */
  cpu: number | null;
  /** Mean memory over the bucket, bytes; null when unknown. */
  memory: number | null;
}

/** The size of every ring file with `slots` slots: constant, whatever is written. */
export function ringFileBytes(slots = DEFAULT_SLOTS): number {
  return HEADER_BYTES + slots * RECORD_BYTES;
}

function fnv1a(buf: Buffer, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= buf[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Encodes a sample as one record. Pure. */
export function encodeRecord(s: HistorySample): Buffer {
  const b = Buffer.alloc(RECORD_BYTES);
  b.writeDoubleLE(s.t, 0);
  b.writeBigUInt64LE(s.cpuNs !== undefined && s.cpuNs >= 0n && s.cpuNs < NO_CPU ? s.cpuNs : NO_CPU, 8);
  b.writeDoubleLE(s.memory !== undefined && Number.isFinite(s.memory) ? s.memory : Number.NaN, 16);
  const small = (n: number | undefined) => (n !== undefined && Number.isInteger(n) && n >= 0 && n <= 0x7fff ? n : -1);
  b.writeInt16LE(small(s.players), 24);
  b.writeInt16LE(small(s.maxPlayers), 26);
  b.writeUInt32LE(fnv1a(b, 28), 28);
  return b;
}

/** Decodes one record; undefined when it was never written or is torn. Pure. */
export function decodeRecord(b: Buffer, at = 0): HistorySample | undefined {
  const rec = b.subarray(at, at + RECORD_BYTES);
  if (rec.length < RECORD_BYTES || rec.readUInt32LE(28) !== fnv1a(rec, 28)) return undefined;
  const t = rec.readDoubleLE(0);
  if (!Number.isFinite(t) || t <= 0) return undefined;
  const cpu = rec.readBigUInt64LE(8);
  const memory = rec.readDoubleLE(16);
  const players = rec.readInt16LE(24);
  const maxPlayers = rec.readInt16LE(26);
  return {
    t,
    ...(cpu !== NO_CPU ? { cpuNs: cpu } : {}),
    ...(Number.isFinite(memory) ? { memory } : {}),
    ...(players >= 0 ? { players } : {}),
    ...(maxPlayers >= 0 ? { maxPlayers } : {}),
  };
}

function header(slots: number, stepMs: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt32LE(VERSION, 8);
  h.writeUInt32LE(slots, 12);
  h.writeUInt32LE(stepMs, 16);
  h.writeUInt32LE(RECORD_BYTES, 20);
  return h;
}

interface Layout {
  slots: number;
  stepMs: number;
}

function slotOffset(l: Layout, t: number): number {
  return HEADER_BYTES + (Math.floor(t / l.stepMs) % l.slots) * RECORD_BYTES;
}

/** The layout a ring file was written with; undefined when it is not one of ours (or cut short). */
async function readLayout(fh: FileHandle): Promise<Layout | undefined> {
  const h = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await fh.read(h, 0, HEADER_BYTES, 0);
  if (bytesRead !== HEADER_BYTES) return undefined;
  const slots = h.readUInt32LE(12);
  const stepMs = h.readUInt32LE(16);
  if (slots < 2 || slots > 1 << 20 || stepMs < 1000 || !headerMatches(h, slots, stepMs)) return undefined;
  if ((await fh.stat()).size !== ringFileBytes(slots)) return undefined;
  return { slots, stepMs };
}

function headerMatches(h: Buffer, slots: number, stepMs: number): boolean {
  return h.length >= HEADER_BYTES && h.equals(header(slots, stepMs));
}

/** Options of a history store: how many slots, and the time each slot stands for. */
export interface HistoryOptions {
  slots?: number;
  /** The sampling interval, ms (≥ 1000); a file written with another interval starts over. */
  stepMs?: number;
}

/**
 * The ring files of every instance under one directory. Only document names
 * are read or written, so no request can name a path.
 */
export class HistoryStore {
  readonly slots: number;
  readonly stepMs: number;
  /** Open files of the writer, kept so a sample is one pwrite. */
  private readonly handles = new Map<string, FileHandle>();

  constructor(
    readonly dir: string,
    opts: HistoryOptions = {},
  ) {
    this.slots = opts.slots ?? DEFAULT_SLOTS;
    this.stepMs = opts.stepMs ?? DEFAULT_STEP_MS;
    if (!Number.isInteger(this.slots) || this.slots < 2) throw new Error(`history slots must be an integer ≥ 2 (got ${this.slots})`);
    if (!Number.isInteger(this.stepMs) || this.stepMs < 1000) throw new Error(`history step must be a whole number of ms ≥ 1000 (got ${this.stepMs})`);
  }

  /** How far back the files reach. */
  get windowMs(): number {
    return this.slots * this.stepMs;
  }

  private path(name: string): string {
    return join(this.dir, `${name}.ring`);
  }


  /** Writes one sample in its slot, creating the file (full size, all slots empty) on first use. */
  async append(name: string, sample: HistorySample): Promise<void> {
    if (!isDocumentName(name)) throw new Error(`cannot keep history for "${name}": not a document name`);
    const fh = await this.handle(name);
    await fh.write(encodeRecord(sample), 0, RECORD_BYTES, slotOffset(this, sample.t));
  }

  private async handle(name: string): Promise<FileHandle> {
    const open_ = this.handles.get(name);
    if (open_) return open_;
    const path = this.path(name);
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r+');
      const h = Buffer.alloc(HEADER_BYTES);
      await fh.read(h, 0, HEADER_BYTES, 0);
      const { size } = await fh.stat();
      if (!headerMatches(h, this.slots, this.stepMs) || size !== ringFileBytes(this.slots)) {
        // Another layout (or a file cut short): its slots mean other times; start over.
        await fh.close();
        fh = undefined;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (!fh) {
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
      // Created whole under a temporary name: a crash never leaves a file without its header.
      const tmp = join(this.dir, `.${name}.ring.tmp`);
      const t = await open(tmp, 'w', 0o644);
      try {
        await t.write(header(this.slots, this.stepMs), 0, HEADER_BYTES, 0);
        await t.truncate(ringFileBytes(this.slots)); // all zeros: every slot fails its checksum, i.e. empty
        await t.chmod(0o644);
      } finally {
        await t.close();
      }
      await rename(tmp, path);
      fh = await open(path, 'r+');
    }
    this.handles.set(name, fh);
    return fh;
  }

  /**
   * The samples of the window ending at `now` (oldest first), with the layout
   * the file was written with (a reader need not know the writer's interval);
   * no samples when there is no file or it is not a ring file.
   */
  async read(name: string, now = Date.now()): Promise<{ samples: HistorySample[]; stepMs: number; slots: number }> {
    const none = { samples: [], stepMs: this.stepMs, slots: this.slots };
    const fh = await this.openForReading(name);
    if (!fh) return none;
    try {
      const layout = await readLayout(fh);
      if (!layout) return none;
      const buf = Buffer.alloc(ringFileBytes(layout.slots));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead !== buf.length) return none;
      const from = now - layout.slots * layout.stepMs;
      const samples: HistorySample[] = [];
      for (let at = HEADER_BYTES; at < buf.length; at += RECORD_BYTES) {
        const s = decodeRecord(buf, at);
        // A record in the wrong slot for its time is not trusted (garbage with a lucky checksum).
        if (s && s.t > from && s.t <= now && slotOffset(layout, s.t) === at) samples.push(s);
      }
      return { samples: samples.sort((a, b) => a.t - b.t), ...layout };
    } finally {
      await fh.close();
    }
  }

  /** The newest sample no older than three of the file's steps, with the CPU rate since the one before: reads a few records, not the file. */
  async latest(name: string, now = Date.now()): Promise<{ sample: HistorySample; cpu?: number } | undefined> {
    const fh = await this.openForReading(name);
    if (!fh) return undefined;
    try {
      const layout = await readLayout(fh);
      if (!layout) return undefined;
      const maxAge = 3 * layout.stepMs;
      const found: HistorySample[] = [];
      // Walk back slot by slot from now; the previous sample gives the CPU rate.
      for (let t = now; t > now - maxAge - 2 * layout.stepMs && found.length < 2; t -= layout.stepMs) {
        const rec = Buffer.alloc(RECORD_BYTES);
        const at = slotOffset(layout, t);
        await fh.read(rec, 0, RECORD_BYTES, at);
        const s = decodeRecord(rec);
        if (s && s.t <= now && slotOffset(layout, s.t) === at && !found.some((f) => f.t === s.t)) found.push(s);
      }
      const [last, prev] = found;
      if (!last || last.t <= now - maxAge) return undefined;
      const cpu = prev ? cpuRate(prev, last) : undefined;
      return { sample: last, ...(cpu !== undefined ? { cpu } : {}) };
    } finally {
      await fh.close();
    }
  }

  private async openForReading(name: string): Promise<FileHandle | undefined> {
    if (!isDocumentName(name)) return undefined;
    try {
      return await open(this.path(name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Instances that have a history file. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith('.ring')).map((f) => f.slice(0, -5)).filter(isDocumentName).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Removes an instance's history (the instance is gone). */
  async remove(name: string): Promise<void> {
    if (!isDocumentName(name)) return;
    await this.handles.get(name)?.close();
    this.handles.delete(name);
    await rm(this.path(name), { force: true });
  }

  /** Closes the writer's files. */
  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map((fh) => fh.close().catch(() => undefined)));
  }
}

/** Cores busy between two samples (CPU ns / wall ns); undefined when unknown or the counter went back (a restart). */
export function cpuRate(a: HistorySample, b: HistorySample): number | undefined {
  if (a.cpuNs === undefined || b.cpuNs === undefined || b.t <= a.t || b.cpuNs < a.cpuNs) return undefined;
  return Number(b.cpuNs - a.cpuNs) / ((b.t - a.t) * 1e6);
}

/** The largest number of points one answer carries; a longer range is answered with a coarser step. */
export const MAX_POINTS = 1440;

/**
 * Buckets samples by `stepMs` (a multiple of the sampling interval):
 * players the peak, CPU the mean rate (from each sample and the one before
 * it), memory the mean. Buckets with no sample are left out. Pure.
 */
export function downsample(samples: HistorySample[], stepMs: number, since: number): HistoryPoint[] {
  const buckets = new Map<number, { players: number | null; cpu: number[]; memory: number[] }>();
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (s.t < since) continue;
    const t = Math.floor(s.t / stepMs) * stepMs;
    let b = buckets.get(t);
    if (!b) buckets.set(t, (b = { players: null, cpu: [], memory: [] }));
    if (s.players !== undefined) b.players = Math.max(b.players ?? 0, s.players);
    const prev = samples[i - 1];
    const rate = prev ? cpuRate(prev, s) : undefined;
    if (rate !== undefined) b.cpu.push(rate);
    if (s.memory !== undefined) b.memory.push(s.memory);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([t, b]) => {
      const cpu = mean(b.cpu);
      const memory = mean(b.memory);
      return { t, players: b.players, cpu: cpu === null ? null : Math.round(cpu * 1e4) / 1e4, memory: memory === null ? null : Math.round(memory) };
    });
}
