// The demo game server's console behind its RCON listener (TCP) and A2S
// responder (UDP) on one loopback port, in this process, as srcds_run serves
// them: for tests of the RCON and A2S clients and the web's game routes
// without a process or a private host.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { A2sResponder } from '../../controller/demo/game-server/a2s.js';
import { GameConsole } from '../../controller/demo/game-server/console.js';
import { serveRcon, type RconListener } from '../../controller/demo/game-server/rcon.js';

/** A running in-process demo server; `close()` it. */
export interface DemoGame {
  port: number;
  /** Its console, for a test to set what RCON and A2S then show. */
  console: GameConsole;
  close(): Promise<void>;
}

/** Starts one, running `setup` (console text, e.g. the rcon_password) first. `root` is its working tree (cfg files). */
/** The demo server's console behind RCON (TCP) and A2S (UDP) on one free loopback port. */
export async function startDemoGame(root: string, setup: string): Promise<DemoGame> {
  const console = new GameConsole({ root, game: 'left4dead2', ip: '127.0.0.1', port: 0 });
  console.execute(setup);
  for (;;) {
    const tcp: Server = createServer();
    const rcon: RconListener = serveRcon(tcp, {
      password: () => console.cvar('rcon_password') ?? '',
      execute: (command) => {
        const lines = console.execute(command);
        return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
      },
      log: () => undefined,
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as AddressInfo).port;
    const udp: UdpSocket = createSocket('udp4');
    const free = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    if (!free) {
      await new Promise((r) => tcp.close(r));
      continue;
    }
    const responder = new A2sResponder({
      info: () => ({
        protocol: 17, name: console.cvar('hostname') ?? '', map: 'c1m1_hotel', folder: 'left4dead2', game: 'Left 4 Dead 2', appId: 550,
        players: console.connectedPlayers().length, maxPlayers: 8, bots: 0, serverType: 'd', environment: 'l', visibility: 0, vac: 1,
        version: '2.2.4.3', port, steamId: 1n, keywords: '', gameId: 550n,
      }),
      players: () => console.connectedPlayers().map((p) => ({ name: p.name, score: 7, durationSeconds: (Date.now() - p.joinedAt) / 1000 })),
      rules: () => [],
    });
    udp.on('message', (msg, from) => {
      for (const reply of responder.respond(msg, from.address)) udp.send(reply, from.port, from.address);
    });
    return {
      port,
      console,
      close: async () => {
        udp.close();
        await rcon.closeAll(100);
        await new Promise((r) => tcp.close(r));
      },
    };
  }
}

