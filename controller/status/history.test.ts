import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeRecord, downsample, encodeRecord, HistoryStore, RECORD_BYTES, ringFileBytes } from './history.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'left4me-history-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 30);

describe('history ring store', () => {
  it('keeps every field of a sample, and an unknown field stays unknown', () => {
    const full = { t: T0, cpuNs: 123_456_789_012n, memory: 52_428_800, players: 3, maxPlayers: 8 };
    expect(decodeRecord(encodeRecord(full))).toEqual(full);
    expect(decodeRecord(encodeRecord({ t: T0 }))).toEqual({ t: T0 });
    expect(decodeRecord(Buffer.alloc(RECORD_BYTES))).toBeUndefined(); // a never-written slot
  });

  it('keeps 7 days at one-minute resolution in a file whose size never changes', async () => {
    const store = new HistoryStore(dir);
    expect(store.slots).toBe(10_080);
    await store.append('a', { t: T0, players: 1 });
    const size = statSync(join(dir, 'a.ring')).size;
    expect(size).toBe(ringFileBytes());
    expect(size).toBe(64 + 10_080 * 32);
    // Eight days of minutes: more than one lap.
    for (let m = 1; m < 8 * 1440; m += 1) await store.append('a', { t: T0 + m * MIN, players: m % 9, memory: m });
    await store.close();
    expect(statSync(join(dir, 'a.ring')).size).toBe(size);
    const now = T0 + (8 * 1440 - 1) * MIN;
    const { samples, stepMs, slots } = await new HistoryStore(dir).read('a', now);
    expect([stepMs, slots]).toEqual([MIN, 10_080]);
    // Exactly the last 7 days, oldest first; the first lap was overwritten in place.
    expect(samples).toHaveLength(10_080);
    expect(samples[0]!.t).toBe(now - 10_079 * MIN);
    expect(samples.at(-1)!.t).toBe(now);
    expect(samples.every((s, i) => i === 0 || s.t - samples[i - 1]!.t === MIN)).toBe(true);
  });

  it('wraps around: a sample a lap later takes the same slot and the old one is gone', async () => {
    const store = new HistoryStore(dir, { slots: 4, stepMs: 1000 });
    for (let i = 0; i < 6; i += 1) await store.append('w', { t: 10_000_000 + i * 1000, players: i });
    const { samples } = await store.read('w', 10_000_000 + 5000);
    expect(samples.map((s) => s.players)).toEqual([2, 3, 4, 5]);
    expect(statSync(join(dir, 'w.ring')).size).toBe(ringFileBytes(4));
    await store.close();
  });

  it('skips a torn record and keeps its neighbours', async () => {
    const store = new HistoryStore(dir, { slots: 8, stepMs: 1000 });
    for (let i = 0; i < 3; i += 1) await store.append('t', { t: 20_000_000 + i * 1000, players: i, memory: 1000 + i });
    await store.close();
    // A crash in the middle of a record's write: half of it new, half old.
    const path = join(dir, 't.ring');
    const offset = 64 + ((20_000_000 + 1000) / 1000 % 8) * RECORD_BYTES;
    const fd = openSync(path, 'r+');
    writeSync(fd, encodeRecord({ t: 20_000_000 + 9000, players: 7, memory: 5 }).subarray(0, 12), 0, 12, offset);
    closeSync(fd);
    const { samples } = await store.read('t', 20_000_000 + 2000);
    expect(samples.map((s) => s.players)).toEqual([0, 2]);
  });

  it('does not trust a file of another layout or a stranger: starts it over when writing, reads nothing from it', async () => {
    await new HistoryStore(dir, { slots: 4, stepMs: 1000 }).append('x', { t: 30_000_000, players: 1 });
    expect((await new HistoryStore(dir, { slots: 4, stepMs: 1000 }).read('x', 30_000_000)).samples).toHaveLength(1);
    const other = new HistoryStore(dir, { slots: 6, stepMs: 2000 });
    await other.append('x', { t: 30_002_000, players: 2 });
    await other.close();
    expect(statSync(join(dir, 'x.ring')).size).toBe(ringFileBytes(6));
    expect((await other.read('x', 30_002_000)).samples.map((s) => s.players)).toEqual([2]);
    const junk = join(dir, 'y.ring');
    closeSync(openSync(junk, 'w'));
    expect((await other.read('y')).samples).toEqual([]);
    expect(await other.latest('y')).toBeUndefined();
  });

  it('reads only document names: no path reaches the disk', async () => {
    const store = new HistoryStore(dir);
    for (const name of ['../etc/passwd', '__proto__', 'a/b', '', 'x\n']) {
      expect((await store.read(name)).samples).toEqual([]);
      expect(await store.latest(name)).toBeUndefined();
      await expect(store.append(name, { t: T0 })).rejects.toThrow(/not a document name/);
    }
  });

  it('latest: the newest recent sample and the CPU rate since the one before; nothing when it is stale', async () => {
    const store = new HistoryStore(dir, { slots: 100, stepMs: 1000 });
    const t = 40_000_000;
    await store.append('l', { t, cpuNs: 1_000_000_000n, memory: 10 });
    await store.append('l', { t: t + 2000, cpuNs: 1_500_000_000n, memory: 20, players: 4, maxPlayers: 8 });
    const l = await store.latest('l', t + 2500);
    expect(l?.sample).toEqual({ t: t + 2000, cpuNs: 1_500_000_000n, memory: 20, players: 4, maxPlayers: 8 });
    expect(l?.cpu).toBeCloseTo(0.25); // 0.5 s of CPU in 2 s
    expect(await store.latest('l', t + 60_000)).toBeUndefined();
    await store.close();
  });

  it('removes a deleted instance\'s file', async () => {
    const store = new HistoryStore(dir, { slots: 4, stepMs: 1000 });
    await store.append('gone', { t: T0 });
    expect(await store.names()).toEqual(['gone']);
    await store.remove('gone');
    expect(await store.names()).toEqual([]);
  });

  it('writes files others may read (players, CPU and memory are no secret)', async () => {
    const store = new HistoryStore(join(dir, 'h'), { slots: 4, stepMs: 1000 });
    await store.append('p', { t: T0 });
    await store.close();
    expect(statSync(join(dir, 'h', 'p.ring')).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(dir, 'h', 'p.ring')).subarray(0, 8).toString('latin1')).toBe('L4MHIST1');
  });
});

describe('downsample', () => {
  const s = (m: number, extra: object) => ({ t: T0 + m * MIN, ...extra });
  it('buckets by step: peak players, mean CPU rate from consecutive samples, mean memory; empty buckets left out', () => {
    const samples = [
      s(0, { players: 1, cpuNs: 0n, memory: 100 }),
      s(1, { players: 4, cpuNs: 6_000_000_000n, memory: 300 }), // 6 s CPU in 60 s: 0.1 core
      s(2, { players: 2, cpuNs: 18_000_000_000n, memory: 200 }), // 12 s: 0.2
      s(3, { cpuNs: 18_000_000_000n }), // silent server, idle
      s(10, { players: 0, memory: 50 }),
    ];
    const start = Math.floor(T0 / (5 * MIN)) * 5 * MIN;
    const points = downsample(samples, 5 * MIN, 0);
    expect(points.map((p) => p.t)).toEqual([start, start + 10 * MIN]);
    expect(points[0]).toEqual({ t: start, players: 4, cpu: 0.1, memory: 200 });
    expect(points[1]).toEqual({ t: start + 10 * MIN, players: 0, cpu: null, memory: 50 });
  });

  it('a CPU counter that went back (the server restarted) gives no rate rather than a negative one', () => {
    const points = downsample([s(0, { cpuNs: 9_000_000_000n }), s(1, { cpuNs: 1_000_000n })], MIN, 0);
    expect(points.map((p) => p.cpu)).toEqual([null, null]);
  });

  it('leaves out samples before since', () => {
    expect(downsample([s(0, { players: 1 }), s(1, { players: 2 })], MIN, T0 + 30_000).map((p) => p.players)).toEqual([2]);
  });
});
