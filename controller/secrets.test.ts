import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RconSecrets, readRconPassword } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('RconSecrets', () => {
  it('keeps one password per instance, even when many are created at once, in a root-only file', async () => {
    const a = new RconSecrets(dir);
    const names = Array.from({ length: 20 }, (_, i) => `i${i}`);
    const first = await Promise.all(names.map((n) => a.get(n)));
    const again = await Promise.all(names.map((n) => a.get(n)));
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(20);
    const reread = new RconSecrets(dir);
    expect(await Promise.all(names.map((n) => reread.peek(n)))).toEqual(first);
    expect(statSync(join(dir, 'rcon.json')).mode & 0o777).toBe(0o600);
    await reread.remove('i0');
    expect(await new RconSecrets(dir).peek('i0')).toBeUndefined();
  });
});

describe('RconSecrets on a disk that refuses writes (full)', () => {
  it('never hands out a password the file does not hold, keeps a removal until it is written, and writes again once the disk takes it', async () => {
    const sub = join(dir, 'full');
    mkdirSync(sub);
    const file = join(sub, 'rcon.json');
    const s = new RconSecrets(sub);
    const a = await s.get('a');
    // The directory turns into a file: every write fails, as on a full disk.
    const broken = () => (rmSync(sub, { recursive: true }), writeFileSync(sub, ''));
    const mended = (text: string) => (rmSync(sub), mkdirSync(sub), writeFileSync(file, text));
    let saved = readFileSync(file, 'utf8');
    broken();
    await expect(s.get('b')).rejects.toThrow();
    expect(await s.peek('b')).toBeUndefined();
    mended(saved);
    // The failed write does not block the ones after it.
    const b = await s.get('b');
    expect(await new RconSecrets(sub).peek('b')).toBe(b);
    expect(await s.get('b')).toBe(b);
    saved = readFileSync(file, 'utf8');
    broken();
    await expect(s.remove('b')).rejects.toThrow();
    expect(await s.peek('b')).toBe(b);
    mended(saved);
    await s.remove('b');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ a });
  });
});

describe('RconSecrets reading a hostile rcon.json', () => {
  it('takes only instance names with well-formed passwords, and nothing in it can pollute or replace a prototype', async () => {
    const hostile = mkdtempSync(join(tmpdir(), 'left4me-secrets-hostile-'));
    try {
      const kept = 'abcdefghijklmnopqrstuvwx';
      writeFileSync(
        join(hostile, 'rcon.json'),
        `{"__proto__": {"polluted": "yes", "demo-1": "from-the-prototype"}, "constructor": {"prototype": {"polluted": "yes"}},
          "toString": "x", "Bad Name": "abcdefghijklmnopqrstuvwx", "demo-1": "${kept}", "demo-2": 42, "demo-3": "quote\\"; quit"}`,
        { mode: 0o600 },
      );
      const s = new RconSecrets(hostile);
      expect(await s.peek('demo-1')).toBe(kept);
      for (const name of ['constructor', 'demo-2', 'demo-3']) {
        expect(await s.peek(name), name).toBeUndefined();
        expect(await s.get(name), name).toMatch(/^[A-Za-z0-9_-]{24}$/);
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getPrototypeOf({})).toBe(Object.prototype);
      const saved = JSON.parse(readFileSync(join(hostile, 'rcon.json'), 'utf8')) as object;
      expect(Object.keys(saved).sort()).toEqual(['constructor', 'demo-1', 'demo-2', 'demo-3']);
    } finally {
      rmSync(hostile, { recursive: true, force: true });
    }
  });

  it('says which file is broken when it is not a JSON object of passwords', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'left4me-secrets-broken-'));
    try {
      writeFileSync(join(broken, 'rcon.json'), '["not", "a", "table"]', { mode: 0o600 });
      await expect(new RconSecrets(broken).get('demo-1')).rejects.toThrow(`${join(broken, 'rcon.json')} is not a JSON object`);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });
});

describe('who reads rcon.json', () => {
  const uid = process.getuid!();
  const mode = (p: string) => statSync(p).mode & 0o7777;

  it('gives the reader group read access to the file and passage through the directory, on an existing host and for new passwords', async () => {
    const top = mkdtempSync(join(tmpdir(), 'left4me-secrets-group-'));
    try {
      const dir = join(top, 'secrets');
      // A host set up before the web service: root-only directory and file.
      const before = new RconSecrets(dir);
      const old = await before.get('demo-1');
      chmodSync(dir, 0o700);
      expect(mode(join(dir, 'rcon.json'))).toBe(0o600);
      const readerGid = 4242;
      const s = new RconSecrets(dir);
      await s.protect(readerGid);
      expect([mode(dir), statSync(dir).uid, statSync(dir).gid]).toEqual([0o710, uid, readerGid]);
      expect([mode(join(dir, 'rcon.json')), statSync(join(dir, 'rcon.json')).gid]).toEqual([0o640, readerGid]);
      // A password created later keeps the file readable by the group.
      const created = await s.get('demo-2');
      expect([mode(join(dir, 'rcon.json')), statSync(join(dir, 'rcon.json')).uid, statSync(join(dir, 'rcon.json')).gid]).toEqual([0o640, uid, readerGid]);
      expect(await readRconPassword(dir, 'demo-1')).toBe(old);
      expect(await readRconPassword(dir, 'demo-2')).toBe(created);
      expect(await readRconPassword(dir, 'demo-3')).toBeUndefined();
      expect(await readRconPassword(dir, '__proto__')).toBeUndefined();
      // Without the group (the web account was removed): root-only again.
      const alone = new RconSecrets(dir);
      await alone.protect(undefined);
      expect([mode(dir), mode(join(dir, 'rcon.json')), statSync(join(dir, 'rcon.json')).gid]).toEqual([0o700, 0o600, process.getgid!()]);
      await alone.get('demo-4');
      expect(mode(join(dir, 'rcon.json'))).toBe(0o600);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });

  it('creates the directory on a fresh host, and reads no file when there is none', async () => {
    const top = mkdtempSync(join(tmpdir(), 'left4me-secrets-fresh-'));
    try {
      const dir = join(top, 'secrets');
      await new RconSecrets(dir).protect(4343);
      expect([mode(dir), statSync(dir).gid]).toEqual([0o710, 4343]);
      expect(await readRconPassword(dir, 'demo-1')).toBeUndefined();
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});
