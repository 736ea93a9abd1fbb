import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAccounts } from '../../test/support/web-client.js';
import { startFixtureServer, type FixtureRoute, type FixtureServer } from '../../test/support/http-fixture.js';
import { startDemoGame, type DemoGame } from '../../test/support/demo-game.js';
import { packageRoot } from '../package-root.js';
import { StatusStore } from '../status/store.js';
import { buildWebApp } from './app.js';
import { UserStore } from './users.js';

// The game routes over real HTTP against the demo game server's console,
// RCON listener and A2S responder, in process on one port (TCP and UDP) as
// srcds_run serves them, and a stand-in for the Steam Web API.
const PASSWORD = 'rcon-secret-abcdefghijklmnop';
const STEAM_KEY = 'STEAMKEY0123456789ABCDEF';
const root = mkdtempSync(join(tmpdir(), 'left4me-web-game-'));
const stateDir = join(root, 'state');
const dataDir = join(root, 'data');
const webDataDir = join(root, 'web');
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let steam: FixtureServer;
let game: DemoGame;
let releaseSteam: () => void = () => undefined;
const steamQueries: URLSearchParams[] = [];
const avatarFetches: string[] = [];
const audit: string[] = [];
const answers: string[] = [];
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function running(store: StatusStore, name: string, port: number): Promise<void> {
  await store.write({
    kind: 'Instance', name, port, clientPort: port + 1, uid: 1879048192, events: [],
    conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'running', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
  });
}

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  for (const name of ['alice-1', 'alice-2', 'alice-3']) {
    writeFileSync(join(stateDir, 'instances', `${name}.yaml`), `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: ${name}, owner: alice}\nspec: {blueprint: demo-coop}\n`);
  }
  game = await startDemoGame(root, `hostname "alice's «server»"; rcon_password ${PASSWORD}`);
  const store = new StatusStore(join(dataDir, 'status'));
  await running(store, 'alice-1', game.port);
  await running(store, 'alice-2', await closedPort()); // alice-3 has no status: not running yet
  mkdirSync(join(dataDir, 'secrets'), { recursive: true });
  writeFileSync(join(dataDir, 'secrets', 'rcon.json'), JSON.stringify({ 'alice-1': PASSWORD, 'alice-2': 'another-password-123456' }));
  const routes = new Map<string, FixtureRoute>(Object.entries({
    '/ISteamUser/GetPlayerSummaries/v2/': async (req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      steamQueries.push(q);
      // Held until the test has its first list: that list must not wait for Steam.
      await new Promise<void>((r) => (releaseSteam = r));
      const players = (q.get('steamids') ?? '').split(',').map((id, i) => ({ steamid: id, personaname: `persona of ${id}`, avatarmedium: i === 0 ? `http://elsewhere.example/${id}.jpg` : steam.url(`/avatars/${id}.jpg`) }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response: { players } }));
    },
  }));
  // Steam's avatar CDN, stood in for: a tiny image for any id under /avatars/.
  const avatarRoute: FixtureRoute = async (req, res) => {
    avatarFetches.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'image/jpeg' }).end(Buffer.from(`jpeg of ${req.url}`));
  };
  const exact = routes.get.bind(routes);
  routes.get = (path: string) => exact(path) ?? (path.startsWith('/avatars/') ? avatarRoute : undefined);
  steam = await startFixtureServer(routes);
  const users = new UserStore(webDataDir);
  Object.assign(tokens, await testAccounts(users));
  app = await buildWebApp({
    stateDir, dataDir, webDataDir,
    steamWebApiKey: STEAM_KEY, steamApiBase: steam.url('/'), steamAvatarHosts: [new URL(steam.url('/')).host],
    rconRate: { max: 20, windowMs: 60_000 },
    auditLog: pino({ base: null }, { write: (line: string) => void audit.push(line) }),
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  releaseSteam();
  await app.close();
  await steam.close();
  await game.close();
  rmSync(root, { recursive: true, force: true });
});

async function call(who: keyof typeof tokens, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await r.text();
  answers.push(text);
  return { status: r.status, json: JSON.parse(text) as Record<string, unknown>, headers: r.headers };
}
const rcon = (who: keyof typeof tokens, name: string, command: unknown) => call(who, `/api/v1/instances/${name}/rcon`, { command });

describe('POST /api/v1/instances/NAME/rcon', () => {
  it('runs one console command for the owner and answers its output as text', async () => {
    const r = await rcon('alice', 'alice-1', 'status');
    expect(r.status).toBe(200);
    expect(r.json.truncated).toBe(false);
    expect(r.json.output).toContain("hostname: alice's «server»");
    expect((await rcon('alice', 'alice-1', 'echo "one;two"')).json).toEqual({ output: 'one;two\n', truncated: false });
    expect((await rcon('admin', 'alice-1', 'echo admin too')).json.output).toBe('admin too\n');
  });

  it('answers 404 to another user, 403 on a system instance the user sees, 409 without a port, 502 when the server is down', async () => {
    expect((await rcon('bob', 'alice-1', 'status')).status).toBe(404);
    for (const odd of ['nobody', '__proto__', 'constructor', '..%2Fsecrets']) expect((await rcon('bob', odd, 'status')).status, odd).toBe(404);
    expect((await call('alice', '/api/v1/instances/alice-1/rcon', `{"command": "${'x'.repeat(2 << 20)}"}`)).status).toBe(413);
    expect((await rcon('alice', 'demo-1', 'status')).status).toBe(403);
    const notRunning = await rcon('alice', 'alice-3', 'status');
    expect([notRunning.status, notRunning.json.error]).toEqual([409, 'instance "alice-3" has no game port yet; it is not running']);
    const down = await rcon('alice', 'alice-2', 'status');
    expect(down.status).toBe(502);
    expect(down.json.error).toMatch(/^the server of instance "alice-2" did not take the command: cannot reach RCON at 127\.0\.0\.1:\d+: ECONNREFUSED$/);
  });

  it('takes one printable line of one command, never rcon_password', async () => {
    const refused: Array<[unknown, RegExp]> = [
      ['status; quit', /one command per request/],
      ['status\nquit', /no control characters/],
      ['say \u001b]52;c;aGk=\u0007', /no control characters/],
      ['   ', /empty/],
      ['x'.repeat(513), /must NOT have more than 512 characters/],
      ['rcon_password newone', /rcon_password is kept by the controller/],
      ['"RCON_PASSWORD"', /rcon_password is kept by the controller/],
    ];
    for (const [command, message] of refused) {
      const r = await rcon('alice', 'alice-1', command);
      expect([r.status, r.json.error], JSON.stringify(command)).toEqual([400, expect.stringMatching(message)]);
    }
  });

  it('never answers the password, even when the server prints it', async () => {
    const r = await rcon('alice', 'alice-1', 'cvarlist');
    expect(r.status).toBe(200);
    expect(r.json.output).toMatch(/rcon_password\s+: \[redacted\]/);
  });

  it('answers 503 when the web account cannot read the passwords, without quoting the file', async () => {
    const file = join(dataDir, 'secrets', 'rcon.json');
    renameSync(file, `${file}.away`);
    mkdirSync(file);
    try {
      const r = await rcon('alice', 'alice-1', 'status');
      expect([r.status, r.json.error]).toEqual([503, expect.stringMatching(/^the web account cannot read RCON passwords: EISDIR \(.*rcon\.json; the controller makes it readable by the group left4me-web when that group exists\)$/)]);
    } finally {
      rmSync(file, { recursive: true });
      renameSync(`${file}.away`, file);
    }
  });

  it('limits each user: 429 with Retry-After once the budget is spent, other users unaffected', async () => {
    let r = await rcon('admin', 'alice-1', 'echo spend');
    for (let i = 0; i < 25 && r.status === 200; i++) r = await rcon('admin', 'alice-1', 'echo spend');
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.json.error).toMatch(/^at most 20 RCON commands per 60 s; try again in \d+ s$/);
    expect((await rcon('alice', 'alice-1', 'echo still mine')).status).toBe(200);
  });

  it('audits every command with user, instance and outcome, never its output or a password', async () => {
    expect((await rcon('alice', 'alice-1', 'sv_password join-me-secret')).status).toBe(200);
    const lines = audit.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === 'rcon');
    expect(lines).toContainEqual(expect.objectContaining({ user: 'alice', instance: 'alice-1', command: 'status', ok: true, msg: 'rcon command' }));
    expect(lines).toContainEqual(expect.objectContaining({ user: 'alice', instance: 'alice-2', command: 'status', ok: false, error: expect.stringContaining('ECONNREFUSED') }));
    expect(lines).toContainEqual(expect.objectContaining({ user: 'alice', instance: 'alice-3', command: 'status', ok: false, error: expect.stringContaining('no game port') }));
    expect(lines).toContainEqual(expect.objectContaining({ user: 'alice', instance: 'alice-1', command: 'sv_password [redacted]', ok: true }));
    expect(lines.some((l) => String(l.output ?? '').length > 0)).toBe(false);
    const file = readFileSync(join(webDataDir, 'rcon-audit.log'), 'utf8');
    expect(file).toContain('"user":"alice","instance":"alice-1","command":"status","ok":true');
    for (const text of [...audit, file]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain('join-me-secret');
      expect(text).not.toContain('alice\'s «server»'); // output stays out
    }
  });
});

describe('GET /api/v1/instances/NAME/players', () => {
  it('lists A2S players with SteamIDs from status; persona names arrive later without holding up the list', async () => {
    expect((await rcon('alice', 'alice-1', 'demo_players add Zoey')).json.output).toBe('demo_players: 1 connected\n');
    expect((await rcon('alice', 'alice-1', 'demo_players add Louis "the IT guy"')).json.output).toBe('demo_players: 2 connected\n');
    const first = await call('alice', '/api/v1/instances/alice-1/players');
    expect(first.status).toBe(200);
    // Steam has not answered yet (the stand-in holds its answer): names are missing, the list is whole.
    expect(first.json).toEqual({
      items: [
        { name: 'Zoey', score: 7, durationSeconds: expect.any(Number), steamId: expect.stringMatching(/^7656119\d{10}$/) },
        { name: 'Louis the IT guy', score: 7, durationSeconds: expect.any(Number), steamId: expect.stringMatching(/^7656119\d{10}$/) },
      ],
      steamIds: true,
      personas: true,
    });
    const ids = (first.json.items as Array<{ steamId: string }>).map((p) => p.steamId);
    expect(new Set(ids).size).toBe(2);
    await expect.poll(() => steamQueries.length, { timeout: 10_000 }).toBe(1);
    expect(steamQueries[0]!.get('key')).toBe(STEAM_KEY);
    expect(steamQueries[0]!.get('steamids')!.split(',').sort()).toEqual([...ids].sort());
    releaseSteam();
    await expect
      .poll(async () => ((await call('alice', '/api/v1/instances/alice-1/players')).json.items as Array<{ persona?: string }>).map((p) => p.persona), { timeout: 10_000 })
      .toEqual(ids.map((id) => `persona of ${id}`));
    const later = await call('alice', '/api/v1/instances/alice-1/players');
    // Avatars come through this service (the dashboard's CSP allows images from its own origin only), fetched once and kept.
    // The first id Steam was asked about has its avatar on another host (see the fixture).
    const foreign = steamQueries[0]!.get('steamids')!.split(',')[0]!;
    const withAvatar = (later.json.items as Array<{ steamId: string; avatar?: string }>).filter((p) => p.steamId !== foreign);
    expect(withAvatar).toHaveLength(1);
    for (const p of withAvatar) {
      expect(p.avatar).toBe(`/api/v1/steam/avatars/${p.steamId}`);
      for (let i = 0; i < 2; i++) {
        const img = await fetch(`${base}${p.avatar}`, { headers: { authorization: `Bearer ${tokens.alice}` } });
        expect(img.status).toBe(200);
        expect(img.headers.get('content-type')).toBe('image/jpeg');
        expect(await img.text()).toBe(`jpeg of /avatars/${p.steamId}.jpg`);
      }
    }
    expect(avatarFetches.length).toBe(withAvatar.length);
    // An avatar URL on another host is never fetched: no avatar for that player, and 404 for the id.
    for (const p of (later.json.items as Array<{ steamId: string; avatar?: string }>).filter((x) => x.steamId === foreign)) {
      expect(p.avatar).toBeUndefined();
      expect((await fetch(`${base}/api/v1/steam/avatars/${p.steamId}`, { headers: { authorization: `Bearer ${tokens.alice}` } })).status).toBe(404);
    }
    expect((await fetch(`${base}/api/v1/steam/avatars/76561197960265728`)).status).toBe(401);
    expect((await fetch(`${base}/api/v1/steam/avatars/..%2F..%2Fetc`, { headers: { authorization: `Bearer ${tokens.alice}` } })).status).toBe(400);
    // Cached: no second question to Steam for the same ids.
    expect(steamQueries).toHaveLength(1);
  });

  it('is for the owner or an admin: 404 to another user, 403 on a system instance, 502 when the server is down', async () => {
    expect((await call('admin', '/api/v1/instances/alice-1/players')).status).toBe(200);
    expect((await call('bob', '/api/v1/instances/alice-1/players')).status).toBe(404);
    expect((await call('alice', '/api/v1/instances/demo-1/players')).status).toBe(403);
    expect((await call('alice', '/api/v1/instances/alice-2/players')).status).toBe(502);
  });

  it('never answers a password or the Steam key', () => {
    expect(answers.length).toBeGreaterThan(20);
    for (const text of answers) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain('another-password-123456');
      expect(text).not.toContain(STEAM_KEY);
    }
    for (const line of audit) expect(line).not.toContain(STEAM_KEY);
  });
});
