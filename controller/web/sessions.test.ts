import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrfTokenOf, SessionStore } from './sessions.js';
import { UserStore, type WebUser } from './users.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-sessions-'));
const stores: SessionStore[] = [];
afterAll(async () => {
  // Writes run in the background; wait for them, or one could recreate a directory after it is removed.
  for (const s of stores) await s.flush();
  rmSync(root, { recursive: true, force: true });
});
let users: UserStore;
let alice: WebUser;
let bob: WebUser;
beforeAll(async () => {
  users = new UserStore(join(root, 'web'));
  alice = await users.add('alice', 'alice password 1', 'user');
  bob = await users.add('bob', 'bobs password 12', 'user');
});
const limits = { idleMs: 60 * 60_000, maxAgeMs: 24 * 60 * 60_000, perUser: 3, total: 5 };
// Each test its own sessions file (the accounts are shared): stores of one test never see another's.
let n = 0;
function store(now: () => number, dir = join(root, `sessions${n++}`)) {
  const s = new SessionStore(dir, users, limits, now);
  stores.push(s);
  return s;
}

describe('SessionStore', () => {
  it('ends a session idle too long, even when used just before', () => {
    let now = 1_000_000;
    const s = store(() => now);
    const { id } = s.create(alice);
    now += limits.idleMs - 1000;
    expect(s.resolve(id)?.user.name).toBe('alice');
    now += limits.idleMs - 1000;
    expect(s.resolve(id)?.user.name).toBe('alice');
    now += limits.idleMs + 1;
    expect(s.resolve(id)).toBeUndefined();
  });

  it('ends a session at its absolute age however busy it is', () => {
    let now = 5_000_000;
    const s = store(() => now);
    const { id } = s.create(alice);
    for (let t = 0; t < limits.maxAgeMs; t += limits.idleMs / 2) {
      now = 5_000_000 + t;
      expect(s.resolve(id)).toBeDefined();
    }
    now = 5_000_000 + limits.maxAgeMs + 1;
    expect(s.resolve(id)).toBeUndefined();
  });

  it('keeps at most perUser sessions per account and total in all, ending the oldest', () => {
    const now = 9_000_000;
    const s = store(() => now);
    const ids = [1, 2, 3, 4].map(() => s.create(alice).id);
    expect(s.resolve(ids[0]!)).toBeUndefined();
    expect(ids.slice(1).every((id) => s.resolve(id))).toBe(true);
    const bobs = [1, 2, 3].map(() => s.create(bob).id);
    expect(s.size).toBe(5);
    expect(s.resolve(bobs[2]!)).toBeDefined();
  });

  it('writes only hashes, and a new store on the same file knows the sessions', async () => {
    const dir = join(root, 'persisted');
    const s = store(Date.now, dir);
    const { id, session } = s.create(bob);
    expect(session.csrfToken).toBe(csrfTokenOf(id));
    await s.flush();
    const text = readFileSync(join(dir, 'sessions.json'), 'utf8');
    expect(text).not.toContain(id);
    expect(text).not.toContain(session.csrfToken);
    expect(store(Date.now, dir).resolve(id)?.user).toEqual(bob);
    // A torn file logs everybody out and breaks nothing.
    writeFileSync(join(dir, 'sessions.json'), '{"sessions": {"');
    expect(store(Date.now, dir).resolve(id)).toBeUndefined();
  });

  it('refuses ids of the wrong shape without looking them up', () => {
    const s = store(Date.now);
    for (const id of ['', '__proto__', 'constructor', 'x'.repeat(44), '../'.repeat(15)]) expect(s.resolve(id)).toBeUndefined();
  });
});
