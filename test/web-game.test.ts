// The web's game routes on a private systemd host: the controller runs a
// demo server for alice, the API's RCON `status` shows its hostname, bob
// gets 404, and rcon.json is 0640 root:left4me-web — readable by the web
// account, not by the server's own uid.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebApp } from '../controller/web/app.js';
import { UserStore } from '../controller/web/users.js';
import { BASE_DOCS, bootDemoHost, condition, startController, waitFor, type DemoHost } from './support/demo-host.js';

// Private hosts share the machine's network namespace: ports apart from the other suites' ranges.
const PORTS = { game: { min: 28910, max: 28919 }, client: { min: 29910, max: 29919 } };
const HOSTNAME = 'Alice «web» server';

let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
const webDataDir = mkdtempSync(join(tmpdir(), 'left4me-web-game-host-'));
const tokens = { alice: '', bob: '' };

/** An id of the host's account or group file. */
async function hostId(file: '/etc/passwd' | '/etc/group', name: string): Promise<number> {
  const line = (await readFile(join(demo.host.root, file), 'utf8')).split('\n').find((l) => l.split(':')[0] === name);
  if (!line) throw new Error(`${name} is not in the host's ${file}`);
  return Number(line.split(':')[2]);
}

/** Whether `uid:gid` (no other groups) can read a file on the host: 'ok' or the errno code. */
async function readAs(uid: number, gid: number, path: string): Promise<string> {
  const js = `try { require('node:fs').readFileSync(${JSON.stringify(path)}); console.log('ok') } catch (e) { console.log(e.code) }`;
  const r = await demo.host.exec('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, '-e', js]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  await demo.write('instances/alice-srv.yaml', `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-srv, owner: alice}\nspec:\n  blueprint: coop\n  cvars: {hostname: "${HOSTNAME}"}\n`);
  ctl = await startController(demo, { portRanges: PORTS });
  const users = new UserStore(webDataDir);
  await users.add('alice', 'alice password 1', 'user');
  await users.add('bob', 'bobs password 12', 'user');
  tokens.alice = await users.createToken('alice');
  tokens.bob = await users.createToken('bob');
  app = await buildWebApp({ stateDir: demo.stateDir, dataDir: join(demo.host.root, '/var/lib/left4me'), webDataDir });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await ctl?.stop();
  await demo?.stop();
  rmSync(webDataDir, { recursive: true, force: true });
});

const rcon = (who: keyof typeof tokens, name: string, command: string) =>
  fetch(`${base}/api/v1/instances/${name}/rcon`, { method: 'POST', headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' }, body: JSON.stringify({ command }) });

describe('the web console on a private host', () => {
  it("runs status on alice's server through the API; bob gets 404", async () => {
    await waitFor('alice-srv Ready', async () => condition(await demo.status.read('Instance', 'alice-srv'), 'Ready') === 'True', 60_000);
    // The server answers RCON once its map has loaded: poll the API until it does.
    const output = await waitFor('status through the API', async () => {
      const r = await rcon('alice', 'alice-srv', 'status');
      return r.status === 200 ? ((await r.json()) as { output: string }).output : undefined;
    }, 30_000);
    expect(output).toContain(`hostname: ${HOSTNAME}`);
    const bob = await rcon('bob', 'alice-srv', 'status');
    expect(bob.status).toBe(404);
    expect(await bob.text()).not.toContain(HOSTNAME);
    const players = await fetch(`${base}/api/v1/instances/alice-srv/players`, { headers: { authorization: `Bearer ${tokens.alice}` } });
    expect(await players.json()).toEqual({ items: [], steamIds: true, personas: false });
  });

  it('keeps rcon.json 0640 root:left4me-web in a 0710 directory: the web account reads it, the game server uid does not', async () => {
    const webGid = await hostId('/etc/group', 'left4me-web');
    const webUid = await hostId('/etc/passwd', 'left4me-web');
    const file = join(demo.host.root, '/var/lib/left4me/secrets/rcon.json');
    const dir = join(demo.host.root, '/var/lib/left4me/secrets');
    const f = await stat(file);
    const d = await stat(dir);
    expect([f.mode & 0o7777, f.uid, f.gid]).toEqual([0o640, 0, webGid]);
    expect([d.mode & 0o7777, d.uid, d.gid]).toEqual([0o710, 0, webGid]);
    expect(await readAs(webUid, webGid, '/var/lib/left4me/secrets/rcon.json')).toBe('ok');
    const server = (await demo.status.read('Instance', 'alice-srv'))!;
    const gameGid = await hostId('/etc/group', 'left4me');
    expect(server.uid).toBeGreaterThan(0);
    expect(await readAs(server.uid!, gameGid, '/var/lib/left4me/secrets/rcon.json')).toBe('EACCES');
  });
});
