import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { PortLeases, portFreeOnHost } from './leases.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-leases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const game = { min: 27015, max: 27020 };
const client = { min: 26900, max: 26905 };
const open = (file = join(dir, `l${n++}.json`)) => PortLeases.open(file, game, client);

describe('PortLeases', () => {
  it('gives the lowest free ports, skipping explicitly requested ones, and persists', async () => {
    const file = join(dir, 'persist.json');
    const l = await open(file);
    expect(await l.reconcile([{ name: 'b' }, { name: 'a', port: 27015 }, { name: 'c', clientPort: 26900 }])).toEqual([]);
    expect(Object.fromEntries(l.all())).toEqual({
      a: { port: 27015, clientPort: 26901 },
      b: { port: 27016, clientPort: 26902 },
      c: { port: 27017, clientPort: 26900 },
    });
    const again = await open(file);
    expect(again.get('b')).toEqual({ port: 27016, clientPort: 26902 });
    expect(JSON.parse(readFileSync(file, 'utf8')).leases.a).toEqual({ port: 27015, clientPort: 26901 });
  });

  it('a lease whose write failed (a full disk) is not held in memory: the next reconcile and release write again', async () => {
    const sub = join(dir, 'full');
    mkdirSync(sub);
    const file = join(sub, 'leases.json');
    const l = await open(file);
    await l.reconcile([{ name: 'a' }]);
    // The directory turns into a file: every write fails, as on a full disk.
    const broken = () => (rmSync(sub, { recursive: true }), writeFileSync(sub, ''));
    const mended = () => (rmSync(sub), mkdirSync(sub));
    const saved = readFileSync(file, 'utf8');
    broken();
    await expect(l.reconcile([{ name: 'a' }, { name: 'b' }])).rejects.toThrow();
    expect(l.get('b')).toBeUndefined();
    mended();
    writeFileSync(file, saved);
    await l.reconcile([{ name: 'a' }, { name: 'b' }]);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).leases)).toEqual(['a', 'b']);
    const before = readFileSync(file, 'utf8');
    broken();
    await expect(l.release('b')).rejects.toThrow();
    expect(l.get('b')).toBeDefined();
    mended();
    writeFileSync(file, before);
    await l.release('b');
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).leases)).toEqual(['a']);
  });

  it('a release during a reconcile is not undone by it (the controller reads documents while a deletion runs)', async () => {
    const file = join(dir, 'concurrent.json');
    // The reconcile waits in its port probe for a new instance while the deletion releases another.
    let probed!: () => void;
    const probing = new Promise<void>((r) => (probed = r));
    let answer!: (free: boolean) => void;
    const answered = new Promise<boolean>((r) => (answer = r));
    const l = await PortLeases.open(file, game, client, async () => {
      probed();
      return answered;
    });
    await l.reconcile([{ name: 'gone', port: 27015, clientPort: 26900 }]);
    const reconciling = l.reconcile([{ name: 'gone', port: 27015, clientPort: 26900 }, { name: 'new' }]);
    await probing;
    const releasing = l.release('gone');
    answer(true);
    await Promise.all([reconciling, releasing]);
    expect([...l.all().keys()]).toEqual(['new']);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).leases)).toEqual(['new']);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).leases)).toEqual([...(await PortLeases.open(file, game, client)).all().keys()]);
  });

  it('is sticky: existing leases survive new instances and re-ordering', async () => {
    const l = await open();
    await l.reconcile([{ name: 'z' }]);
    await l.reconcile([{ name: 'a' }, { name: 'z' }]);
    expect(l.get('z')!.port).toBe(27015);
    expect(l.get('a')!.port).toBe(27016);
  });

  it('the holder keeps a port another document later asks for; the later one gets a conflict naming it', async () => {
    const l = await open();
    await l.reconcile([{ name: 'first' }]);
    const conflicts = await l.reconcile([{ name: 'first' }, { name: 'second', port: 27015 }]);
    expect(conflicts).toEqual([
      { name: 'second', field: 'port', message: 'port 27015 is leased by instance/first; choose another or remove it from instance/first first' },
    ]);
    expect(l.get('first')!.port).toBe(27015);
    expect(l.get('second')).toBeUndefined();
  });

  it('moves a lease to a newly explicit port and frees the old one', async () => {
    const l = await open();
    await l.reconcile([{ name: 'a' }]);
    await l.reconcile([{ name: 'a', port: 27019 }]);
    await l.reconcile([{ name: 'a', port: 27019 }, { name: 'b' }]);
    expect(l.get('a')!.port).toBe(27019);
    expect(l.get('b')!.port).toBe(27015);
  });

  it('reports an exhausted range and leaves no half lease', async () => {
    const l = await open();
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const conflicts = await l.reconcile(names.map((name) => ({ name })));
    expect(conflicts).toEqual([
      { name: 'g', field: 'port', message: 'no free game port left in 27015-27020' },
      { name: 'g', field: 'clientPort', message: 'no free client port left in 26900-26905' },
    ]);
    expect(l.get('g')).toBeUndefined();
    expect(l.all().size).toBe(6);
  });

  it('releases on delete so the ports can be reused', async () => {
    const l = await open();
    await l.reconcile([{ name: 'a' }, { name: 'b' }]);
    await l.release('a');
    await l.reconcile([{ name: 'b' }, { name: 'c' }]);
    expect(l.get('c')).toEqual({ port: 27015, clientPort: 26900 });
  });

  it('skips ports another process holds when leasing new ones, but keeps its own', async () => {
    const busy = new Set([27015, 26900]);
    const l = await PortLeases.open(join(dir, 'probe.json'), game, client, async (p) => !busy.has(p));
    await l.reconcile([{ name: 'a' }]);
    expect(l.get('a')).toEqual({ port: 27016, clientPort: 26901 });
    busy.add(27016); // now our own server holds it: the lease stays
    await l.reconcile([{ name: 'a' }, { name: 'b' }]);
    expect(l.get('a')).toEqual({ port: 27016, clientPort: 26901 });
    expect(l.get('b')).toEqual({ port: 27017, clientPort: 26902 });
  });

  it('a hostile lease file holds no port for a name that is not an instance, nor for a malformed lease', async () => {
    const file = join(dir, 'hostile.json');
    writeFileSync(
      file,
      `{"leases": {"__proto__": {"port": 27015, "clientPort": 26900}, "Bad Name": {"port": 27016, "clientPort": 26901},
        "broken": {"port": "27017", "clientPort": 26902}, "half": {"port": 27018}, "ok": {"port": 27019, "clientPort": 26904}}}`,
    );
    const l = await open(file);
    expect(Object.fromEntries(l.all())).toEqual({ ok: { port: 27019, clientPort: 26904 } });
    expect(({} as Record<string, unknown>).port).toBeUndefined();
    await l.reconcile([{ name: 'ok' }, { name: 'new' }]);
    expect(l.get('new')).toEqual({ port: 27015, clientPort: 26900 });
  });

  it('a truncated or corrupted lease file is an error naming it, never an empty table (that would hand every port to someone else)', async () => {
    for (const [i, text] of ['{"leases": {"a": {"port": 27015, "cli', '', 'null', '{"leases": 5}', '[]'].entries()) {
      const file = join(dir, `torn-${i}.json`);
      writeFileSync(file, text);
      await expect(open(file)).rejects.toThrow(`${file} is not a lease table (truncated or corrupted)`);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  it('with a recovery, a torn lease file is moved aside and rebuilt from what the host shows, then persisted', async () => {
    const torn = mkdtempSync(join(dir, 'recover-'));
    const file = join(torn, 'leases.json');
    writeFileSync(file, '{"leases": {"a": {"port": 27016, "clientP');
    const told: unknown[] = [];
    const host = new Map([
      ['a', { port: 27016, clientPort: 26901 }],
      ['b', { port: 27015, clientPort: 26900 }],
      ['__proto__', { port: 27017, clientPort: 26902 }],
    ]);
    const l = await PortLeases.open(file, game, client, undefined, { fromHost: async () => host, recovered: (info) => told.push(info) });
    expect(Object.fromEntries(l.all())).toEqual({ a: { port: 27016, clientPort: 26901 }, b: { port: 27015, clientPort: 26900 } });
    const aside = readdirSync(torn).filter((f) => f.startsWith('leases.json.unreadable-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(torn, aside[0]!), 'utf8')).toBe('{"leases": {"a": {"port": 27016, "clientP');
    expect(told).toEqual([{ file, movedTo: join(torn, aside[0]!), leases: 2 }]);
    // Persisted: the next open reads the rebuilt table and recovers nothing.
    const again = await PortLeases.open(file, game, client, undefined, { fromHost: async () => new Map(), recovered: (info) => told.push(info) });
    expect(again.get('b')).toEqual({ port: 27015, clientPort: 26900 });
    expect(told).toHaveLength(1);
    // A new instance does not get a port the rebuilt table holds.
    await again.reconcile([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    expect(again.get('c')).toEqual({ port: 27017, clientPort: 26902 });
  });

  it('portFreeOnHost sees a TCP listener', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const port = (server.address() as { port: number }).port;
    try {
      expect(await portFreeOnHost(port)).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await portFreeOnHost(port)).toBe(true);
  });
});
