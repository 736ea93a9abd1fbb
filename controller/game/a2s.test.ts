import { createSocket, type Socket } from 'node:dgram';
import { GameDig } from 'gamedig';
import { afterEach, describe, expect, it } from 'vitest';
import { A2sResponder, encodePlayers, type PlayerEntry, type ServerInfo } from '../demo/game-server/a2s.js';
import { a2sProbe, parseInfo, parsePlayers, queryPlayers } from './a2s.js';

const INFO: ServerInfo = {
  protocol: 17, name: 'Versus «1»', map: 'c2m1_highway', folder: 'left4dead2', game: 'Left 4 Dead 2', appId: 550,
  players: 5, maxPlayers: 8, bots: 1, serverType: 'd', environment: 'l', visibility: 0, vac: 1, version: '2.2.4.3',
  port: 27015, steamId: 90000000000000001n, keywords: 'versus', gameId: 550n,
};

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

/** A UDP server answering A2S like srcds (challenge required), counting the datagrams it got. */
async function server(info: ServerInfo | null, players: PlayerEntry[] = []): Promise<{ port: number; received: () => number }> {
  const responder = new A2sResponder({ info: () => info, players: () => players, rules: () => [] });
  const socket = createSocket('udp4');
  sockets.push(socket);
  let received = 0;
  socket.on('message', (msg, from) => {
    received++;
    for (const reply of responder.respond(msg, from.address)) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, received: () => received };
}

describe('a2sProbe', () => {
  it('reads what gamedig (type l4d2) reads from the same server, through the challenge', async () => {
    const s = await server(INFO);
    const ours = await a2sProbe()(s.port);
    const theirs = await GameDig.query({ type: 'l4d2', host: '127.0.0.1', port: s.port, givenPortOnly: true, maxRetries: 1 });
    // gamedig's numplayers counts the bot too; the probe counts people (a whenEmpty rollout waits for people only).
    expect(ours).toEqual({ name: theirs.name, map: theirs.map, players: theirs.numplayers - INFO.bots, maxPlayers: theirs.maxplayers });
    expect(ours).toEqual({ name: 'Versus «1»', map: 'c2m1_highway', players: 4, maxPlayers: 8 });
  });

  it('answers many servers at once through one socket, and two queries of one server one after the other', async () => {
    const servers = await Promise.all(Array.from({ length: 20 }, (_, i) => server({ ...INFO, name: `server ${i}` })));
    const probe = a2sProbe();
    const answers = await Promise.all([...servers.map((s) => probe(s.port)), probe(servers[0]!.port)]);
    expect(answers.map((a) => a?.name)).toEqual([...servers.map((_, i) => `server ${i}`), 'server 0']);
  });

  it('sends the last challenge again: one round trip per query once the server handed one out', async () => {
    const s = await server(INFO);
    const probe = a2sProbe();
    expect(await probe(s.port)).toBeDefined();
    const afterFirst = s.received();
    expect(afterFirst).toBe(2); // request, then request with the challenge
    expect(await probe(s.port)).toBeDefined();
    expect(s.received() - afterFirst).toBe(1);
  });

  it('is undefined when nothing answers, and when the server stays silent', async () => {
    const silent = await server(null);
    expect(await a2sProbe('127.0.0.1', 300)(silent.port)).toBeUndefined();
    expect(silent.received()).toBeGreaterThan(0);
  });

  it('reads nothing from truncated or foreign datagrams', () => {
    expect(parseInfo(Buffer.from('\xff\xff\xff\xffI\x11name', 'latin1'))).toBeUndefined();
    expect(parseInfo(Buffer.from('\xff\xff\xff\xffI\x11a\0b\0c\0d\0\x26', 'latin1'))).toBeUndefined();
    expect(parseInfo(Buffer.from('\xff\xff\xff\xfeI\x11a\0b\0c\0d\0\x26\x02\x05\x08\x00', 'latin1'))).toBeUndefined();
    expect(parseInfo(Buffer.from('\xff\xff\xff\xffI\x11a\0b\0c\0d\0\x26\x02\x05\x08\x00', 'latin1'))).toEqual({ name: 'a', map: 'b', players: 5, maxPlayers: 8 });
  });
});

describe('queryPlayers', () => {
  it('lists the players through the challenge, with score and whole seconds connected', async () => {
    const s = await server(INFO, [{ name: 'Ellis «1»', score: 3, durationSeconds: 61.7 }, { name: 'Rochelle', score: -1, durationSeconds: 0.2 }]);
    expect(await queryPlayers(s.port)).toEqual([{ name: 'Ellis «1»', score: 3, durationSeconds: 61 }, { name: 'Rochelle', score: -1, durationSeconds: 0 }]);
    const empty = await server(INFO, []);
    expect(await queryPlayers(empty.port)).toEqual([]);
  });

  it('reassembles a reply split over several datagrams', async () => {
    const many = Array.from({ length: 64 }, (_, i) => ({ name: `a long player name number ${i} ${'x'.repeat(40)}`, score: i, durationSeconds: i }));
    expect(encodePlayers(many).length).toBeGreaterThan(1400 * 2);
    const s = await server(INFO, many);
    expect(await queryPlayers(s.port)).toEqual(many);
  });

  it('is undefined when the server stays silent', async () => {
    const silent = await server(null);
    expect(await queryPlayers(silent.port, '127.0.0.1', 300)).toBeUndefined();
  });

  it('reads nothing from a truncated reply', () => {
    const reply = encodePlayers([{ name: 'Nick', score: 1, durationSeconds: 5 }]);
    expect(parsePlayers(reply)).toEqual([{ name: 'Nick', score: 1, durationSeconds: 5 }]);
    expect(parsePlayers(reply.subarray(0, reply.length - 1))).toBeUndefined();
    expect(parsePlayers(Buffer.from('\xff\xff\xff\xffD\x05', 'latin1'))).toBeUndefined();
  });
});
