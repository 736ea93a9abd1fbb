/**
 * The demo game server's entry point, installed as `srcds_run`: a stand-in
 * for L4D2's srcds that speaks A2S on UDP and Source RCON on TCP on the game
 * port and reads its configuration from the working directory. Bundled into
 * one file by `installation.ts`; nothing imports this module.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { A2sResponder, type A2sState } from './a2s.js';
import { LaunchArgsError, parseLaunchArgs, type LaunchOptions } from './args.js';
import { GAME_VERSION, GameConsole } from './console.js';
import { serveRcon, type RconListener } from './rcon.js';

const L4D2_APP_ID = 550;
const A2S_PROTOCOL = 17;
// Never shown in rules: srcds replicates these as "is set" flags at most.
const HIDDEN_RULES = new Set(['rcon_password', 'sv_password']);
const SHUTDOWN_GRACE_MS = 300;
const SHUTDOWN_HARD_MS = 800;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function printAll(lines: readonly string[]): void {
  for (const l of lines) log(l);
}

class DemoServer {
  private readonly console: GameConsole;
  private readonly udp: UdpSocket;
  private readonly tcp: Server;
  private readonly rcon: RconListener;
  private clientSocket: UdpSocket | null = null;
  private steamAnnounced = false;
  private shuttingDown = false;
  // An anonymous game server SteamID (universe 1, type 4), new on every start as Steam assigns them.
  private readonly steamAccount = randomInt(1, 0x7fffffff);
  private readonly steamInstance = randomInt(1, 0xfffff);

  constructor(private readonly opts: LaunchOptions, private readonly root: string) {
    this.console = new GameConsole({
      root,
      game: opts.game,
      ip: opts.ip,
      port: opts.port,
      insecure: opts.insecure,
      log,
      onQuit: () => setImmediate(() => void this.shutdown('quit command', 0)),
      // Deferred so the map's cfg output is printed before the readiness line.
      onMapLoaded: () => setImmediate(() => this.announceSteam()),
      onCvarChanged: (name) => {
        // srcds drops every RCON session when the password changes.
        if (name === 'rcon_password') setImmediate(() => this.rcon.dropAuthenticated());
      },
    });
    this.udp = createSocket({ type: opts.ip.includes(':') ? 'udp6' : 'udp4' });
    this.tcp = createServer();
    // RCON is for a few admin tools, not a crowd.
    this.tcp.maxConnections = 32;
    this.rcon = serveRcon(this.tcp, {
      password: () => this.console.cvar('rcon_password') ?? '',
      execute: (command) => {
        const lines = this.console.execute(command);
        return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
      },
      log,
    });
  }

  async start(): Promise<void> {
    process.on('SIGINT', () => void this.shutdown('SIGINT', 0));
    process.on('SIGTERM', () => void this.shutdown('SIGTERM', 0));
    log('Console initialized.');
    log('Game.dll loaded for "Left 4 Dead 2"');
    for (const a of this.opts.ignored) log(`Ignoring launch argument "${a}"`);
    this.logTree();

    await this.bindGamePort();
    await this.bindClientPort();
    log(`Network: IP ${this.opts.ip}, mode MP, dedicated Yes, ports ${this.opts.port} SV / ${this.opts.clientPort} CL`);

    const responder = new A2sResponder(this.a2sState());
    this.udp.on('message', (msg, rinfo) => {
      for (const reply of responder.respond(msg, rinfo.address)) this.udp.send(reply, rinfo.port, rinfo.address);
    });

    this.listenOnStdin();

    if (this.opts.maxPlayers !== null) printAll(this.console.execute(`maxplayers ${this.opts.maxPlayers}`));
    for (const cmd of this.opts.consoleCommands) printAll(this.console.execute(cmd));
    if (this.opts.map === null) {
      log('No map given (+map <name>): not answering server queries until one is loaded');
    } else {
      printAll(this.console.loadMap(this.opts.map));
    }
  }

  private logTree(): void {
    const addons = this.console.addons();
    log(`Addons: ${addons.length} vpk${addons.length === 1 ? '' : 's'} in ${this.opts.game}/addons${addons.length ? `: ${addons.join(', ')}` : ''}`);
    log(`SourceMod: ${this.console.hasSourceMod() ? 'present' : 'not installed'}`);
    if (this.opts.tickrate !== null) {
      const enabler = existsSync(join(this.root, this.opts.game, 'addons', 'tickrate_enabler.so'));
      log(enabler
        ? `Tickrate: ${this.opts.tickrate}`
        : `-tickrate ${this.opts.tickrate} has no effect without ${this.opts.game}/addons/tickrate_enabler.so (running at 30 tick)`);
    }
  }

  // The game port must be ours on both UDP and TCP; srcds never falls back to another port here.
  private async bindGamePort(): Promise<void> {
    const { ip, port, strictPortBind } = this.opts;
    const fail = (what: string, err: NodeJS.ErrnoException): never => {
      log(`WARNING: ${what}: port: ${port} bind: ${describeBindError(err)}`);
      log(strictPortBind
        ? `Port ${port} is not available and -strictportbind is set, exiting.`
        : `Couldn't allocate any server IP port`);
      process.exit(1);
    };
    await new Promise<void>((resolve) => {
      const onError = (err: Error): void => fail('UDP_OpenSocket', err);
      this.udp.once('error', onError);
      this.udp.bind({ port, address: ip, exclusive: true }, () => {
        this.udp.off('error', onError);
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      const onError = (err: Error): void => fail('NET_OpenSocket (rcon)', err);
      this.tcp.once('error', onError);
      this.tcp.listen({ port, host: ip, exclusive: true }, () => {
        this.tcp.off('error', onError);
        resolve();
      });
    });
    this.udp.on('error', (err) => log(`WARNING: UDP socket error: ${err.message}`));
    this.tcp.on('error', (err) => log(`WARNING: RCON socket error: ${err.message}`));
  }

  // srcds moves a taken client port instead of failing, so a clash here is only a warning.
  private async bindClientPort(): Promise<void> {
    const { ip, clientPort } = this.opts;
    const sock = createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve) => {
      sock.once('error', (err: NodeJS.ErrnoException) => {
        log(`WARNING: UDP_OpenSocket: port: ${clientPort} bind: ${describeBindError(err)} (client port)`);
        sock.close();
        resolve();
      });
      sock.bind({ port: clientPort, address: ip, exclusive: true }, () => {
        sock.removeAllListeners('error');
        sock.on('error', () => {});
        this.clientSocket = sock;
        sock.on('message', () => {});
        resolve();
      });
    });
  }

  private a2sState(): A2sState {
    const c = this.console;
    return {
      info: () => {
        if (c.map === null) return null;
        return {
          protocol: A2S_PROTOCOL,
          name: c.cvar('hostname') ?? '',
          map: c.map,
          folder: this.opts.game,
          game: 'Left 4 Dead 2',
          appId: L4D2_APP_ID,
          players: c.connectedPlayers().length,
          maxPlayers: c.maxPlayers(),
          bots: 0,
          serverType: 'd',
          environment: 'l',
          visibility: (c.cvar('sv_password') ?? '') === '' ? 0 : 1,
          vac: c.secure ? 1 : 0,
          version: GAME_VERSION,
          port: this.opts.port,
          steamId: this.steamId(),
          keywords: c.cvar('sv_tags') ?? '',
          gameId: BigInt(L4D2_APP_ID),
        };
      },
      players: () => {
        const now = Date.now();
        return c.connectedPlayers().map((p) => ({ name: p.name, score: 0, durationSeconds: (now - p.joinedAt) / 1000 }));
      },
      rules: () => c.cvarEntries().filter(([k]) => !HIDDEN_RULES.has(k)),
    };
  }

  private steamId(): bigint {
    return (1n << 56n) | (4n << 52n) | (BigInt(this.steamInstance) << 32n) | BigInt(this.steamAccount);
  }

  private announceSteam(): void {
    if (this.steamAnnounced) return;
    this.steamAnnounced = true;
    log(`Initializing Steam libraries for ${this.console.secure ? 'secure' : 'insecure'} Internet server`);
    log('Logging into anonymous gameserver account.');
    log('Connection to Steam servers successful.');
    log(`   Public IP is ${this.opts.ip}.`);
    log(`Assigned anonymous gameserver Steam ID [A:1:${this.steamAccount}:${this.steamInstance}].`);
    if (this.console.secure) log('VAC secure mode is activated.');
  }

  // Operators type `quit` on the console; systemd gives us /dev/null, which simply ends.
  private listenOnStdin(): void {
    const rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (line) => printAll(this.console.execute(line)));
    rl.on('close', () => process.stdin.destroy());
  }

  async shutdown(reason: string, code: number): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    log(`Shutting down (${reason})`);
    setTimeout(() => process.exit(code), SHUTDOWN_HARD_MS).unref();
    // A signal can arrive before the sockets are bound; closing those throws.
    for (const close of [() => this.udp.close(), () => this.clientSocket?.close(), () => this.tcp.close()]) {
      try {
        close();
      } catch {
        // not open yet
      }
    }
    await this.rcon.closeAll(SHUTDOWN_GRACE_MS);
    process.exit(code);
  }
}

function describeBindError(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'Address already in use';
  if (err.code === 'EADDRNOTAVAIL') return 'Cannot assign requested address';
  if (err.code === 'EACCES') return 'Permission denied';
  return err.message;
}

async function main(): Promise<void> {
  let opts: LaunchOptions;
  try {
    opts = parseLaunchArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof LaunchArgsError)) throw err;
    log(`srcds_run: ${err.message}`);
    process.exit(1);
  }
  const root = process.cwd();
  const gameDir = join(root, opts.game);
  if (!isDirectory(gameDir)) {
    log(`Unable to find game directory "${opts.game}" in the working directory; run srcds_run from the installation root`);
    process.exit(1);
  }
  await new DemoServer(opts, root).start();
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

await main();
