import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GameConsole } from '../demo/game-server/console.js';
import { serveRcon, type RconListener } from '../demo/game-server/rcon.js';
import { RconError, rconCommand } from './rcon.js';
import { parseStatus } from './status.js';

// The client against the demo game server's RCON listener, in process: the same code srcds_run serves.
const PASSWORD = 'a-test-rcon-password-123';
const root = mkdtempSync(join(tmpdir(), 'left4me-rcon-'));
const servers: Server[] = [];
const listeners: RconListener[] = [];
const logged: string[] = [];
const sockets: Socket[] = [];

/** A listening demo RCON server; `execute` overrides the console (to send big or odd answers). */
async function rconServer(execute?: (command: string) => string): Promise<number> {
  const game = new GameConsole({ root, game: 'left4dead2', ip: '127.0.0.1', port: 27015, log: (l) => logged.push(l) });
  game.execute('hostname "Demo «RCON»"');
  const server = createServer();
  listeners.push(serveRcon(server, {
    password: () => PASSWORD,
    execute: execute ?? ((command) => {
      const lines = game.execute(command);
      return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
    }),
    log: (l) => logged.push(l),
  }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A TCP server that does whatever `onSocket` does with each connection. */
async function rawServer(onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const l of listeners.splice(0)) await l.closeAll(100);
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('rconCommand', () => {
  it('authenticates, runs a command and returns what the console printed', async () => {
    const port = await rconServer();
    const status = await rconCommand({ port, password: PASSWORD }, 'status');
    expect(status.truncated).toBe(false);
    expect(parseStatus(status.output).hostname).toBe('Demo «RCON»');
    expect((await rconCommand({ port, password: PASSWORD }, 'demo_players add Zoey')).output).toBe('demo_players: 1 connected\n');
    expect(parseStatus((await rconCommand({ port, password: PASSWORD }, 'status')).output).players).toEqual([{ userid: 2, name: 'Zoey', steamId: '76561197960267732' }]);
    // A command that prints nothing answers with empty text.
    expect(await rconCommand({ port, password: PASSWORD }, 'sv_cheats 0')).toEqual({ output: '', truncated: false });
  });

  it('joins an answer of many packets in order, multi-byte characters across packet borders intact', async () => {
    const text = Array.from({ length: 3000 }, (_, i) => `line ${i} é€😀`).join('\n');
    const port = await rconServer(() => text);
    expect(Buffer.byteLength(text)).toBeGreaterThan(4 * 4096);
    expect(await rconCommand({ port, password: PASSWORD }, 'anything')).toEqual({ output: text, truncated: false });
  });

  it('caps the answer: keeps at most maxOutputBytes, cut on a character border, and says it was cut', async () => {
    const port = await rconServer(() => '€'.repeat(100_000));
    const r = await rconCommand({ port, password: PASSWORD, maxOutputBytes: 64 * 1024 }, 'big');
    expect(r.truncated).toBe(true);
    expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(64 * 1024);
    expect(Buffer.byteLength(r.output)).toBeGreaterThan(64 * 1024 - 3);
    expect(r.output).toBe('€'.repeat(r.output.length));
  });

  it('refuses a wrong password without naming it', async () => {
    const port = await rconServer();
    const err = await rconCommand({ port, password: 'the-wrong-password-xyz' }, 'status').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RconError);
    expect((err as RconError).reason).toBe('auth');
    expect((err as RconError).message).not.toContain('the-wrong-password-xyz');
    expect(logged.join('\n')).toContain('Bad Password');
  });

  it('fails clearly when nothing listens, when the server stays silent and when it sends nonsense', async () => {
    const closed = await rawServer((s) => s.destroy());
    servers.pop()!.close();
    expect(await rconCommand({ port: closed, password: PASSWORD }, 'status').catch((e: RconError) => e.reason)).toBe('unreachable');

    const silent = await rawServer(() => undefined);
    expect(await rconCommand({ port: silent, password: PASSWORD, timeoutMs: 300 }, 'status').catch((e: RconError) => e.reason)).toBe('timeout');

    const huge = await rawServer((s) => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(1 << 30);
      s.write(b);
    });
    const err = (await rconCommand({ port: huge, password: PASSWORD }, 'status').catch((e: unknown) => e)) as RconError;
    expect([err.reason, err.message]).toEqual(['protocol', `the server sent a packet of size ${1 << 30} (allowed 10..8192)`]);

    const hangup = await rawServer((s) => s.end());
    expect(await rconCommand({ port: hangup, password: PASSWORD }, 'status').catch((e: RconError) => e.reason)).toBe('closed');
  });

  it('refuses a command holding a NUL and an empty password before connecting', async () => {
    expect(await rconCommand({ port: 1, password: PASSWORD }, 'status\0quit').catch((e: RconError) => e.reason)).toBe('protocol');
    expect(await rconCommand({ port: 1, password: '' }, 'status').catch((e: RconError) => e.reason)).toBe('auth');
  });
});
