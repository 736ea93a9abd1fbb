/**
 * A2S server queries as L4D2 answers them: every request must carry the
 * challenge handed out by an `0x41` reply, and replies longer than one UDP
 * payload go out as Source split packets (uncompressed).
 */
import { createHmac, randomBytes } from 'node:crypto';

/** A2S message type bytes (requests and replies); constants. */
export const A2S = {
  INFO: 0x54,
  INFO_REPLY: 0x49,
  PLAYER: 0x55,
  PLAYER_REPLY: 0x44,
  RULES: 0x56,
  RULES_REPLY: 0x45,
  GETCHALLENGE: 0x57,
  CHALLENGE: 0x41,
} as const;

/** The largest UDP payload sent in one piece; longer replies are split. A constant. */
export const MAX_PACKET = 1400;

const SINGLE = -1;
const SPLIT = -2;
const SPLIT_HEADER = 12;
const INFO_QUERY = 'Source Engine Query\0';
const NO_CHALLENGE = 0xffffffff;

/** The fields of an A2S_INFO reply; plain data. */
export interface ServerInfo {
  protocol: number;
  name: string;
  map: string;
  folder: string;
  game: string;
  appId: number;
  players: number;
  maxPlayers: number;
  bots: number;
  serverType: 'd' | 'l' | 'p';
  environment: 'l' | 'w' | 'm';
  visibility: 0 | 1;
  vac: 0 | 1;
  version: string;
  port: number;
  steamId: bigint;
  keywords: string;
  gameId: bigint;
}

/** One A2S_PLAYER entry; plain data. */
export interface PlayerEntry {
  name: string;
  score: number;
  durationSeconds: number;
}

/** What the responder reads on every query; the live server state behind it. */
export interface A2sState {
  /** Null while no map is loaded: srcds does not answer queries then. */
  info(): ServerInfo | null;
  players(): PlayerEntry[];
  rules(): Array<[string, string]>;
}

/** Builds an A2S_INFO reply payload with the single-packet header; pure. */
export function encodeInfo(info: ServerInfo): Buffer {
  const w = new Writer();
  w.int32(SINGLE).byte(A2S.INFO_REPLY).byte(info.protocol);
  w.string(info.name).string(info.map).string(info.folder).string(info.game);
  w.uint16(info.appId).byte(clampByte(info.players)).byte(clampByte(info.maxPlayers)).byte(clampByte(info.bots));
  w.byte(info.serverType.charCodeAt(0)).byte(info.environment.charCodeAt(0)).byte(info.visibility).byte(info.vac);
  w.string(info.version);
  // EDF: 0x80 port, 0x10 SteamID, 0x20 keywords, 0x01 game id (no SourceTV).
  w.byte(0x80 | 0x10 | 0x20 | 0x01);
  w.uint16(info.port).uint64(info.steamId).string(info.keywords).uint64(info.gameId);
  return w.done();
}

/** Builds an A2S_PLAYER reply payload with the single-packet header; pure. */
export function encodePlayers(players: readonly PlayerEntry[]): Buffer {
  const w = new Writer();
  const list = players.slice(0, 255);
  w.int32(SINGLE).byte(A2S.PLAYER_REPLY).byte(list.length);
  list.forEach((p, i) => w.byte(i).string(p.name).int32(p.score).float(p.durationSeconds));
  return w.done();
}

/** Builds an A2S_RULES reply payload with the single-packet header; pure. */
export function encodeRules(rules: ReadonlyArray<readonly [string, string]>): Buffer {
  const w = new Writer();
  const list = rules.slice(0, 0xffff);
  w.int32(SINGLE).byte(A2S.RULES_REPLY).uint16(list.length);
  for (const [k, v] of list) w.string(k).string(v);
  return w.done();
}

/** Builds an `0x41` challenge reply; pure. */
export function encodeChallenge(challenge: number): Buffer {
  return new Writer().int32(SINGLE).byte(A2S.CHALLENGE).uint32(challenge).done();
}

/**
 * Cuts a reply (which starts with `FF FF FF FF`) into Source split packets:
 * `FE FF FF FF`, id, total, number, max size, then the next slice; pure.
 * Replies that fit are returned unchanged.
 */
export function splitReply(reply: Buffer, id: number, maxPacket = MAX_PACKET): Buffer[] {
  if (reply.length <= maxPacket) return [reply];
  const chunk = maxPacket - SPLIT_HEADER;
  const total = Math.ceil(reply.length / chunk);
  if (total > 255) throw new RangeError(`A2S reply of ${reply.length} bytes needs more than 255 split packets`);
  const out: Buffer[] = [];
  for (let n = 0; n < total; n++) {
    const header = Buffer.alloc(SPLIT_HEADER);
    header.writeInt32LE(SPLIT, 0);
    // The top bit would mean bzip2; ours are never compressed.
    header.writeUInt32LE(id & 0x7fffffff, 4);
    header.writeUInt8(total, 8);
    header.writeUInt8(n, 9);
    header.writeUInt16LE(maxPacket, 10);
    out.push(Buffer.concat([header, reply.subarray(n * chunk, (n + 1) * chunk)]));
  }
  return out;
}

/**
 * Answers A2S datagrams from the live state: owns the challenge secret and
 * the split-packet id counter; reads `A2sState` on every request.
 */
export class A2sResponder {
  private readonly secret: Buffer;
  private splitId = 1;

  constructor(private readonly state: A2sState, secret: Buffer = randomBytes(16)) {
    this.secret = secret;
  }

  /** The challenge a client at `address` must echo; stable for this responder's lifetime. */
  challengeFor(address: string): number {
    const n = createHmac('sha256', this.secret).update(address).digest().readUInt32LE(0);
    // 0 and FFFFFFFF read as "no challenge" to clients.
    return n === 0 || n === NO_CHALLENGE ? 0x4c344d45 : n;
  }

  /** The datagrams to send back for one request from `address`; empty when the request is not one srcds answers. */
  respond(msg: Buffer, address: string): Buffer[] {
    if (msg.length < 5 || msg.readInt32LE(0) !== SINGLE) return [];
    const type = msg[4];
    const expected = this.challengeFor(address);
    if (type === A2S.GETCHALLENGE) return [encodeChallenge(expected)];

    const info = this.state.info();
    if (info === null) return [];

    if (type === A2S.INFO) {
      const query = msg.toString('latin1', 5, 5 + INFO_QUERY.length);
      if (query !== INFO_QUERY) return [];
      const rest = msg.subarray(5 + INFO_QUERY.length);
      if (rest.length < 4 || rest.readUInt32LE(0) !== expected) return [encodeChallenge(expected)];
      return this.split(encodeInfo(info));
    }
    if (type === A2S.PLAYER || type === A2S.RULES) {
      if (msg.length < 9 || msg.readUInt32LE(5) !== expected) return [encodeChallenge(expected)];
      const reply = type === A2S.PLAYER ? encodePlayers(this.state.players()) : encodeRules(this.state.rules());
      return this.split(reply);
    }
    return [];
  }

  private split(reply: Buffer): Buffer[] {
    const id = this.splitId;
    this.splitId = (this.splitId % 0x7fffffff) + 1;
    return splitReply(reply, id);
  }
}

function clampByte(n: number): number {
  return Math.max(0, Math.min(255, Math.trunc(n)));
}

// Grows a list of little-endian fields; strings are UTF-8 and NUL-terminated like srcds'.
class Writer {
  private readonly parts: Buffer[] = [];

  int32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return this.push(b);
  }

  uint32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n >>> 0);
    return this.push(b);
  }

  uint16(n: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n & 0xffff);
    return this.push(b);
  }

  uint64(n: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, n));
    return this.push(b);
  }

  byte(n: number): this {
    return this.push(Buffer.from([n & 0xff]));
  }

  float(n: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatLE(n);
    return this.push(b);
  }

  string(s: string): this {
    return this.push(Buffer.from(`${s.replaceAll('\0', '')}\0`, 'utf8'));
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }

  private push(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
}
