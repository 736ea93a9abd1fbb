import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MAX_AUTH_FAILURES, MAX_RCON_PACKET, RCON, RconFrameReader, RconProtocolError, encodeRconPacket, serveRcon,
  type RconListener, type RconPacket,
} from './rcon.js';

describe('RconFrameReader', () => {
  it('reassembles packets split across chunks and several packets in one chunk', () => {
    const wire = Buffer.concat([encodeRconPacket(1, 3, 'pw'), encodeRconPacket(2, 2, 'status'), encodeRconPacket(3, 0)]);
    const reader = new RconFrameReader();
    const got: RconPacket[] = [];
    for (let i = 0; i < wire.length; i += 5) got.push(...reader.push(wire.subarray(i, i + 5)));
    expect(got.map((p) => [p.id, p.type, p.body.toString()])).toEqual([[1, 3, 'pw'], [2, 2, 'status'], [3, 0, '']]);
    expect(new RconFrameReader().push(wire)).toHaveLength(3);
  });

  it('refuses size fields out of bounds before buffering the body', () => {
    const huge = Buffer.alloc(4);
    huge.writeInt32LE(MAX_RCON_PACKET + 1);
    expect(() => new RconFrameReader().push(huge)).toThrow(RconProtocolError);
    const tiny = Buffer.alloc(4);
    tiny.writeInt32LE(9);
    expect(() => new RconFrameReader().push(tiny)).toThrow(RconProtocolError);
  });
});

// A raw client that records every packet, so the tests see exact ordering.
class RawClient {
  readonly packets: RconPacket[] = [];
  raw = Buffer.alloc(0);
  closed = false;
  private readonly reader = new RconFrameReader();
  private waiters: Array<() => void> = [];

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.raw = Buffer.concat([this.raw, c]);
      this.packets.push(...this.reader.push(c));
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<RawClient> {
    const s = createConnection({ host: '127.0.0.1', port });
    await new Promise((r) => s.once('connect', r));
    return new RawClient(s);
  }

  send(id: number, type: number, body = ''): void {
    this.socket.write(encodeRconPacket(id, type, body));
  }

  async waitFor(count: number): Promise<RconPacket[]> {
    const deadline = Date.now() + 2000;
    while (this.packets.length < count && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.packets.slice(0, count);
  }

  async waitClosed(): Promise<boolean> {
    const deadline = Date.now() + 2000;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

let server: Server;
let listener: RconListener;
let port: number;
let password: string;
const executed: string[] = [];
const clients: RawClient[] = [];

beforeEach(async () => {
  password = 'letmein';
  executed.length = 0;
  server = createServer();
  listener = serveRcon(server, {
    password: () => password,
    execute: (cmd) => {
      executed.push(cmd);
      if (cmd === 'big') return 'x'.repeat(10_000);
      return cmd === 'quiet' ? '' : `ran ${cmd}\n`;
    },
    log: () => {},
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await listener.closeAll(100);
  await new Promise((r) => server.close(r));
});

async function client(): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

const summary = (ps: RconPacket[]): Array<[number, number, string]> => ps.map((p) => [p.id, p.type, p.body.toString()]);

describe('serveRcon', () => {
  it('answers auth with an empty RESPONSE_VALUE, then AUTH_RESPONSE with the request id', async () => {
    const c = await client();
    c.send(7, RCON.AUTH, 'letmein');
    expect(summary(await c.waitFor(2))).toEqual([[7, RCON.RESPONSE_VALUE, ''], [7, RCON.AUTH_RESPONSE, '']]);
  });

  it('answers a wrong password with id -1 and drops the connection after repeated failures', async () => {
    const c = await client();
    for (let i = 0; i < MAX_AUTH_FAILURES; i++) c.send(10 + i, RCON.AUTH, 'nope');
    const got = await c.waitFor(2 * MAX_AUTH_FAILURES);
    expect(got.filter((p) => p.type === RCON.AUTH_RESPONSE).map((p) => p.id)).toEqual(Array(MAX_AUTH_FAILURES).fill(-1));
    expect(await c.waitClosed()).toBe(true);
  });

  it('refuses every login while the password is empty', async () => {
    password = '';
    const c = await client();
    c.send(1, RCON.AUTH, '');
    expect((await c.waitFor(2))[1]).toMatchObject({ id: -1, type: RCON.AUTH_RESPONSE });
  });

  it('does not run commands before authentication', async () => {
    const c = await client();
    c.send(3, RCON.EXECCOMMAND, 'status');
    expect(summary(await c.waitFor(1))).toEqual([[3, RCON.RESPONSE_VALUE, '']]);
    expect(executed).toEqual([]);
  });

  it('answers pipelined commands and the empty-packet end marker in order', async () => {
    const c = await client();
    c.send(1, RCON.AUTH, 'letmein');
    c.send(2, RCON.EXECCOMMAND, 'status');
    c.send(3, RCON.RESPONSE_VALUE, '');
    c.send(4, RCON.EXECCOMMAND, 'quiet');
    c.send(5, RCON.EXECCOMMAND, 'echo hi');
    const got = summary(await c.waitFor(7));
    expect(got).toEqual([
      [1, RCON.RESPONSE_VALUE, ''],
      [1, RCON.AUTH_RESPONSE, ''],
      [2, RCON.RESPONSE_VALUE, 'ran status\n'],
      [3, RCON.RESPONSE_VALUE, ''],
      [3, RCON.RESPONSE_VALUE, ''],
      [4, RCON.RESPONSE_VALUE, ''],
      [5, RCON.RESPONSE_VALUE, 'ran echo hi\n'],
    ]);
    // The marker's body starts with a NUL, so it reads as empty text; check the bytes srcds sends.
    expect(c.raw.includes(encodeRconPacket(3, RCON.RESPONSE_VALUE, Buffer.from([0, 1, 0, 0])))).toBe(true);
    expect(executed).toEqual(['status', 'quiet', 'echo hi']);
  });

  it('splits long output into packets no larger than the protocol allows', async () => {
    const c = await client();
    c.send(1, RCON.AUTH, 'letmein');
    c.send(2, RCON.EXECCOMMAND, 'big');
    const got = (await c.waitFor(5)).slice(2);
    expect(got.map((p) => p.id)).toEqual([2, 2, 2]);
    expect(got.map((p) => p.body.toString()).join('')).toBe('x'.repeat(10_000));
    for (const p of got) expect(p.body.length + 10).toBeLessThanOrEqual(MAX_RCON_PACKET);
  });

  it('drops a connection that sends an oversized packet', async () => {
    const c = await client();
    const head = Buffer.alloc(12);
    head.writeInt32LE(MAX_RCON_PACKET + 100, 0);
    c.socket.write(head);
    expect(await c.waitClosed()).toBe(true);
  });

  it('closes authenticated sessions on request, leaving others open', async () => {
    const authed = await client();
    const anon = await client();
    authed.send(1, RCON.AUTH, 'letmein');
    await authed.waitFor(2);
    listener.dropAuthenticated();
    expect(await authed.waitClosed()).toBe(true);
    anon.send(1, RCON.EXECCOMMAND, 'x');
    expect(await anon.waitFor(1)).toHaveLength(1);
    expect(anon.closed).toBe(false);
  });
});
