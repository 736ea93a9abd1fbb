import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UidLeases } from './uid-leases.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-uid-leases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const range = { min: 1879048192, max: 1879048195 };
const open = (file = join(dir, `u${n++}.json`), r = range) => UidLeases.open(file, r);

describe('UidLeases', () => {
  it('gives each instance the lowest free uid, in name order, and persists', async () => {
    const file = join(dir, 'persist.json');
    const l = await open(file);
    expect(await l.reconcile(['b', 'a'])).toEqual([]);
    expect(Object.fromEntries(l.all())).toEqual({ a: 1879048192, b: 1879048193 });
    expect((await open(file)).get('b')).toBe(1879048193);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ uids: { a: 1879048192, b: 1879048193 } });
  });

  it('a uid whose write failed (a full disk) is not held in memory: the next reconcile and release write again', async () => {
    const sub = join(dir, 'full');
    mkdirSync(sub);
    const file = join(sub, 'uid-leases.json');
    const l = await open(file);
    await l.reconcile(['a']);
    // The directory turns into a file: every write fails, as on a full disk.
    const broken = () => (rmSync(sub, { recursive: true }), writeFileSync(sub, ''));
    const mended = (text: string) => (rmSync(sub), mkdirSync(sub), writeFileSync(file, text));
    let saved = readFileSync(file, 'utf8');
    broken();
    await expect(l.reconcile(['a', 'b'])).rejects.toThrow();
    expect(l.get('b')).toBeUndefined();
    mended(saved);
    await l.reconcile(['a', 'b']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ uids: { a: 1879048192, b: 1879048193 } });
    saved = readFileSync(file, 'utf8');
    broken();
    await expect(l.release('b')).rejects.toThrow();
    expect(l.get('b')).toBe(1879048193);
    mended(saved);
    await l.release('b');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ uids: { a: 1879048192 } });
  });

  it('a release during a reconcile is not undone by it, nor does it undo the reconcile', async () => {
    const file = join(dir, 'concurrent.json');
    const l = await open(file);
    await l.reconcile(['gone']);
    // Both in flight at once, as a document load and a deletion are in the controller.
    await Promise.all([l.reconcile(['gone', 'new']), l.release('gone')]);
    expect([...l.all().keys()]).toEqual(['new']);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).uids)).toEqual(['new']);
  });

  it('is sticky: a uid stays with its instance while others come and go, and is reused only after release', async () => {
    const l = await open();
    await l.reconcile(['m']);
    await l.reconcile(['a', 'm']);
    expect(l.get('m')).toBe(1879048192);
    expect(l.get('a')).toBe(1879048193);
    // Not asked for (an invalid or other-node document): kept, not given away.
    await l.reconcile(['b']);
    expect(l.get('m')).toBe(1879048192);
    expect(l.get('b')).toBe(1879048194);
    await l.release('m');
    await l.reconcile(['c']);
    expect(l.get('c')).toBe(1879048192);
  });

  it('moves a lease the range no longer holds, and says so when the range is full', async () => {
    const file = join(dir, 'moved.json');
    await (await open(file)).reconcile(['a', 'b']);
    const moved = await open(file, { min: 1879048200, max: 1879048200 });
    const conflicts = await moved.reconcile(['a', 'b']);
    expect(moved.get('a')).toBe(1879048200);
    expect(moved.get('b')).toBeUndefined();
    expect(conflicts).toEqual([{ name: 'b', message: "no free server uid left in 1879048200-1879048200; widen the controller's --uid-range" }]);
  });

  it('never hands one uid to two instances, even from a hand-edited file', async () => {
    const file = join(dir, 'edited.json');
    writeFileSync(file, JSON.stringify({ uids: { b: 1879048192, a: 1879048192, c: 'x', constructor: 1879048193 } }));
    const l = await open(file);
    await l.reconcile(['a', 'b', 'c', 'constructor']);
    const uids = [...l.all().values()];
    expect(new Set(uids).size).toBe(uids.length);
    expect(l.get('a')).toBe(1879048192);
    expect(l.get('constructor')).toBe(1879048193);
    expect(l.get('b')).toBe(1879048194);
    expect(l.get('c')).toBe(1879048195);
  });

  it('a hand-edited file holds uids only for instance names ("__proto__" and "Bad_Name" hold nothing)', async () => {
    const file = join(dir, 'hostile.json');
    writeFileSync(file, '{"uids": {"__proto__": 1879048192, "Bad_Name": 1879048193, "ok": 1879048194}}');
    const l = await open(file);
    expect([...l.all()]).toEqual([['ok', 1879048194]]);
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('a torn file is an error naming it; with a recovery it is moved aside and rebuilt from the host, keeping every uid', async () => {
    const torn = mkdtempSync(join(dir, 'recover-'));
    const file = join(torn, 'uid-leases.json');
    writeFileSync(file, '{"uids": {"a": 18790');
    await expect(open(file)).rejects.toThrow(`${file} is not a lease table (truncated or corrupted)`);
    const told: unknown[] = [];
    const l = await UidLeases.open(file, range, { fromHost: async () => new Map([['a', range.min + 2]]), recovered: (info) => told.push(info) });
    expect(Object.fromEntries(l.all())).toEqual({ a: range.min + 2 });
    expect(told).toHaveLength(1);
    expect(readdirSync(torn).filter((f) => f.startsWith('uid-leases.json.unreadable-'))).toHaveLength(1);
    expect(JSON.parse(readFileSync(file, 'utf8')).uids).toEqual({ a: range.min + 2 });
    expect(await (await open(file)).reconcile(['a', 'b'])).toEqual([]);
    expect((await open(file)).get('a')).toBe(range.min + 2);
  });

  it('preview changes nothing', async () => {
    const file = join(dir, 'preview.json');
    const l = await open(file);
    expect(l.preview(['a']).leases.get('a')).toBe(1879048192);
    expect(l.get('a')).toBeUndefined();
    expect(() => readFileSync(file)).toThrow();
  });
});
