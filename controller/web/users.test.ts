import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { UserError, UserStore } from './users.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-users-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const store = () => new UserStore(join(root, `web${n++}`));

describe('UserStore', () => {
  it('keeps scrypt hashes only, in a 0600 file, and verifies passwords', async () => {
    const s = store();
    await s.add('alice', 'correct horse battery', 'admin');
    const text = readFileSync(join(s.dir, 'users.json'), 'utf8');
    expect(text).not.toContain('correct horse battery');
    expect(text).toMatch(/"hash": "scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}"/);
    expect(statSync(join(s.dir, 'users.json')).mode & 0o777).toBe(0o600);
    expect(await s.verify('alice', 'correct horse battery')).toMatchObject({ name: 'alice', role: 'admin' });
    expect(await s.verify('alice', 'correct horse battery!')).toBeUndefined();
    expect(await s.verify('bob', 'correct horse battery')).toBeUndefined();
    await s.setPassword('alice', 'another long password');
    expect(await s.verify('alice', 'correct horse battery')).toBeUndefined();
    expect(await s.verify('alice', 'another long password')).toBeDefined();
  });

  it('refuses taken, malformed and reserved names and short passwords, changing nothing', async () => {
    const s = store();
    await s.add('alice', 'a long enough password', 'user');
    for (const [name, password, message] of [
      ['alice', 'a long enough password', /exists already/],
      ['system', 'a long enough password', /not "system"/],
      ['Alice', 'a long enough password', /cannot be an account name/],
      ['../etc', 'a long enough password', /cannot be an account name/],
      ['constructor', 'short', /at least 12 characters/],
    ] as const) {
      await expect(s.add(name, password, 'user')).rejects.toThrow(message);
    }
    expect(s.list().map((u) => u.name)).toEqual(['alice']);
  });

  it('hands out a token once, keeps only its SHA-256, and forgets it with its user', async () => {
    const s = store();
    await s.add('bot', 'a long enough password', 'user');
    const token = await s.createToken('bot');
    expect(token).toMatch(/^l4m_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(join(s.dir, 'users.json'), 'utf8')).not.toContain(token.slice('l4m_000000000000_'.length));
    expect(s.verifyToken(token)).toMatchObject({ name: 'bot', role: 'user' });
    expect(s.verifyToken(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(s.verifyToken('Bearer nonsense')).toBeUndefined();
    await s.remove('bot');
    expect(s.verifyToken(token)).toBeUndefined();
    expect(s.tokens()).toEqual([]);
  });

  it('holds nothing for hostile keys in a hand-edited file', () => {
    const s = store();
    const dir = s.dir;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'users.json'), '{"users": {"__proto__": {"role": "admin", "hash": "x"}, "Root": {"role": "admin", "hash": "x"}, "eve": {"role": "god", "hash": "x"}}}');
    expect(s.list()).toEqual([]);
    writeFileSync(join(dir, 'users.json'), 'not json');
    expect(() => s.list()).toThrow(UserError);
  });
});

describe('left4me user and token', () => {
  async function cli(args: string[], stdin?: string) {
    let out = '';
    let err = '';
    const code = await main(args, { out: (t: string) => void (out += t), err: (t: string) => void (err += t), ...(stdin !== undefined ? { readStdin: async () => stdin } : {}) } as never);
    return { code, out, err };
  }

  it('adds with a password from standard input, lists, changes it, makes a token and removes', async () => {
    const dir = join(root, 'cli');
    expect(await cli(['user', 'add', 'alice', '--admin', '--password-stdin', '--web-data-dir', dir], 'a long enough password\n')).toMatchObject({ code: 0, out: 'user alice added (admin)\n' });
    const made = await cli(['user', 'add', 'bob', '--web-data-dir', dir]);
    expect(made.out).toMatch(/^user bob added \(user\)\npassword: ([A-Za-z0-9_-]{20})\n\(shown once; only its scrypt hash is kept\)\n$/);
    const generated = /password: (\S+)/.exec(made.out)![1]!;
    expect(await new UserStore(dir).verify('bob', generated)).toBeDefined();
    expect(await new UserStore(dir).verify('alice', 'a long enough password')).toBeDefined();
    const list = await cli(['user', 'list', '--web-data-dir', dir]);
    expect(list.out).toMatch(/^alice\s+admin\s+0\s+\S+$/m);
    expect(list.out).toMatch(/^bob\s+user\s+0\s+\S+$/m);
    const token = await cli(['token', 'create', 'bob', '--web-data-dir', dir]);
    expect(token.code).toBe(0);
    expect(new UserStore(dir).verifyToken(token.out.trim())).toMatchObject({ name: 'bob' });
    expect((await cli(['user', 'list', '--web-data-dir', dir])).out).toMatch(/^bob\s+user\s+1\s/m);
    expect(await cli(['user', 'passwd', 'alice', '--password-stdin', '--web-data-dir', dir], 'short\n')).toMatchObject({ code: 1, err: 'left4me user: a password needs at least 12 characters\n' });
    expect((await cli(['user', 'remove', 'bob', '--web-data-dir', dir])).code).toBe(0);
    expect(await cli(['token', 'create', 'bob', '--web-data-dir', dir])).toMatchObject({ code: 1, err: 'left4me token: no user bob\n' });
  });
});
