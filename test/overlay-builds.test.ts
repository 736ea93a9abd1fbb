// Issue 5's acceptance: every overlay source built by the real pipeline into
// a running server's stack, served by local stand-ins (HTTP fixtures, a Steam
// Web API stand-in), and every kind of build failure leaving the previous
// build mounted and the server running.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from './support/http-fixture.js';
import { bootDemoHost, condition, DEMO_INSTALLATION_DOC, rcon, startController, waitFor, type DemoHost } from './support/demo-host.js';
import { startSteamFixture, type SteamFixture } from './support/steam-fixture.js';

const ITEM = '698857882';
const SHARED = '2524204971';
const PORTS = { game: { min: 28200, max: 28299 }, client: { min: 29200, max: 29299 } };
let demo: DemoHost;
let steam: SteamFixture;
let http: FixtureServer;
let ctl: Awaited<ReturnType<typeof startController>>;
const routes = new Map<string, { body: Buffer }>();
const scratch = mkdtempSync(join(tmpdir(), 'left4me-overlay-builds-'));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A tar.gz of a small tree made here (a real archive from the real tool). */
function tarGz(name: string, files: Record<string, string>): Buffer {
  const dir = join(scratch, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, 'pack-1.0', rel, '..'), { recursive: true });
    writeFileSync(join(dir, 'pack-1.0', rel), text);
  }
  execFileSync('tar', ['-czf', join(scratch, `${name}.tar.gz`), '-C', dir, 'pack-1.0']);
  return readFileSync(join(scratch, `${name}.tar.gz`));
}

/** A tar whose one member is `../evil`, written byte by byte (GNU tar will not create one). */
function hostileTar(): Buffer {
  const header = Buffer.alloc(512);
  const put = (s: string, off: number) => header.write(s, off, 'ascii');
  put('../evil', 0);
  put('0000644\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put('00000000004\0', 124);
  put('00000000000\0', 136);
  put('        ', 148);
  put('0', 156);
  put('ustar\0', 257);
  put('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(512);
  body.write('pwn\n');
  return Buffer.concat([header, body, Buffer.alloc(1024)]);
}

function docs(o: { archiveUrl: string; archiveSha: string; workshopItems: string[]; script?: string; afterScript?: string }) {
  return `${DEMO_INSTALLATION_DOC}---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: pack}
spec:
  sources:
    - archive: {url: "${o.archiveUrl}", sha256: "${o.archiveSha}", stripComponents: 1, target: left4dead2}
  serverCfg: |
    sv_tags "first"
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: workshop}
spec:
  sources:
    - workshop: {items: [${o.workshopItems.join(', ')}]}
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: top}
spec:
  sources:
    - files:
        - {path: left4dead2/addons/top.vpk, content: "vpk"}
        - {path: left4dead2/cfg/order.cfg, content: "sv_order \\"top\\"\\n"}
    - script:
        run: |
${(o.script ?? 'mkdir -p /overlay/left4dead2/maps && echo generated > /overlay/left4dead2/maps/l4m_script.bsp').split('\n').map((l) => `          ${l}`).join('\n')}
${o.afterScript ? `    - ${o.afterScript}\n` : ''}  serverCfg: |
    sv_tags "third"
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: twin}
spec:
  sources:
    - workshop: {items: [${SHARED}]}
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: stack}
spec:
  overlays: [pack, workshop, top]
  serverCfg: |
    exec order.cfg
---
apiVersion: left4me/v1
kind: Instance
metadata: {name: s}
spec:
  blueprint: stack
  updatePolicy: immediate
  cvars: {hostname: "Stack Server"}
`;
}

const PACK = tarGz('pack', { 'addons/pack.vpk': 'vpk', 'cfg/order.cfg': 'sv_order "pack"\n', 'cfg/pack.cfg': 'x' });

beforeAll(async () => {
  steam = await startSteamFixture();
  steam.setItem({ id: ITEM, title: 'Left 4 Dead 2 Fixes', timeUpdated: 1700000000 });
  steam.setItem({ id: SHARED, title: 'Shared Map', timeUpdated: 1700000001 });
  steam.setItem({ id: '111', title: 'Removed Item', result: 9 });
  http = await startFixtureServer(routes);
  routes.set('/pack-1.0.tar.gz', { body: PACK });
  demo = await bootDemoHost();
  await demo.write('stack.yaml', docs({ archiveUrl: http.url('/pack-1.0.tar.gz'), archiveSha: sha(PACK), workshopItems: [ITEM, SHARED] }));
  // The stand-ins serve on loopback, which production refuses: allowed explicitly, as an operator would.
  ctl = await startController(demo, { steamApiBase: steam.base, portRanges: PORTS, allowedDownloadNetworks: ['127.0.0.1/32'] });
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await demo?.stop();
  await http?.close();
  await steam?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function server() {
  const st = await demo.status.read('Instance', 's');
  return { port: st!.port!, pid: (await demo.server('s')).mainPid, password: await demo.rconPassword('s') };
}

/** The overlay's status once an attempt at a build other than `previous` has failed. */
async function failedBuild(name: string, previous: string | undefined) {
  return waitFor(`${name} build failed`, async () => {
    const st = await demo.status.read('Overlay', name);
    return st?.build?.result === 'Failed' && st.build.wanted !== previous ? st : undefined;
  });
}

describe('overlay builds in a private host', () => {
  it('stacks an archive, workshop items and files, in order, into the running server', async () => {
    await waitFor('s Ready', async () => condition(await demo.status.read('Instance', 's'), 'Ready') === 'True', 30_000);
    const s = await server();
    const addons = await rcon(s.port, s.password, 'demo_addons');
    for (const a of ['pack.vpk', `${ITEM}.vpk`, `${SHARED}.vpk`, 'top.vpk']) expect(addons).toContain(a);
    // The script step ran in its sandbox and wrote a map the server can load.
    expect(await rcon(s.port, s.password, 'changelevel l4m_script')).not.toMatch(/not found|failed/i);
    await waitFor('map changed', async () => (await rcon(s.port, s.password, 'status')).includes('l4m_script'));
    // Upper overlays win: top's order.cfg hides pack's, and later serverCfg fragments override earlier ones.
    expect(await rcon(s.port, s.password, 'sv_order')).toContain('"sv_order" = "top"');
    expect(await rcon(s.port, s.password, 'sv_tags')).toContain('"sv_tags" = "third"');
    expect(await rcon(s.port, s.password, 'hostname')).toContain('Stack Server');
  });

  it('stores a workshop item two overlays share once (same inode as the cache)', async () => {
    await waitFor('twin built', async () => (await demo.status.read('Overlay', 'twin'))?.build?.ready);
    const ready = async (o: string) => (await demo.status.read('Overlay', o))!.build!.ready!;
    const a = statSync(join(demo.host.dirs.varLib, 'overlays/workshop', await ready('workshop'), `left4dead2/addons/${SHARED}.vpk`));
    const b = statSync(join(demo.host.dirs.varLib, 'overlays/twin', await ready('twin'), `left4dead2/addons/${SHARED}.vpk`));
    const cache = statSync(join(demo.host.dirs.varLib, `cache/workshop/${SHARED}-1700000001.vpk`));
    expect(a.ino).toBe(cache.ino);
    expect(b.ino).toBe(cache.ino);
    expect(steam.downloads(SHARED)).toBe(1);
  });

  // The script leaves addons as a link to a directory of the host outside the build (relative, so it
  // resolves inside this private host when followed); the root-side workshop step must not link through it.
  const probe = () => join(demo.host.dirs.varLib, 'probe');
  const linkLeft = 'rm -rf /overlay/left4dead2/addons && ln -s ../../../../probe /overlay/left4dead2/addons';
  const failures: Array<[string, () => string, string, RegExp, (() => void)?]> = [
    ['a sha256 mismatch', () => { const other = tarGz('other', { 'addons/x.vpk': 'y' }); routes.set('/pack-2.0.tar.gz', { body: other }); return docs({ archiveUrl: http.url('/pack-2.0.tar.gz'), archiveSha: sha(PACK), workshopItems: [ITEM, SHARED] }); }, 'pack', /has sha256 [0-9a-f]{64}, but the document expects [0-9a-f]{64}/],
    ['a path-escaping archive', () => { const evil = hostileTar(); routes.set('/evil.tar', { body: evil }); return docs({ archiveUrl: http.url('/evil.tar'), archiveSha: sha(evil), workshopItems: [ITEM, SHARED] }); }, 'pack', /\.\.\/evil/],
    ['a failing script', () => docs({ archiveUrl: http.url('/pack-1.0.tar.gz'), archiveSha: sha(PACK), workshopItems: [ITEM, SHARED], script: 'echo syncing maps\necho "index unreachable" >&2\nexit 3' }), 'top', /exit.*3|status 3/],
    ['a missing workshop item', () => docs({ archiveUrl: http.url('/pack-1.0.tar.gz'), archiveSha: sha(PACK), workshopItems: [ITEM, SHARED, '111'] }), 'workshop', /111/],
    [
      'a script leaving left4dead2/addons as a link out of the build',
      () => {
        mkdirSync(probe(), { recursive: true });
        return docs({ archiveUrl: http.url('/pack-1.0.tar.gz'), archiveSha: sha(PACK), workshopItems: [ITEM, SHARED], script: linkLeft, afterScript: `workshop: {items: [${ITEM}]}` });
      },
      'top',
      /source 2 \(workshop\): left4dead2\/addons is a symlink left by an earlier step; refusing to write through it/,
      () => expect(readdirSync(probe())).toEqual([]),
    ],
  ];
  for (const [what, change, overlay, message, check] of failures) {
    it(`${what}: a clear error, the previous build stays mounted, the server keeps running`, async () => {
      const before = await server();
      const readyBefore = (await demo.status.read('Overlay', overlay))!.build!.ready;
      await demo.write('stack.yaml', change());
      const st = await failedBuild(overlay, readyBefore);
      expect(st.lastError?.message).toMatch(message);
      expect(st.build!.ready).toBe(readyBefore);
      // Not ready, with a Warning event; the message says which build instances keep.
      expect(condition(st, 'Ready')).toBe('False');
      expect(st.conditions.find((c) => c.type === 'Ready')!.reason).toBe('BuildFailed');
      expect(st.conditions.find((c) => c.type === 'OverlaysReady')!.message).toContain(`instances keep build ${readyBefore}`);
      expect(st.events.some((e) => e.type === 'Warning' && e.reason === 'BuildFailed')).toBe(true);
      {
        const { main } = await import('../controller/cli/main.js');
        let listed = '';
        expect(await main(['get', 'overlays', '--state', demo.stateDir, '--data-dir', demo.host.dirs.varLib], { out: (t) => void (listed += t), err: () => undefined })).toBe(0);
        expect(listed).toMatch(new RegExp(`^${overlay}\\s+False \\(BuildFailed\\)\\s+\\S+\\s+${readyBefore} \\(serving; newest build failed\\)`, 'm'));
      }
      expect(readFileSync(join(demo.host.dirs.varLib, st.build!.log), 'utf8')).toMatch(message);
      check?.();
      // `left4me logs overlay NAME` shows the same log.
      const { main } = await import('../controller/cli/main.js');
      let out = '';
      expect(await main(['logs', 'overlay', overlay, '--data-dir', demo.host.dirs.varLib, '--tail', '5'], { out: (t) => void (out += t), err: () => undefined })).toBe(0);
      expect(out).toMatch(/FAILED/);
      expect(out.trimEnd().split('\n').length).toBeLessThanOrEqual(5);
      // A full pass after the failure has had its chance to act: the server goes on.
      await ctl.controller.reconcileAll();
      const after = await server();
      expect(after.pid).toBe(before.pid);
      expect(await rcon(after.port, after.password, 'demo_addons')).toContain('pack.vpk');
      const mountinfo = readFileSync(`/proc/${demo.host.pid}/mountinfo`, 'utf8');
      expect(mountinfo).toContain(`/overlays/${overlay}/${readyBefore}`);
      // Put the good documents back for the next case.
      await demo.write('stack.yaml', docs({ archiveUrl: http.url('/pack-1.0.tar.gz'), archiveSha: sha(PACK), workshopItems: [ITEM, SHARED] }));
      await waitFor(`${overlay} ready again`, async () => (await demo.status.read('Overlay', overlay))?.build?.result === 'Succeeded');
    });
  }

  it('collects the builds of a deleted overlay on the next full pass, never a mounted one', async () => {
    const { existsSync } = await import('node:fs');
    const twin = (await demo.status.read('Overlay', 'twin'))!.build!.ready!;
    const pack = (await demo.status.read('Overlay', 'pack'))!.build!.ready!;
    const good = docs({ archiveUrl: http.url('/pack-1.0.tar.gz'), archiveSha: sha(PACK), workshopItems: [ITEM, SHARED] });
    // Remove the twin overlay's document (it is stacked by no blueprint).
    await demo.write('stack.yaml', good.replace(/---\napiVersion: left4me\/v1\nkind: Overlay\nmetadata: \{name: twin\}[\s\S]*?(?=---)/, ''));
    ctl.controller.resyncNow();
    await waitFor('twin build collected', async () => !existsSync(join(demo.host.dirs.varLib, 'overlays/twin', twin)), 10_000);
    expect(existsSync(join(demo.host.dirs.varLib, 'overlays/pack', pack))).toBe(true);
  });
});
