/**
 * Counting failed logins, so that guessing passwords is slow: per client
 * address and per account name, a fixed window that opens at the first
 * failure. Once a key has `max` failures its window is closed until it
 * expires; the caller answers 429 with Retry-After. Success does not reset a
 * count: an attacker who knows one password must not buy a new budget of
 * guesses for others with it.
 *
 * Memory is bounded: at most `maxKeys` keys per limiter. When full, expired
 * windows go first, then the oldest; an attacker spraying names or addresses
 * can only make the limiter forget its oldest entries, never grow it.
 */
import { isIPv6 } from 'node:net';

export interface LimitOptions {
  /** Failures allowed per window. */
  max: number;
  windowMs: number;
  /** Most keys remembered. */
  maxKeys: number;
}

/** Login limits: 10 failures per 15 minutes per client address, and as many per account name. */
export const LOGIN_LIMITS: LimitOptions = { max: 10, windowMs: 15 * 60_000, maxKeys: 10_000 };

interface Window {
  start: number;
  failures: number;
}

/** One limiter: failures by key (an address, a name). In memory: a restart forgets it, as it forgets nothing else worth keeping. */
export class FailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly opts: LimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `key` may try again (at least 1), or 0 when it may try now. */
  retryAfter(key: string): number {
    const w = this.live(key);
    if (!w || w.failures < this.opts.max) return 0;
    return Math.max(1, Math.ceil((w.start + this.opts.windowMs - this.now()) / 1000));
  }

  /** Counts one failure of `key`. */
  fail(key: string): void {
    const w = this.live(key);
    if (w) {
      w.failures++;
      return;
    }
    this.makeRoom();
    this.windows.set(key, { start: this.now(), failures: 1 });
  }

  /**
   * Takes back one failure counted ahead: a login counts its attempt before
   * checking the password (which takes a while), so that many guesses sent
   * at once cannot all pass the check before the first is counted; the
   * attempt that turns out right is taken back.
   */
  forgive(key: string): void {
    const w = this.live(key);
    if (w && w.failures > 0) w.failures--;
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.windows.size;
  }

  private live(key: string): Window | undefined {
    const w = this.windows.get(key);
    if (w && this.now() - w.start >= this.opts.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  private makeRoom(): void {
    if (this.windows.size < this.opts.maxKeys) return;
    const now = this.now();
    for (const [key, w] of this.windows) if (now - w.start >= this.opts.windowMs) this.windows.delete(key);
    // Map order is insertion order, and a key is inserted when its window opens: the first is the oldest.
    while (this.windows.size >= this.opts.maxKeys) this.windows.delete(this.windows.keys().next().value!);
  }
}

/**
 * The key of a client address: IPv6 clients by their /64 (one host usually
 * holds a whole /64, so single addresses would cost an attacker nothing),
 * IPv4 (also IPv4-mapped IPv6) by the address.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  // Expand "::" so that the first four groups are the /64.
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** The two limiters of the login form. */
export interface LoginLimiters {
  byAddress: FailureLimiter;
  byName: FailureLimiter;
}

export function loginLimiters(opts: LimitOptions = LOGIN_LIMITS, now?: () => number): LoginLimiters {
  return { byAddress: new FailureLimiter(opts, now), byName: new FailureLimiter(opts, now) };
}
