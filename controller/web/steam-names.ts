/**
 * Steam persona names and avatars for the player list, from the Steam Web
 * API's ISteamUser/GetPlayerSummaries (needs an operator's Web API key).
 * Never in a request's way: `lookup` answers from the cache at once and
 * fetches what is missing or stale in the background, so the first list may
 * lack names and a later one has them. Owns the cache (bounded) and the
 * fetches in flight. The key is sent to Steam and nowhere else: no log line,
 * error or answer carries it (errors name the status code only).
 */

/** What Steam says about one account, as the API answers it. */
export interface SteamPersona {
  name: string;
  /** Avatar image URL (medium, 64 px). */
  avatar?: string;
}

export interface SteamNamesOptions {
  /** The Web API key; without one `lookup` always answers an empty map and fetches nothing. */
  key?: string;
  /** Base URL of the Web API (default https://api.steampowered.com/; tests point it at a local fixture). */
  apiBase?: string;
  /** How long an answer stays good (default 1 h). */
  ttlMs?: number;
  /** Longest wait for one request (default 10 s). */
  timeoutMs?: number;
  /** Hosts avatar images may be fetched from (default: Steam's avatar CDNs); an avatar URL elsewhere is dropped. */
  avatarHosts?: readonly string[];
  /** Where failures are told (status code only). */
  warn?: (message: string) => void;
  now?: () => number;
}

// GetPlayerSummaries takes at most 100 ids per call.
const BATCH = 100;
const MAX_ENTRIES = 10_000;
const MAX_BODY = 1 << 20;
const RETRY_MS = 60_000;
const STEAM_ID = /^\d{17}$/;
/** Where Steam serves avatars: the only hosts the service fetches an image from (it proxies them, so the dashboard's CSP stays same-origin). */
export const STEAM_AVATAR_HOSTS = ['avatars.steamstatic.com', 'avatars.akamai.steamstatic.com', 'avatars.cloudflare.steamstatic.com', 'avatars.fastly.steamstatic.com', 'steamcdn-a.akamaihd.net'];
const MAX_AVATAR_BYTES = 256 * 1024;
const MAX_AVATARS = 1000;
const IMAGE_TYPE = /^image\/(jpeg|png|gif|webp)$/;
const AVATAR = /^https?:\/\/[\x21-\x7e]{1,500}$/;

export class SteamNames {
  private readonly cache = new Map<string, { persona?: SteamPersona; at: number }>();
  private readonly inFlight = new Set<string>();
  private readonly images = new Map<string, { type: string; bytes: Buffer; at: number }>();
  private readonly imagesInFlight = new Map<string, Promise<{ type: string; bytes: Buffer } | undefined>>();
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly base: string;

  constructor(private readonly opts: SteamNamesOptions) {
    this.now = opts.now ?? Date.now;
    this.ttl = opts.ttlMs ?? 3_600_000;
    const base = opts.apiBase ?? 'https://api.steampowered.com/';
    this.base = base.endsWith('/') ? base : `${base}/`;
  }

  /** Whether a key was configured (the answer then says names may come). */
  get enabled(): boolean {
    return this.opts.key !== undefined && this.opts.key !== '';
  }

  /** What the cache knows about these SteamID64s now; starts a fetch for the missing and stale ones. */
  lookup(ids: readonly string[]): Map<string, SteamPersona> {
    const out = new Map<string, SteamPersona>();
    if (!this.enabled) return out;
    const wanted: string[] = [];
    for (const id of new Set(ids)) {
      if (!STEAM_ID.test(id)) continue;
      const hit = this.cache.get(id);
      if (hit?.persona) out.set(id, hit.persona);
      if ((!hit || this.now() - hit.at > this.ttl) && !this.inFlight.has(id)) wanted.push(id);
    }
    for (let i = 0; i < wanted.length; i += BATCH) void this.fetchBatch(wanted.slice(i, i + BATCH));
    return out;
  }

  private async fetchBatch(ids: string[]): Promise<void> {
    for (const id of ids) this.inFlight.add(id);
    try {
      const url = `${this.base}ISteamUser/GetPlayerSummaries/v2/?key=${encodeURIComponent(this.opts.key!)}&steamids=${ids.join(',')}`;
      const res = await fetch(url, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000), redirect: 'error' });
      if (!res.ok) {
        // A 403 is a bad key; either way only the status is told.
        this.opts.warn?.(`Steam GetPlayerSummaries answered HTTP ${res.status}; persona names stay unknown for now`);
        await res.body?.cancel();
        this.backOff(ids);
        return;
      }
      const text = await readCapped(res, MAX_BODY);
      const players = (JSON.parse(text) as { response?: { players?: unknown } }).response?.players;
      const at = this.now();
      // Ids Steam does not know are remembered as such, so they are not asked again before the TTL.
      for (const id of ids) this.remember(id, undefined, at);
      if (Array.isArray(players)) {
        for (const p of players as Array<Record<string, unknown>>) {
          const id = typeof p?.steamid === 'string' ? p.steamid : '';
          if (!ids.includes(id) || typeof p.personaname !== 'string') continue;
          const avatar = typeof p.avatarmedium === 'string' && this.avatarAllowed(p.avatarmedium) ? p.avatarmedium : undefined;
          this.remember(id, { name: p.personaname.slice(0, 128), ...(avatar ? { avatar } : {}) }, at);
        }
      }
    } catch (err) {
      // The error's own text may quote the URL, and so the key: name the kind of failure only.
      this.opts.warn?.(`Steam GetPlayerSummaries failed (${(err as Error).name}); persona names stay unknown for now`);
      this.backOff(ids);
    } finally {
      for (const id of ids) this.inFlight.delete(id);
    }
  }

  /** Only http(s) URLs on the avatar hosts: the service fetches them, so anything else would be a way to make it ask elsewhere. */
  private avatarAllowed(url: string): boolean {
    if (!AVATAR.test(url)) return false;
    try {
      const u = new URL(url);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '' && (this.opts.avatarHosts ?? STEAM_AVATAR_HOSTS).includes(u.host);
    } catch {
      return false;
    }
  }

  /**
   * The avatar image of an account the cache knows (learnt from Steam for a
   * player list), fetched once per TTL and kept (bounded); undefined when
   * there is none or Steam's CDN does not give an image.
   */
  avatar(id: string): Promise<{ type: string; bytes: Buffer } | undefined> {
    if (!STEAM_ID.test(id)) return Promise.resolve(undefined);
    const url = this.cache.get(id)?.persona?.avatar;
    if (!url) return Promise.resolve(undefined);
    const kept = this.images.get(id);
    if (kept && this.now() - kept.at <= this.ttl) return Promise.resolve(kept);
    let p = this.imagesInFlight.get(id);
    if (!p) {
      p = this.fetchImage(url)
        .then((img) => {
          if (img) {
            this.images.delete(id);
            if (this.images.size >= MAX_AVATARS) this.images.delete(this.images.keys().next().value!);
            this.images.set(id, { ...img, at: this.now() });
          }
          return img;
        })
        .finally(() => this.imagesInFlight.delete(id));
      this.imagesInFlight.set(id, p);
    }
    return p;
  }

  private async fetchImage(url: string): Promise<{ type: string; bytes: Buffer } | undefined> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000), redirect: 'error' });
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (!res.ok || !IMAGE_TYPE.test(type)) {
        await res.body?.cancel();
        return undefined;
      }
      const bytes = Buffer.from(await readCapped(res, MAX_AVATAR_BYTES, true));
      return { type, bytes };
    } catch {
      return undefined;
    }
  }

  // After a failure the ids are asked again in a minute, not on every list: an outage must not become a flood.
  private backOff(ids: string[]): void {
    const at = this.now() - this.ttl + RETRY_MS;
    for (const id of ids) this.remember(id, this.cache.get(id)?.persona, at);
  }

  private remember(id: string, persona: SteamPersona | undefined, at: number): void {
    this.cache.delete(id);
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, { ...(persona ? { persona } : {}), at });
  }
}

/** The body as text (or bytes), refusing more than `max` bytes. */
async function readCapped(res: Response, max: number): Promise<string>;
async function readCapped(res: Response, max: number, raw: true): Promise<Buffer>;
async function readCapped(res: Response, max: number, raw = false): Promise<string | Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > max) throw new RangeError('answer too large');
    chunks.push(chunk);
  }
  const all = Buffer.concat(chunks);
  return raw ? all : all.toString('utf8');
}
