/**
 * The web service's accounts: users with scrypt-hashed passwords and roles
 * (admin, user), and Bearer tokens for automation, hashed at rest and shown
 * once. One file, `<web data dir>/users.json` (0600), never in the state
 * tree and never in git. Written atomically; read by the CLI (`left4me
 * user`, `left4me token`) and by `left4me web`.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { readSmallFile } from '../fs/small-file.js';

/** The web service's data directory on a host (its unit's StateDirectory=). */
export const DEFAULT_WEB_DATA_DIR = '/var/lib/left4me-web';

/** What a user may do: admin everything, user only its own and `system` documents. */
export type Role = 'admin' | 'user';

/** An account as callers see it: never its hash. */
export interface WebUser {
  name: string;
  role: Role;
  created: string;
}

/** A token as callers see it: never its secret or hash. */
export interface TokenInfo {
  id: string;
  user: string;
  created: string;
}

/** A name, a password or a token the store refuses; the message says what to do. */
export class UserError extends Error {
  override name = 'UserError';
}

/** Account names: what a document's metadata.owner may say (and never "system"). */
const USER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;
// scrypt cost: about 50 ms and 16 MiB per check on this machine size; stored with each hash, so it can grow.
const SCRYPT = { N: 2 ** 14, r: 8, p: 1, keylen: 32 } as const;
const TOKEN_RE = /^l4m_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

interface StoredUser {
  role: Role;
  hash: string;
  created: string;
}
interface StoredToken {
  user: string;
  sha256: string;
  created: string;
}

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, { ...opts, maxmem: 64 * 2 ** 20 }, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$salt$key` (base64url), the cost stored with the hash. */
async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected);
}

// Checked when the name is unknown, so a wrong name costs what a wrong password costs.
const UNKNOWN_USER_HASH = hashPassword(randomBytes(16).toString('hex'));

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw new UserError(`a password needs at least ${MIN_PASSWORD} characters`);
  if (password.length > MAX_PASSWORD) throw new UserError(`a password may have at most ${MAX_PASSWORD} characters`);
}

/** The accounts file of one web data directory; owns `<dir>/users.json`. */
export class UserStore {
  private writing: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {}

  private get file(): string {
    return join(this.dir, 'users.json');
  }

  /** Reads the file; unknown or malformed entries hold nothing (a name must be an account name). */
  private load(): { users: Map<string, StoredUser>; tokens: Map<string, StoredToken> } {
    const text = readSmallFile(this.file);
    const users = new Map<string, StoredUser>();
    const tokens = new Map<string, StoredToken>();
    if (text === undefined) return { users, tokens };
    let data: { users?: Record<string, StoredUser>; tokens?: Record<string, StoredToken> };
    try {
      data = JSON.parse(text) as typeof data;
    } catch {
      throw new UserError(`${this.file} is not valid JSON; restore it from a backup (no account was changed)`);
    }
    for (const [name, u] of Object.entries(data.users ?? {})) {
      if (USER_NAME.test(name) && (u?.role === 'admin' || u?.role === 'user') && typeof u.hash === 'string') users.set(name, { role: u.role, hash: u.hash, created: String(u.created) });
    }
    for (const [id, t] of Object.entries(data.tokens ?? {})) {
      if (/^[0-9a-f]{12}$/.test(id) && users.has(t?.user) && typeof t.sha256 === 'string') tokens.set(id, { user: t.user, sha256: t.sha256, created: String(t.created) });
    }
    return { users, tokens };
  }

  private async save(state: { users: Map<string, StoredUser>; tokens: Map<string, StoredToken> }): Promise<void> {
    const text = `${JSON.stringify({ users: Object.fromEntries(state.users), tokens: Object.fromEntries(state.tokens) }, null, 2)}\n`;
    // Root runs `left4me user`, the web account reads the file: it keeps the data directory's owner.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { uid, gid } = statSync(this.dir);
    // Only root needs (or may: the web unit's syscall filter refuses chown) to hand the file over.
    const owner = process.getuid?.() === 0 ? { uid, gid } : undefined;
    const write = this.writing.then(() => writeFileAtomic(this.file, text, 0o600, owner));
    this.writing = write.catch(() => undefined);
    await write;
  }

  /** Every account, by name. */
  list(): WebUser[] {
    return [...this.load().users].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, u]) => ({ name, role: u.role, created: u.created }));
  }

  /**
   * One account and its credential stamp: a digest of its password hash that
   * changes whenever the password does. Sessions keep the stamp and die when
   * it moves; the hash itself never leaves this file.
   */
  account(name: string): { user: WebUser; stamp: string } | undefined {
    const u = this.load().users.get(name);
    return u ? { user: { name, role: u.role, created: u.created }, stamp: createHash('sha256').update(`${u.role}\0${u.hash}`).digest('base64url') } : undefined;
  }

  /** The credential stamp of an account (see account()), or undefined when there is no such account. */
  stamp(name: string): string | undefined {
    return this.account(name)?.stamp;
  }

  /** Tokens, optionally of one user. */
  tokens(user?: string): TokenInfo[] {
    return [...this.load().tokens].filter(([, t]) => user === undefined || t.user === user).map(([id, t]) => ({ id, user: t.user, created: t.created }));
  }

  /** Creates an account; refuses a taken or malformed name and a short password. */
  async add(name: string, password: string, role: Role, now = new Date()): Promise<WebUser> {
    if (!USER_NAME.test(name) || name === 'system') {
      throw new UserError(`"${name}" cannot be an account name: use 1-32 lower-case letters, digits, _ or -, starting with a letter (and not "system", the owner of shared documents)`);
    }
    checkPassword(password);
    const state = this.load();
    if (state.users.has(name)) throw new UserError(`user ${name} exists already; change its password with left4me user passwd ${name}`);
    state.users.set(name, { role, hash: await hashPassword(password), created: now.toISOString() });
    await this.save(state);
    return { name, role, created: now.toISOString() };
  }

  /** Sets a new password for an existing account. */
  async setPassword(name: string, password: string): Promise<void> {
    checkPassword(password);
    const state = this.load();
    const u = state.users.get(name);
    if (!u) throw new UserError(`no user ${name}`);
    state.users.set(name, { ...u, hash: await hashPassword(password) });
    await this.save(state);
  }

  /** Removes an account and every token it had. */
  async remove(name: string): Promise<void> {
    const state = this.load();
    if (!state.users.delete(name)) throw new UserError(`no user ${name}`);
    for (const [id, t] of state.tokens) if (t.user === name) state.tokens.delete(id);
    await this.save(state);
  }

  /** The account when name and password match; undefined otherwise, in the same time for an unknown name. */
  async verify(name: string, password: string): Promise<WebUser | undefined> {
    const u = this.load().users.get(name);
    const ok = await passwordMatches(password.slice(0, MAX_PASSWORD), u?.hash ?? (await UNKNOWN_USER_HASH));
    return ok && u ? { name, role: u.role, created: u.created } : undefined;
  }

  /** A new Bearer token for an account: `l4m_<id>_<secret>`, returned this once; only its SHA-256 is kept. */
  async createToken(user: string, now = new Date()): Promise<string> {
    const state = this.load();
    if (!state.users.has(user)) throw new UserError(`no user ${user}`);
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    state.tokens.set(id, { user, sha256: createHash('sha256').update(secret).digest('hex'), created: now.toISOString() });
    await this.save(state);
    return `l4m_${id}_${secret}`;
  }

  /** The account a Bearer token belongs to, or undefined. Tokens carry 256 random bits, so a fast hash suffices. */
  verifyToken(token: string): WebUser | undefined {
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    const state = this.load();
    const t = state.tokens.get(m[1]!);
    if (!t) return undefined;
    const ok = timingSafeEqual(Buffer.from(createHash('sha256').update(m[2]!).digest('hex')), Buffer.from(t.sha256.padEnd(64).slice(0, 64)));
    const u = state.users.get(t.user);
    return ok && u ? { name: t.user, role: u.role, created: u.created } : undefined;
  }

  /** Revokes one token. */
  async revokeToken(id: string): Promise<void> {
    const state = this.load();
    if (!state.tokens.delete(id)) throw new UserError(`no token ${id}`);
    await this.save(state);
  }
}
