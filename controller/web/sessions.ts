/**
 * Browser sessions of the web service: server-side, keyed by the SHA-256 of
 * a random 32-byte id that only the browser's cookie holds. Kept in
 * `<web data dir>/sessions.json` (0600) so that restarting the service does
 * not log everybody out, and so that a copy of the file (a backup, a
 * misplaced log) logs nobody in: it holds hashes, never ids. The CSRF token
 * of a session is derived from its id (HMAC), so it is never stored either.
 *
 * A session ends when it is idle too long, when it is too old, at logout,
 * and when its account is removed or its password changes — whoever changed
 * it (the API or `left4me user passwd` at a shell): each session remembers
 * the account's credential stamp and dies when the stamp moves.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { readSmallFile } from '../fs/small-file.js';
import type { UserStore, WebUser } from './users.js';

/** How long sessions live. Defaults: 8 hours idle, 7 days at most. */
export interface SessionLimits {
  idleMs: number;
  maxAgeMs: number;
  /** Most live sessions per account; logging in once more ends the oldest. */
  perUser: number;
  /** Most live sessions in all; bounds the file and the memory. */
  total: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 8 * 3600_000, maxAgeMs: 7 * 24 * 3600_000, perUser: 20, total: 10_000 };

// Last-seen times are written back at most this often: a busy dashboard must not rewrite the file on every request.
const SEEN_RESOLUTION_MS = 60_000;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

interface StoredSession {
  user: string;
  /** The account's credential stamp when the session began. */
  stamp: string;
  created: number;
  seen: number;
}

/** A live session as the auth plugin sees it. */
export interface Session {
  /** The SHA-256 of the id: how the store names it; never the id itself. */
  key: string;
  user: WebUser;
  csrfToken: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The CSRF token of a session id: only whoever holds the id (the cookie) can know it. */
export function csrfTokenOf(id: string): string {
  return createHmac('sha256', id).update('left4me csrf token').digest('base64url');
}

/** Compares two secrets without a timing signal (the hashes have equal lengths whatever the inputs). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** The sessions of one web data directory; owns `<dir>/sessions.json`. One web process writes it. */
export class SessionStore {
  private readonly sessions = new Map<string, StoredSession>();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    readonly dir: string,
    private readonly users: UserStore,
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.load();
  }

  private get file(): string {
    return join(this.dir, 'sessions.json');
  }

  /** Reads the file; a malformed entry holds nothing and an unreadable file means nobody is logged in. */
  private load(): void {
    const text = readSmallFile(this.file);
    if (text === undefined) return;
    let data: { sessions?: Record<string, StoredSession> };
    try {
      data = JSON.parse(text) as typeof data;
    } catch {
      return; // A torn or hand-edited file costs a login, not the service.
    }
    for (const [key, s] of Object.entries(data.sessions ?? {})) {
      if (/^[0-9a-f]{64}$/.test(key) && typeof s?.user === 'string' && typeof s.stamp === 'string' && Number.isFinite(s.created) && Number.isFinite(s.seen)) {
        this.sessions.set(key, { user: s.user, stamp: s.stamp, created: s.created, seen: s.seen });
      }
    }
  }

  /** Writes the file soon; writes queue behind each other, so the last one holds the latest state. */
  private persist(): Promise<void> {
    this.dirty = true;
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const text = `${JSON.stringify({ sessions: Object.fromEntries(this.sessions) })}\n`;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const { uid, gid } = statSync(this.dir);
      await writeFileAtomic(this.file, text, 0o600, { uid, gid });
    });
    // A failed write is retried by the next change; the caller's answer does not wait on the disk.
    this.writing = this.writing.catch(() => undefined);
    return this.writing;
  }

  /** Waits until every change so far is on disk (at close, and in tests). */
  async flush(): Promise<void> {
    await this.writing;
  }

  private expired(s: StoredSession, now: number): boolean {
    return now - s.seen > this.limits.idleMs || now - s.created > this.limits.maxAgeMs;
  }

  /**
   * Starts a session for an account that just proved its password, ending
   * `previous` (the id the browser sent, if any): an id from before a login is
   * never kept. Returns the new id (for the cookie) and its CSRF token.
   */
  create(user: WebUser, previous?: string): { id: string; session: Session } {
    const now = this.now();
    if (previous !== undefined) this.sessions.delete(sha256(previous));
    this.prune(now);
    const mine = [...this.sessions].filter(([, s]) => s.user === user.name).sort(([, a], [, b]) => a.created - b.created);
    for (const [key] of mine.slice(0, Math.max(0, mine.length - this.limits.perUser + 1))) this.sessions.delete(key);
    // Full: the oldest session ends (Map order is creation order).
    while (this.sessions.size >= this.limits.total) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const key = sha256(id);
    this.sessions.set(key, { user: user.name, stamp: this.users.stamp(user.name) ?? '', created: now, seen: now });
    void this.persist();
    return { id, session: { key, user, csrfToken: csrfTokenOf(id) } };
  }

  /** The live session of a cookie's id, or undefined (and the stale one is forgotten). */
  resolve(id: string): Session | undefined {
    if (!SESSION_ID.test(id)) return undefined;
    const key = sha256(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    const now = this.now();
    const account = this.users.account(s.user);
    if (!account || account.stamp !== s.stamp || this.expired(s, now)) {
      this.sessions.delete(key);
      void this.persist();
      return undefined;
    }
    if (now - s.seen >= SEEN_RESOLUTION_MS) {
      s.seen = now;
      void this.persist();
    }
    return { key, user: account.user, csrfToken: csrfTokenOf(id) };
  }

  /** Ends one session (logout). */
  end(key: string): void {
    if (this.sessions.delete(key)) void this.persist();
  }

  /** Ends every session of an account (removed, or its password changed). */
  endAllOf(user: string): void {
    let changed = false;
    for (const [key, s] of this.sessions) if (s.user === user) changed = this.sessions.delete(key) || changed;
    if (changed) void this.persist();
  }

  /** How many sessions are held (live or not yet pruned). */
  get size(): number {
    return this.sessions.size;
  }

  private prune(now: number): void {
    for (const [key, s] of this.sessions) if (this.expired(s, now)) this.sessions.delete(key);
  }
}
