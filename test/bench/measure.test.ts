import { describe, expect, it } from 'vitest';
import { cpuMs, parseProcStat, percentile, perMinute, rssMiB } from './measure.js';

describe('percentile', () => {
  it('is the nearest-rank sample: p50 of 1..10 is 5, p99 of 1..100 is 99, p100 the largest', () => {
    const ten = [7, 3, 10, 1, 5, 9, 2, 8, 4, 6];
    expect(percentile(ten, 50)).toBe(5);
    expect(percentile(ten, 90)).toBe(9);
    expect(percentile(ten, 100)).toBe(10);
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 1)).toBe(1);
  });

  it('of few samples, p99 is the largest (what a row of 30 samples reports)', () => {
    expect(percentile([4, 1, 3], 99)).toBe(4);
    expect(percentile([42], 50)).toBe(42);
  });

  it('does not reorder the caller’s samples', () => {
    const s = [3, 1, 2];
    percentile(s, 50);
    expect(s).toEqual([3, 1, 2]);
  });

  it('refuses no samples and a p outside (0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(/no samples/);
    expect(() => percentile([1], 0)).toThrow(/\(0, 100\]/);
    expect(() => percentile([1], 101)).toThrow(/\(0, 100\]/);
  });
});

describe('perMinute', () => {
  it('scales an amount over a duration to one minute', () => {
    expect(perMinute(500, 30_000)).toBe(1000);
    expect(perMinute(90, 90_000)).toBe(60);
  });

  it('refuses a duration that is not positive', () => {
    expect(() => perMinute(1, 0)).toThrow(/positive duration/);
  });
});

describe('parseProcStat', () => {
  it('reads utime and stime (fields 14 and 15) even when the command name holds spaces and parentheses', () => {
    const line = '4242 (node (left4me) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 567 8 9 20 0 11 0 100 1000000 5000 18446744073709551615\n';
    expect(parseProcStat(line)).toEqual({ utime: 1234, stime: 567 });
  });

  it('refuses text that is not a stat line', () => {
    expect(() => parseProcStat('no such thing')).toThrow(/not a \/proc\/PID\/stat line/);
    expect(() => parseProcStat('1 (x) S 1 2')).toThrow(/no utime\/stime/);
  });
});

describe('cpuMs and rssMiB of a real process', () => {
  it('see this process use CPU and memory', async () => {
    const before = await cpuMs(process.pid);
    const until = Date.now() + 150;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(await cpuMs(process.pid)).toBeGreaterThan(before);
    expect(await rssMiB(process.pid)).toBeGreaterThan(10);
  });
});
