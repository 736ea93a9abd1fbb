/**
 * The bundled `srcds_run` from `writeDemoInstallation`, run as a child
 * process and checked only with third-party clients (gamedig, rcon-srcds).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GameDig } from 'gamedig';
import RconModule from 'rcon-srcds';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CUSTOM_MAP, writeDemoInstallation } from './installation.js';

// rcon-srcds is CommonJS with `exports.default`; depending on the loader the class sits on .default or not.
type RconClass = new (opts: { host: string; port: number; timeout?: number }) => {
  authenticate(password: string): Promise<boolean>;
  execute(command: string): Promise<string | boolean>;
  disconnect(): Promise<void>;
  /** The client's socket (rcon-srcds keeps it public). */
  connection?: { destroy(): void };
};
type RconClient = InstanceType<RconClass>;
const Rcon = ((RconModule as unknown as { default?: RconClass }).default ?? RconModule) as unknown as RconClass;

const READY = 'Connection to Steam servers successful.';
const PASSWORD = 'integration-secret';
const HOSTNAME = 'left4me integration server';

let install: string;

beforeAll(async () => {
  install = await mkdtemp(join(tmpdir(), 'l4m-demo-srcds-'));
  await writeDemoInstallation(install);
  const cfg = join(install, 'left4dead2', 'cfg');
  await writeFile(join(cfg, 'server.cfg'), [
    '// written by srcds.test.ts',
    `hostname "${HOSTNAME}"`,
    `rcon_password ${PASSWORD}`,
    'sv_tags "demo,test"; maxplayers 12',
    'exec rates.cfg',
  ].join('\n'));
  // Enough cvars that A2S_RULES cannot fit one datagram.
  const many = Array.from({ length: 80 }, (_, i) => `demo_filler_cvar_${i} "filler value number ${i}"`);
  await writeFile(join(cfg, 'rates.cfg'), ['sv_minrate 100000', 'sv_maxrate 100000', ...many].join('\n'));
  for (const vpk of ['workshop_222.vpk', 'alpha_maps.vpk']) await writeFile(join(install, 'left4dead2', 'addons', vpk), 'VPK');
});

afterAll(async () => {
  await rm(install, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  port: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

const children: ChildProcess[] = [];
const rconClients: RconClient[] = [];
const heldPorts: Array<Server | UdpSocket> = [];

afterEach(async () => {
  for (const r of rconClients.splice(0)) r.connection?.destroy();
  for (const h of heldPorts.splice(0)) h.close();
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(child.pid!, 'SIGKILL');
    await gone;
  }
});

// A port free on 127.0.0.1 for both TCP and UDP right now.
async function freePort(): Promise<number> {
  for (;;) {
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as AddressInfo).port;
    const udp = createSocket('udp4');
    const udpFree = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    udp.close();
    await new Promise((r) => tcp.close(r));
    if (udpFree) return port;
  }
}

async function start(extra: string[] = [], port?: number): Promise<Running> {
  const p = port ?? (await freePort());
  const clientPort = await freePort();
  const args = [
    '-game', 'left4dead2', '-port', String(p), '+clientport', String(clientPort), '-ip', '127.0.0.1',
    '-strictportbind', '-norestart', ...extra,
  ];
  if (!extra.includes('+map')) args.push('+map', 'c1m1_hotel');
  const child = spawn(join(install, 'srcds_run'), args, { cwd: install, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  const listeners = new Set<() => void>();
  const onText = (b: Buffer): void => {
    out += b.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onText);
  child.stderr!.on('data', onText);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  const waitFor = (text: string, timeoutMs = 5000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.includes(text)) done(resolve);
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no "${text}" within ${timeoutMs} ms; output:\n${out}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      void exited.then(() => setImmediate(() => done(() => (out.includes(text) ? resolve() : reject(new Error(`exited without "${text}"; output:\n${out}`))))));
      check();
    });
  return { child, port: p, output: () => out, exited, waitFor };
}

async function startReady(extra: string[] = []): Promise<Running> {
  const s = await start(extra);
  await s.waitFor(READY);
  return s;
}

function query(port: number, more: Record<string, unknown> = {}): ReturnType<typeof GameDig.query> {
  return GameDig.query({
    type: 'left4dead2',
    // gamedig 5 lists L4D2 as `l4d2` and keeps `left4dead2` as its old id.
    checkOldIDs: true,
    host: '127.0.0.1',
    port,
    givenPortOnly: true,
    maxRetries: 1,
    socketTimeout: 800,
    attemptTimeout: 3000,
    ...more,
  });
}

async function rcon(port: number, password = PASSWORD): Promise<RconClient> {
  const r = new Rcon({ host: '127.0.0.1', port, timeout: 2000 });
  rconClients.push(r);
  await r.authenticate(password);
  return r;
}

async function exec(r: RconClient, command: string): Promise<string> {
  const out = await r.execute(command);
  if (typeof out !== 'string') throw new Error(`rcon-srcds returned ${String(out)} for ${command}`);
  return out;
}

describe('bundled srcds_run', () => {
  it('answers gamedig with hostname, map, player count and limit from server.cfg', async () => {
    const s = await startReady();
    const state = await query(s.port);
    expect(state.name).toBe(HOSTNAME);
    expect(state.map).toBe('c1m1_hotel');
    expect(state.numplayers).toBe(0);
    expect(state.maxplayers).toBe(12);
    expect(state.password).toBe(false);
    expect(state.version).toBe('2.2.4.3');
    expect(state.connect).toBe(`127.0.0.1:${s.port}`);
    expect(state.raw).toHaveProperty('steamid');
    expect(state.raw).toMatchObject({ protocol: 17, folder: 'left4dead2', game: 'Left 4 Dead 2', appId: 550, tags: ['demo', 'test'] });
  });

  it('sends A2S_RULES longer than a datagram as split packets gamedig reassembles, without passwords', async () => {
    const s = await startReady();
    const state = await query(s.port, { requestRules: true, requestRulesRequired: true });
    const raw = state.raw as { rules: Record<string, string>; rulesBytes: Buffer };
    expect(raw.rulesBytes.length).toBeGreaterThan(1400);
    expect(raw.rules).toMatchObject({ hostname: HOSTNAME, sv_minrate: '100000', demo_filler_cvar_79: 'filler value number 79' });
    expect(raw.rules).not.toHaveProperty('rcon_password');
    expect(raw.rules).not.toHaveProperty('sv_password');
  });

  it('lets rcon-srcds log in, list the addon stack and read status', async () => {
    const s = await startReady();
    const r = await rcon(s.port);
    expect(await exec(r, 'demo_addons')).toBe('alpha_maps.vpk\nworkshop_222.vpk\n');
    const status = await exec(r, 'status');
    expect(status).toContain(`hostname: ${HOSTNAME}`);
    expect(status).toContain(`udp/ip  : 127.0.0.1:${s.port}`);
    expect(status).toContain('map     : c1m1_hotel');
    expect(status).toContain('players : 0 humans, 0 bots (12 max)');
    expect(await exec(r, 'sv_tags')).toBe('"sv_tags" = "demo,test"\n');
    expect(await exec(r, 'no_such_thing')).toBe('Unknown command "no_such_thing"\n');
  });

  it('refuses a wrong RCON password', async () => {
    const s = await startReady();
    await expect(rcon(s.port, 'not-the-password')).rejects.toThrow('Unable to authenticate');
    await s.waitFor('Bad Password');
  });

  it('shows simulated players in gamedig', async () => {
    const s = await startReady();
    const r = await rcon(s.port);
    expect(await exec(r, 'demo_players 3')).toBe('demo_players: 3 connected\n');
    const state = await query(s.port);
    expect(state.numplayers).toBe(3);
    expect(state.players.map((p) => p.name).sort()).toEqual(['Player1', 'Player2', 'Player3']);
    await exec(r, 'demo_players clear');
    expect((await query(s.port)).numplayers).toBe(0);
  });

  it('changes level to a custom map and refuses unknown ones with srcds text', async () => {
    const s = await startReady();
    const r = await rcon(s.port);
    expect(await exec(r, 'changelevel c99m1_nowhere')).toBe('changelevel failed: c99m1_nowhere not found\n');
    expect(await exec(r, `changelevel ${DEMO_CUSTOM_MAP}`)).toBe('');
    expect((await query(s.port)).map).toBe(DEMO_CUSTOM_MAP);
  });

  it('is not ready and does not answer queries until a valid map loads', async () => {
    // server.cfg only runs on a map load, so the password has to come from the command line here.
    const s = await start(['+map', 'c0m0_missing', '+rcon_password', PASSWORD]);
    await s.waitFor('map load failed: c0m0_missing not found or invalid');
    await expect(query(s.port, { socketTimeout: 300 })).rejects.toThrow();
    expect(s.output()).not.toContain(READY);
    const r = await rcon(s.port);
    await exec(r, 'map c2m1_highway');
    await s.waitFor(READY);
    expect((await query(s.port)).map).toBe('c2m1_highway');
  });

  it('exits non-zero with -strictportbind when UDP or TCP on its port is taken', async () => {
    const udpPort = await freePort();
    const udp = createSocket('udp4');
    heldPorts.push(udp);
    await new Promise<void>((r) => udp.bind(udpPort, '127.0.0.1', r));
    const a = await start([], udpPort);
    expect((await a.exited).code).toBe(1);
    expect(a.output()).toContain(`UDP_OpenSocket: port: ${udpPort} bind: Address already in use`);
    expect(a.output()).toContain('-strictportbind');
    expect(a.output()).not.toContain(READY);

    const tcpPort = await freePort();
    const tcp = createServer();
    heldPorts.push(tcp);
    await new Promise<void>((r) => tcp.listen(tcpPort, '127.0.0.1', r));
    const b = await start([], tcpPort);
    expect((await b.exited).code).toBe(1);
    expect(b.output()).toContain('Address already in use');
  });

  it('exits 0 within a second of SIGINT, and of SIGTERM', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const s = await startReady();
      const sentAt = Date.now();
      process.kill(s.child.pid!, signal);
      expect(await s.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - sentAt).toBeLessThan(1000);
    }
  });

  it('exits 0 on quit over RCON and on quit typed on stdin', async () => {
    const viaRcon = await startReady();
    const r = await rcon(viaRcon.port);
    await exec(r, 'quit');
    expect((await viaRcon.exited).code).toBe(0);

    const viaStdin = await startReady();
    viaStdin.child.stdin!.write('quit\n');
    expect((await viaStdin.exited).code).toBe(0);
  });
});
