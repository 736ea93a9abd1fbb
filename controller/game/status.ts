/**
 * Reads what srcds' `status` console command prints: the hostname and one
 * line per client with its SteamID. The web's player list joins these to
 * A2S_PLAYER by name (A2S carries no SteamIDs). Pure; lines are a server's
 * to choose, so anything unexpected is skipped, never guessed at.
 */

/** One client line of `status`. */
export interface StatusPlayer {
  userid: number;
  name: string;
  /** SteamID64 as a decimal string; absent for bots and clients still connecting. */
  steamId?: string;
}

/** What `status` said. */
export interface ServerStatus {
  hostname?: string;
  map?: string;
  players: StatusPlayer[];
}

const STEAM_ID64_BASE = 76561197960265728n;

/**
 * `# 2 "Name" STEAM_1:0:1234 01:02 30 0 active 30000 1.2.3.4:27005`, as L4D2
 * prints it; `[U:1:N]` as newer Source games do; `BOT` for bots. The name is
 * what lies between the first and the last quote before the id, so a quote
 * in a name does not end it.
 */
const CLIENT = /^#\s*(\d+)\s+(?:\d+\s+)?"(.*)"\s+(STEAM_[0-5]:([01]):(\d{1,10})|\[U:1:(\d{1,10})\]|BOT|STEAM_ID_PENDING|STEAM_ID_LAN)(?:\s|$)/;

/** The SteamID64 of a `STEAM_X:Y:Z` or `[U:1:N]` id; undefined for anything else. Pure. */
export function steamId64(id: string): string | undefined {
  const legacy = /^STEAM_[0-5]:([01]):(\d{1,10})$/.exec(id);
  if (legacy) return String(STEAM_ID64_BASE + BigInt(legacy[2]!) * 2n + BigInt(legacy[1]!));
  const modern = /^\[U:1:(\d{1,10})\]$/.exec(id);
  return modern ? String(STEAM_ID64_BASE + BigInt(modern[1]!)) : undefined;
}

/** Parses `status` output. Pure. */
export function parseStatus(text: string): ServerStatus {
  const out: ServerStatus = { players: [] };
  for (const line of text.split('\n').map((l) => l.replace(/\r$/, ''))) {
    const head = /^(hostname|map)\s*:\s?(.*)$/.exec(line);
    if (head) {
      const value = head[2]!.trim();
      if (head[1] === 'hostname') out.hostname ??= value;
      else out.map ??= value.split(/\s/)[0] ?? '';
      continue;
    }
    const m = CLIENT.exec(line);
    if (!m) continue;
    const id = m[3]!;
    const steamId = id === 'BOT' ? undefined : steamId64(id);
    out.players.push({ userid: Number(m[1]), name: m[2]!, ...(steamId ? { steamId } : {}) });
  }
  return out;
}
