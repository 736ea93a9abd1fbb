/**
 * Source RCON over TCP, answered the way srcds answers it: packets are
 * size, id, type, NUL-terminated body, empty string; every request gets
 * its replies in order on the same connection.
 */
import type { Server, Socket } from 'node:net';

/** Source RCON packet types; constants. The same number 2 means EXECCOMMAND from a client and AUTH_RESPONSE from the server. */
export const RCON = {
  AUTH: 3,
  AUTH_RESPONSE: 2,
  EXECCOMMAND: 2,
  RESPONSE_VALUE: 0,
} as const;

/** The largest size field accepted; a client sending more is disconnected. A constant. */
export const MAX_RCON_PACKET = 4096;

/** Failed authentications one connection may make before it is dropped; a constant. */
export const MAX_AUTH_FAILURES = 3;

// size field = id + type + body + two NULs.
const MIN_SIZE = 10;
// Output is cut into bodies this long so each reply stays under MAX_RCON_PACKET.
const MAX_BODY = MAX_RCON_PACKET - MIN_SIZE;
// Pause before the second and later packets of one reply. Popular clients
// (rcon-srcds, see its issue #9) decode one packet per TCP read, and two
// packets coalesced into one read make them hang; a short gap keeps reads apart.
const PACKET_GAP_MS = 25;
// The body srcds sends after mirroring an empty RESPONSE_VALUE, which clients use to find a reply's end.
const END_MARKER = Buffer.from([0x00, 0x01, 0x00, 0x00]);

/** One decoded RCON packet; the body is raw bytes up to the first NUL. Plain data. */
export interface RconPacket {
  id: number;
  type: number;
  body: Buffer;
}

/** A packet whose size field is out of bounds; thrown by `RconFrameReader`, ends the connection. */
export class RconProtocolError extends Error {
  override name = 'RconProtocolError';
}

/** Encodes one packet (body as UTF-8 text or raw bytes); pure. */
export function encodeRconPacket(id: number, type: number, body: string | Buffer = ''): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const out = Buffer.alloc(4 + MIN_SIZE + payload.length);
  out.writeInt32LE(MIN_SIZE + payload.length, 0);
  out.writeInt32LE(id, 4);
  out.writeInt32LE(type, 8);
  payload.copy(out, 12);
  // The two trailing NULs are already zero from alloc.
  return out;
}

/** Reassembles packets from TCP chunks; owns the partial-packet buffer of one connection. */
export class RconFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  /** Adds a chunk and returns every packet it completes; throws `RconProtocolError` on a size field out of bounds. */
  push(chunk: Buffer): RconPacket[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const packets: RconPacket[] = [];
    while (this.pending.length >= 4) {
      const size = this.pending.readInt32LE(0);
      if (size < MIN_SIZE || size > MAX_RCON_PACKET) {
        throw new RconProtocolError(`packet size ${size} outside ${MIN_SIZE}..${MAX_RCON_PACKET}`);
      }
      if (this.pending.length < 4 + size) break;
      const raw = this.pending.subarray(4, 4 + size);
      const bodyEnd = raw.indexOf(0, 8);
      packets.push({
        id: raw.readInt32LE(0),
        type: raw.readInt32LE(4),
        body: Buffer.from(raw.subarray(8, bodyEnd === -1 ? raw.length : bodyEnd)),
      });
      this.pending = this.pending.subarray(4 + size);
    }
    return packets;
  }
}

/** What the RCON listener needs from the game: the password in force, a command runner and a log. */
export interface RconHost {
  password(): string;
  /** Runs a console command for an authenticated client and returns its printed output. */
  execute(command: string, from: string): string;
  log(line: string): void;
}

/** Handle on a running RCON listener: owns its open connections. */
export interface RconListener {
  /** Closes every authenticated connection after its pending replies (srcds does this when rcon_password changes). */
  dropAuthenticated(): void;
  /** Ends every connection after pending replies; resolves when all are closed or after `timeoutMs`. */
  closeAll(timeoutMs: number): Promise<void>;
}

/** Attaches srcds-style RCON handling to a (not yet listening) TCP server; reads passwords from `host` per request, owns the connections. */
export function serveRcon(server: Server, host: RconHost): RconListener {
  const connections = new Set<RconConnection>();
  server.on('connection', (socket) => {
    const conn = new RconConnection(socket, host);
    connections.add(conn);
    socket.on('close', () => connections.delete(conn));
  });
  return {
    dropAuthenticated(): void {
      for (const c of connections) if (c.authenticated) c.endAfterReplies();
    },
    async closeAll(timeoutMs: number): Promise<void> {
      const closed = [...connections].map((c) => c.endAfterReplies());
      await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      for (const c of connections) c.destroy();
    },
  };
}

interface Outgoing {
  packet: Buffer;
  pauseBefore: boolean;
}

class RconConnection {
  authenticated = false;
  private failures = 0;
  private readonly reader = new RconFrameReader();
  private readonly outbox: Outgoing[] = [];
  private pumping = false;
  private ending = false;
  private readonly closed: Promise<void>;
  private readonly peer: string;

  constructor(private readonly socket: Socket, private readonly host: RconHost) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  endAfterReplies(): Promise<void> {
    this.ending = true;
    if (!this.pumping) this.socket.end();
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.ending) return;
    let packets: RconPacket[];
    try {
      packets = this.reader.push(chunk);
    } catch (err) {
      this.host.log(`rcon from "${this.peer}": ${(err as Error).message}, closing connection`);
      this.socket.destroy();
      return;
    }
    for (const p of packets) {
      if (this.ending) break;
      this.handle(p);
    }
  }

  private handle(p: RconPacket): void {
    switch (p.type) {
      case RCON.AUTH:
        this.auth(p);
        return;
      case RCON.EXECCOMMAND:
        this.exec(p);
        return;
      case RCON.RESPONSE_VALUE:
        // The end-of-reply trick: mirror the empty packet, then the marker, both after earlier replies.
        this.send([encodeRconPacket(p.id, RCON.RESPONSE_VALUE), encodeRconPacket(p.id, RCON.RESPONSE_VALUE, END_MARKER)], false);
        return;
      default:
        this.host.log(`rcon from "${this.peer}": unknown packet type ${p.type}, closing connection`);
        this.endAfterReplies();
    }
  }

  private auth(p: RconPacket): void {
    const password = this.host.password();
    // An empty rcon_password disables RCON entirely, as in srcds.
    const ok = password !== '' && p.body.toString('utf8') === password;
    this.authenticated = ok;
    this.send([encodeRconPacket(p.id, RCON.RESPONSE_VALUE), encodeRconPacket(ok ? p.id : -1, RCON.AUTH_RESPONSE)], true);
    if (ok) return;
    this.failures++;
    this.host.log(`rcon from "${this.peer}": Bad Password`);
    if (this.failures >= MAX_AUTH_FAILURES) {
      this.host.log(`rcon from "${this.peer}": ${this.failures} failed logins, closing connection`);
      this.endAfterReplies();
    }
  }

  private exec(p: RconPacket): void {
    if (!this.authenticated) {
      // Since 2012 srcds answers unauthenticated commands with an empty reply instead of an auth response.
      this.send([encodeRconPacket(p.id, RCON.RESPONSE_VALUE)], false);
      return;
    }
    const command = p.body.toString('utf8');
    this.host.log(`rcon from "${this.peer}": command "${command}"`);
    const output = Buffer.from(this.host.execute(command, this.peer), 'utf8');
    const packets: Buffer[] = [];
    for (let off = 0; off < output.length; off += MAX_BODY) {
      packets.push(encodeRconPacket(p.id, RCON.RESPONSE_VALUE, output.subarray(off, off + MAX_BODY)));
    }
    if (packets.length === 0) packets.push(encodeRconPacket(p.id, RCON.RESPONSE_VALUE));
    this.send(packets, true);
  }

  private send(packets: Buffer[], gapBetween: boolean): void {
    packets.forEach((packet, i) => this.outbox.push({ packet, pauseBefore: gapBetween && i > 0 }));
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    while (this.outbox.length > 0 && !this.socket.destroyed) {
      const next = this.outbox.shift()!;
      if (next.pauseBefore) await new Promise((r) => setTimeout(r, PACKET_GAP_MS));
      await new Promise<void>((resolve) => this.socket.write(next.packet, () => resolve()));
    }
    this.pumping = false;
    if (this.ending && !this.socket.destroyed) this.socket.end();
  }
}
