/**
 * A Source RCON client, shared by the web service and `left4me rcon`: one
 * TCP connection, one authentication, one command, its whole answer. Own
 * code rather than a library: the popular ones decode one packet per TCP
 * read and hang on coalesced packets, none caps what it buffers, and the
 * protocol is four integers and a string.
 *
 * A reply may span several RESPONSE_VALUE packets and says nowhere where it
 * ends; the client sends an empty RESPONSE_VALUE after the command, which
 * srcds mirrors after the command's last packet (Valve's documented trick).
 *
 * Everything the server sends is a compromised server's to choose: packet
 * sizes are bounded, the answer is capped, and a deadline covers the whole
 * exchange. The password is never part of an error message.
 */
import { connect, type Socket } from 'node:net';

/** Source RCON packet types; the number 2 is EXECCOMMAND from a client and AUTH_RESPONSE from the server. */
const AUTH = 3;
const AUTH_RESPONSE = 2;
const EXECCOMMAND = 2;
const RESPONSE_VALUE = 0;

// size field = id + type + body + two NULs. srcds bodies stay under 4096 bytes; a little room for other servers.
const MIN_SIZE = 10;
const MAX_SIZE = 8192;
const AUTH_ID = 1;
const COMMAND_ID = 2;
const END_ID = 3;

/** The largest answer kept by default (64 KiB); the rest is cut and the answer marked truncated. */
export const MAX_RCON_OUTPUT = 64 * 1024;
/** The longest command srcds takes in one packet is about 4 KiB; callers usually allow far less. */
const MAX_COMMAND_BYTES = 4000;

/** Why an RCON exchange failed; `reason` is for callers that answer differently per cause. */
export class RconError extends Error {
  override name = 'RconError';
  constructor(
    readonly reason: 'unreachable' | 'auth' | 'timeout' | 'protocol' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

/** Where and how to reach one server. */
export interface RconTarget {
  port: number;
  /** Default 127.0.0.1: servers bind 0.0.0.0 and callers run on their host. */
  host?: string;
  password: string;
  /** Deadline for the whole exchange (connect, auth, command, answer); default 5 s. */
  timeoutMs?: number;
  /** Bytes of answer kept; default MAX_RCON_OUTPUT. */
  maxOutputBytes?: number;
}

/** A command's answer: the text srcds printed (UTF-8, cut at the cap). */
export interface RconResult {
  output: string;
  truncated: boolean;
}

/** Encodes one packet; pure. */
export function encodePacket(id: number, type: number, body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const out = Buffer.alloc(4 + MIN_SIZE + payload.length);
  out.writeInt32LE(MIN_SIZE + payload.length, 0);
  out.writeInt32LE(id, 4);
  out.writeInt32LE(type, 8);
  payload.copy(out, 12);
  return out;
}

interface Packet {
  id: number;
  type: number;
  body: Buffer;
}

/** Cuts a TCP stream into packets; owns the partial packet. Throws RconError on a size out of bounds. */
class Framer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Packet[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Packet[] = [];
    while (this.pending.length >= 4) {
      const size = this.pending.readInt32LE(0);
      if (size < MIN_SIZE || size > MAX_SIZE) throw new RconError('protocol', `the server sent a packet of size ${size} (allowed ${MIN_SIZE}..${MAX_SIZE})`);
      if (this.pending.length < 4 + size) break;
      const raw = this.pending.subarray(4, 4 + size);
      const end = raw.indexOf(0, 8);
      out.push({ id: raw.readInt32LE(0), type: raw.readInt32LE(4), body: Buffer.from(raw.subarray(8, end < 0 ? raw.length : end)) });
      this.pending = this.pending.subarray(4 + size);
    }
    return out;
  }
}

/**
 * Runs one console command: connects, authenticates, sends the command and
 * the end marker, collects RESPONSE_VALUE bodies until the marker comes back.
 * Rejects with RconError (never naming the password).
 */
export function rconCommand(target: RconTarget, command: string): Promise<RconResult> {
  const host = target.host ?? '127.0.0.1';
  const max = target.maxOutputBytes ?? MAX_RCON_OUTPUT;
  if (Buffer.byteLength(command) > MAX_COMMAND_BYTES || command.includes('\0')) {
    return Promise.reject(new RconError('protocol', `a command must be under ${MAX_COMMAND_BYTES} bytes and hold no NUL`));
  }
  if (target.password === '' || Buffer.byteLength(target.password) > MAX_COMMAND_BYTES || target.password.includes('\0')) {
    return Promise.reject(new RconError('auth', 'no usable RCON password for this server'));
  }
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host, port: target.port });
    const framer = new Framer();
    const parts: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let authenticated = false;
    let settled = false;
    const finish = (err: RconError | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve({ output: Buffer.concat(parts).toString('utf8'), truncated });
    };
    const timer = setTimeout(
      () => finish(new RconError('timeout', `${host}:${target.port} did not ${authenticated ? 'finish answering' : 'answer'} within ${target.timeoutMs ?? 5000} ms`)),
      target.timeoutMs ?? 5000,
    );
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(encodePacket(AUTH_ID, AUTH, target.password)));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      finish(new RconError('unreachable', `cannot reach RCON at ${host}:${target.port}: ${err.code ?? err.message}`));
    });
    socket.on('close', () => finish(new RconError('closed', `${host}:${target.port} closed the RCON connection before answering`)));
    socket.on('data', (chunk: Buffer) => {
      let packets: Packet[];
      try {
        packets = framer.push(chunk);
      } catch (err) {
        finish(err as RconError);
        return;
      }
      for (const p of packets) {
        if (settled) return;
        if (!authenticated) {
          // srcds sends an empty RESPONSE_VALUE before the AUTH_RESPONSE; only the latter decides.
          if (p.type !== AUTH_RESPONSE) continue;
          if (p.id === -1) return finish(new RconError('auth', `${host}:${target.port} refused the RCON password`));
          if (p.id !== AUTH_ID) return finish(new RconError('protocol', `unexpected auth answer id ${p.id}`));
          authenticated = true;
          socket.write(Buffer.concat([encodePacket(COMMAND_ID, EXECCOMMAND, command), encodePacket(END_ID, RESPONSE_VALUE, '')]));
          continue;
        }
        if (p.id === END_ID) return finish(undefined);
        if (p.id !== COMMAND_ID || p.type !== RESPONSE_VALUE) continue;
        const room = max - kept;
        if (p.body.length > room) {
          // Cut at a character boundary so the text stays valid UTF-8.
          let cut = room;
          while (cut > 0 && (p.body[cut]! & 0xc0) === 0x80) cut--;
          parts.push(p.body.subarray(0, cut));
          truncated = true;
          return finish(undefined);
        }
        parts.push(p.body);
        kept += p.body.length;
      }
    });
  });
}
