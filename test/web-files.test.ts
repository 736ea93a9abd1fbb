// Issue 10, files: on a real host the web account reads what a game server
// wrote in its writable layer while another server cannot, and the API,
// running as that account against the host's data directory, lists and
// downloads it. A demo server writes a file with its unit's UMask into its
// upper dir (setgid, group left4me-web); the kernel then judges who may read it.
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../controller/package-root.js';
import { UserStore } from '../controller/web/users.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, rcon, startController, waitFor, type DemoHost } from './support/demo-host.js';

// Private hosts share the machine's network namespace: ports apart from the other suites' ranges.
const PORTS = { game: { min: 28850, max: 28899 }, client: { min: 29850, max: 29899 } };
const DATA = '/var/lib/left4me';
const WEB_DATA = '/var/lib/left4me-web';

let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;
let web: { uid: number; gid: number };

async function running(name: string): Promise<{ pid: number; uid: number; gid: number; port: number }> {
  return waitFor(`${name} running`, async () => {
    const s = await demo.status.read('Instance', name);
    if (condition(s, 'Ready') !== 'True' || s?.port === undefined || s.uid === undefined) return undefined;
    const u = await demo.server(name);
    if (u.activeState !== 'active' || !u.mainPid) return undefined;
    return { pid: u.mainPid, uid: s.uid, gid: demo.host.account.gid, port: s.port };
  }, 30_000).catch(async (err: unknown) => {
    // Why it did not start, in the failure itself: the unit's journal and the layer's owners and modes.
    const journal = await demo.host.exec('journalctl', ['--no-pager', '-n', '20', '-u', `left4me-server@${name}.service`]);
    const ls = await demo.host.exec('ls', ['-lan', `${DATA}/instances/${name}/`]);
    throw new Error(`${String(err)}\n${journal.stdout}\n${ls.stdout}${ls.stderr}`);
  });
}

/** Runs `cmd` inside the host as `who` (a name, with its groups, or a uid:gid with none). */
function as(who: string | { uid: number; gid: number }, cmd: string[], env: Record<string, string> = {}) {
  const ids = typeof who === 'string' ? [`--reuid=${who}`, `--regid=${who}`, '--init-groups'] : [`--reuid=${who.uid}`, `--regid=${who.gid}`, '--clear-groups'];
  return demo.host.exec('setpriv', [...ids, ...cmd], { env });
}

beforeAll(async () => {
  demo = await bootDemoHost();
  const ids = (await demo.host.exec('getent', ['passwd', 'left4me-web'])).stdout.split(':');
  web = { uid: Number(ids[2]), gid: Number(ids[3]) };
  // As deploy/left4me.tmpfiles.conf makes them on a real host: the web account reads documents.
  await chmod(demo.host.dirs.etc, 0o755);
  await chmod(demo.stateDir, 0o755);
  await demo.write('base.yaml', BASE_DOCS);
  await demo.write('instances/a.yaml', instanceDoc('a'));
  await demo.write('instances/b.yaml', instanceDoc('b'));
  ctl = await startController(demo, { portRanges: PORTS });
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await demo?.stop();
});

describe('the web account reads writable layers; game servers do not read each other', () => {
  const notes = `${DATA}/instances/a/upper/notes.txt`;

  it("a server's file is group left4me-web 0640 in a setgid upper dir (2751): the web account reads it, another server's uid does not", { timeout: 60_000 }, async () => {
    const a = await running('a');
    const b = await running('b');
    expect(a.uid).not.toBe(b.uid);
    const said = await rcon(a.port, await demo.rconPassword('a'), 'demo_write notes.txt written by server a');
    expect(said).toContain('demo_write: wrote notes.txt');

    const upper = await stat(join(demo.host.root, `${DATA}/instances/a/upper`));
    expect([upper.uid, upper.gid, (upper.mode & 0o7777).toString(8)]).toEqual([a.uid, web.gid, '2751']);
    const file = await stat(join(demo.host.root, notes));
    expect([file.uid, file.gid, (file.mode & 0o777).toString(8)]).toEqual([a.uid, web.gid, '640']);

    const byWeb = await as('left4me-web', ['cat', notes]);
    expect(byWeb, byWeb.stderr).toMatchObject({ code: 0, stdout: 'written by server a\n' });
    // Server b's identity (its uid, the shared game group): neither the file nor the directory.
    const byB = await as({ uid: b.uid, gid: b.gid }, ['cat', notes]);
    expect(byB.code).not.toBe(0);
    expect(byB.stderr).toMatch(/Permission denied/);
    const listByB = await as({ uid: b.uid, gid: b.gid }, ['ls', `${DATA}/instances/a/upper`]);
    expect(listByB.code).not.toBe(0);
    expect(listByB.stderr).toMatch(/Permission denied/);
    // Reading is all the web group may do there.
    const writeByWeb = await as('left4me-web', ['sh', '-c', `echo x > ${DATA}/instances/a/upper/planted`]);
    expect(writeByWeb.code).not.toBe(0);
  });

  it('overlay builds are readable by the web account', async () => {
    const build = await waitFor('maps build ready', async () => (await demo.status.read('Overlay', 'maps'))?.build?.ready);
    const r = await as('left4me-web', ['cat', `${DATA}/overlays/maps/${build}/left4dead2/addons/maps.vpk`]);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'vpk' });
  });

  it("the API, running as left4me-web on the host, lists and downloads the server's file and the overlay build", async () => {
    const dir = join(demo.host.root, WEB_DATA);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, web.uid, web.gid);
    const users = new UserStore(dir);
    await users.add('admin', 'an admin password', 'admin');
    const token = await users.createToken('admin');
    // One request per path from a web app in a process of the web account inside the host; prints the answers.
    const script = `
      const { buildWebApp } = await import(process.env.APP);
      const app = await buildWebApp({ stateDir: process.env.STATE, dataDir: ${JSON.stringify(DATA)}, webDataDir: ${JSON.stringify(WEB_DATA)} });
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      const out = {};
      for (const [k, p] of Object.entries(JSON.parse(process.env.PATHS))) {
        const r = await fetch(base + p, { headers: { authorization: 'Bearer ' + process.env.TOKEN } });
        out[k] = { status: r.status, body: await r.text() };
      }
      await app.close();
      console.log(JSON.stringify({ uid: process.getuid(), out }));
    `;
    // A file the server kept to itself (as a layer migrated from UMask=0077 holds them): a clear 403, not a 500.
    const a = await running('a');
    const kept = join(demo.host.root, `${DATA}/instances/a/upper/kept.txt`);
    await writeFile(kept, 'mode 0600', { mode: 0o600 });
    await chown(kept, a.uid, web.gid);
    const paths = {
      list: '/api/v1/instances/a/files',
      get: '/api/v1/instances/a/files/notes.txt',
      overlay: '/api/v1/overlays/maps/files/left4dead2/addons/maps.vpk',
      kept: '/api/v1/instances/a/files/kept.txt',
    };
    const r = await as('left4me-web', [process.execPath, '--input-type=module', '-e', script], {
      APP: pathToFileURL(join(packageRoot(), 'dist', 'controller', 'web', 'app.js')).href,
      STATE: '/etc/left4me/state',
      PATHS: JSON.stringify(paths),
      TOKEN: token,
    });
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { uid: number; out: Record<keyof typeof paths, { status: number; body: string }> };
    expect(got.uid).toBe(web.uid);
    expect(got.out.list.status, got.out.list.body).toBe(200);
    expect((JSON.parse(got.out.list.body) as { entries: Array<{ name: string; type: string }> }).entries).toContainEqual(expect.objectContaining({ name: 'notes.txt', type: 'file', size: 20 }));
    expect(got.out.get).toEqual({ status: 200, body: 'written by server a\n' });
    expect(got.out.overlay).toEqual({ status: 200, body: 'vpk' });
    expect(got.out.kept.status).toBe(403);
    expect(JSON.parse(got.out.kept.body)).toEqual({ error: 'the web service may not read kept.txt (its permissions do not let the left4me-web group read it)' });
  });
});

