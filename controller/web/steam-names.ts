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
const AVATAR = /^https?:\/\/[\x21-\x7e]{1,500}$/;

export class SteamNames {
  private readonly cache = new Map<string, { persona?: SteamPersona; at: number }>();
  private readonly inFlight = new Set<string>();
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
          const avatar = typeof p.avatarmedium === 'string' && AVATAR.test(p.avatarmedium) ? p.avatarmedium : undefined;
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

/** The body as text, refusing more than `max` bytes. */
async function readCapped(res: Response, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > max) throw new RangeError('answer too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
