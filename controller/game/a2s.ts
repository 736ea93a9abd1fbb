/**
 * The A2S clients, shared by the controller and the web service. A2S_INFO
 * (the reconciler's probe): asks one game server how it is (name, map,
 * players), with the challenge handshake servers have required since
 * December 2020. Deliberately small — one shared datagram socket, one
 * request, at most one challenge round — because a resync asks every server,
 * and a general query library (gamedig) cost more CPU and memory than the
 * rest of a pass. The tests check it against the demo server and gamedig.
 *
 * A2S_PLAYER (the web's player list): one query on its own socket, split
 * replies reassembled.
 *
 * Everything a server answers is a compromised server's to choose: parsing is
 * bounded by the datagram, strings are cut at their NUL, counts are bytes.
 */
import { createSocket, type Socket } from 'node:dgram';

/** What an A2S query said about a server. */
export interface ServerProbe {
  name: string;
  map: string;
  players: number;
  maxPlayers: number;
}

/** Asks a game server over A2S (challenge handshake included) how it is; undefined when it does not answer in time. */
export type Probe = (port: number) => Promise<ServerProbe | undefined>;

const HEADER = 0xffffffff;
const INFO_REQUEST = Buffer.from('\xff\xff\xff\xffTSource Engine Query\0', 'latin1');
const INFO_REPLY = 0x49;
const CHALLENGE = 0x41;

/** The A2S_INFO request, with the challenge when the server handed one out. */
export function infoRequest(challenge?: Buffer): Buffer {
  return challenge ? Buffer.concat([INFO_REQUEST, challenge]) : INFO_REQUEST;
}

/** Reads an A2S_INFO reply (single packet); undefined for anything else. Pure. */
export function parseInfo(msg: Buffer): ServerProbe | undefined {
  if (msg.length < 6 || msg.readUInt32LE(0) !== HEADER || msg[4] !== INFO_REPLY) return undefined;
  let at = 6; // header, type, protocol
  const str = (): string | undefined => {
    const end = msg.indexOf(0, at);
    if (end < 0) return undefined;
    const s = msg.toString('utf8', at, end);
    at = end + 1;
    return s;
  };
  const name = str();
  const map = str();
  if (name === undefined || map === undefined || str() === undefined || str() === undefined) return undefined; // folder, game
  at += 2; // app id
  if (at + 3 > msg.length) return undefined;
  // Players counts bots too; a whenEmpty rollout waits for people only.
  return { name, map, players: Math.max(0, msg[at]! - msg[at + 2]!), maxPlayers: msg[at + 1]! };
}

/** A challenge reply's 4 challenge bytes; undefined for anything else. */
function challengeOf(msg: Buffer): Buffer | undefined {
  return msg.length >= 9 && msg.readUInt32LE(0) === HEADER && msg[4] === CHALLENGE ? msg.subarray(5, 9) : undefined;
}

/**
 * A2S on loopback: servers bind 0.0.0.0, and the controller runs on their
 * host. One datagram socket serves every query (bound on first use, closed
 * when no query is waiting): a socket per query cost a bind and a port
 * search each, most of a resync's A2S CPU. Replies are matched to the query
 * by the server's port; one query per port at a time (a key never runs
 * twice at once), a second waits for the first.
 */
export function a2sProbe(host = '127.0.0.1', timeoutMs = 1500): Probe {
  let socket: Socket | undefined;
  const waiting = new Map<number, (msg: Buffer) => void>();
  const queued = new Map<number, Promise<unknown>>();
  const open = (): Socket => {
    if (socket) return socket;
    const s = createSocket('udp4');
    s.on('message', (msg, from) => {
      if (from.address === host) waiting.get(from.port)?.(msg);
    });
    s.on('error', () => undefined); // a send error fails only its query, by timeout
    s.unref();
    socket = s;
    return s;
  };
  const closeIfIdle = () => {
    if (waiting.size > 0 || !socket) return;
    socket.close();
    socket = undefined;
  };
  // A server's challenge stays good for a while: sending the last one saves the handshake's round trip.
  const challenges = new Map<number, Buffer>();
  const query = (port: number): Promise<ServerProbe | undefined> =>
    new Promise((resolve) => {
      const s = open();
      let challenged = false;
      const done = (result: ServerProbe | undefined) => {
        clearTimeout(timer);
        waiting.delete(port);
        closeIfIdle();
        resolve(result);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      waiting.set(port, (msg) => {
        const challenge = challengeOf(msg);
        if (challenge && !challenged) {
          challenged = true;
          challenges.set(port, Buffer.from(challenge));
          s.send(infoRequest(challenge), port, host);
          return;
        }
        const info = parseInfo(msg);
        if (info) done(info);
      });
      s.send(infoRequest(challenges.get(port)), port, host, (err) => {
        if (err) done(undefined);
      });
    });
  return (port) => {
    const run = (queued.get(port) ?? Promise.resolve()).then(() => query(port));
    const settled = run.catch(() => undefined);
    queued.set(port, settled);
    void settled.then(() => {
      if (queued.get(port) === settled) queued.delete(port);
    });
    return run;
  };
}

/** One A2S_PLAYER entry: a connected client as the server lists it (name as the player set it). */
export interface A2sPlayer {
  name: string;
  score: number;
  durationSeconds: number;
}

const PLAYER_REQUEST = 0x55;
const PLAYER_REPLY = 0x44;
const SPLIT = 0xfffffffe;
// Source split header: -2, id, total, number, max packet size.
const SPLIT_HEADER = 12;
// 64 players with 128-byte names fit in 8 datagrams; a server sending more is not answering a player query.
const MAX_SPLIT_PACKETS = 16;

/** Reads an A2S_PLAYER reply (reassembled); undefined for anything else. Pure. */
export function parsePlayers(msg: Buffer): A2sPlayer[] | undefined {
  if (msg.length < 6 || msg.readUInt32LE(0) !== HEADER || msg[4] !== PLAYER_REPLY) return undefined;
  const count = msg[5]!;
  const players: A2sPlayer[] = [];
  let at = 6;
  for (let i = 0; i < count; i++) {
    at += 1; // index
    const end = msg.indexOf(0, at);
    if (end < 0 || end + 9 > msg.length) return undefined;
    const name = msg.toString('utf8', at, end);
    const score = msg.readInt32LE(end + 1);
    const duration = msg.readFloatLE(end + 5);
    at = end + 9;
    players.push({ name, score, durationSeconds: Number.isFinite(duration) ? Math.max(0, Math.floor(duration)) : 0 });
  }
  return players;
}

/**
 * Collects Source split packets into one reply; owns the parts of one
 * answer. A single-packet reply passes as it is.
 */
class SplitCollector {
  private id?: number;
  private readonly parts = new Map<number, Buffer>();
  private total = 0;

  /** The whole reply once every part arrived; undefined while parts are missing or for a malformed datagram. */
  push(msg: Buffer): Buffer | undefined {
    if (msg.length >= 4 && msg.readUInt32LE(0) === HEADER) return msg;
    if (msg.length < SPLIT_HEADER || msg.readUInt32LE(0) !== SPLIT) return undefined;
    const id = msg.readUInt32LE(4);
    const total = msg[8]!;
    const n = msg[9]!;
    if ((id & 0x80000000) !== 0 || total === 0 || total > MAX_SPLIT_PACKETS || n >= total) return undefined; // bzip2 or nonsense
    if (this.id !== id) {
      this.id = id;
      this.parts.clear();
      this.total = total;
    }
    if (total !== this.total) return undefined;
    this.parts.set(n, Buffer.from(msg.subarray(SPLIT_HEADER)));
    if (this.parts.size < total) return undefined;
    return Buffer.concat(Array.from({ length: total }, (_, i) => this.parts.get(i)!));
  }
}

/** The A2S_PLAYER request with a challenge (`FF FF FF FF` asks for one). */
function playerRequest(challenge?: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, PLAYER_REQUEST]), challenge ?? Buffer.from([0xff, 0xff, 0xff, 0xff])]);
}

/** Asks one server for its players (A2S_PLAYER, challenge included); undefined when it does not answer in time. */
export function queryPlayers(port: number, host = '127.0.0.1', timeoutMs = 1500): Promise<A2sPlayer[] | undefined> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const collector = new SplitCollector();
    let challenges = 0;
    const done = (result: A2sPlayer[] | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(result);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on('error', () => done(undefined));
    s.on('message', (msg, from) => {
      if (from.port !== port || from.address !== host) return;
      const challenge = challengeOf(msg);
      if (challenge) {
        // A server may hand out a fresh challenge once; one that keeps doing so never answers.
        if (challenges++ < 2) s.send(playerRequest(challenge), port, host);
        return;
      }
      const whole = collector.push(msg);
      const players = whole && parsePlayers(whole);
      if (players) done(players);
    });
    s.send(playerRequest(), port, host, (err) => {
      if (err) done(undefined);
    });
  });
}
