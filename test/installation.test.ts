// Steam installations through the controller, with the stand-in steamcmd
// (see support/steamcmd-stand-in.ts): the game is "downloaded" into an
// immutable build, an instance runs on it, a spec change makes a new build the
// instance moves to, and a failed install leaves the old build in use.
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDemoInstallation } from '../controller/demo/game-server/installation.js';
import { bootDemoHost, condition, queryServer, startController, waitFor, type DemoHost } from './support/demo-host.js';
import { ACCOUNTS, STAND_IN } from './support/steamcmd-stand-in.js';

const PORTS = { game: { min: 28300, max: 28399 }, client: { min: 29300, max: 29399 } };
let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;

const docs = (steam: string) => `apiVersion: left4me/v1
kind: Installation
metadata: {name: l4d2}
spec:
  source: steam
  steam: {${steam}}
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: cfg}
spec:
  sources:
    - files:
        - {path: left4dead2/addons/cfg.vpk, content: "vpk"}
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: coop}
spec: {overlays: [cfg]}
---
apiVersion: left4me/v1
kind: Instance
metadata: {name: steam-1}
spec:
  blueprint: coop
  updatePolicy: immediate
  cvars: {hostname: "From Steam"}
`;

beforeAll(async () => {
  demo = await bootDemoHost();
  const steamHome = join(demo.host.dirs.varLib, 'steam');
  await mkdir(join(steamHome, 'steamcmd'), { recursive: true });
  await writeFile(join(steamHome, 'steamcmd', 'steamcmd.sh'), STAND_IN, { mode: 0o755 });
  // What "Steam" delivers: the demo game server tree.
  await writeDemoInstallation(join(steamHome, 'payload'));
  await mkdir(join(demo.host.dirs.etc, 'secrets'), { recursive: true, mode: 0o700 });
  await writeFile(join(demo.host.dirs.etc, 'secrets', 'steam.json'), JSON.stringify(ACCOUNTS), { mode: 0o600 });
  await chmod(join(demo.host.dirs.etc, 'secrets', 'steam.json'), 0o600);
  await demo.write('all.yaml', docs('login: default'));
  ctl = await startController(demo, { portRanges: PORTS });
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await demo?.stop();
});

const pid = async () => (await demo.server('steam-1')).mainPid;

describe('Steam installations', () => {
  it('installs with steamcmd into a build and runs an instance on it', async () => {
    const st = await waitFor('installed', async () => {
      const s = await demo.status.read('Installation', 'l4d2');
      return condition(s, 'Ready') === 'True' ? s : undefined;
    }, 60_000);
    expect(st.build?.ready).toBe(st.build?.wanted);
    expect(st.progress).toBeUndefined();
    // The run's log names the Steam account: root only, down to its directory.
    const logs = join(demo.host.dirs.varLib, 'logs', 'installations');
    const log = join(logs, 'l4d2', `${st.build!.wanted}.log`);
    expect(await readFile(log, 'utf8')).toContain("Logging in user 'l4dhost'");
    for (const [path, mode] of [[logs, 0o700], [join(logs, 'l4d2'), 0o700], [log, 0o600]] as const) {
      const s = await stat(path);
      expect([s.uid, s.mode & 0o777], path).toEqual([0, mode]);
    }
    expect(JSON.stringify(st)).not.toContain('l4dhost');
    await waitFor('steam-1 Ready', async () => condition(await demo.status.read('Instance', 'steam-1'), 'Ready') === 'True', 30_000);
    const port = (await demo.status.read('Instance', 'steam-1'))!.port!;
    expect((await queryServer(port)).name).toBe('From Steam');
    const mountinfo = await import('node:fs/promises').then((f) => f.readFile(`/proc/${demo.host.pid}/mountinfo`, 'utf8'));
    expect(mountinfo).toContain(`/var/lib/left4me/installation/l4d2/${st.build!.ready}`);
  });

  it('a failed install (a wrong password) keeps the ready build and the server', async () => {
    const before = await pid();
    const ready = (await demo.status.read('Installation', 'l4d2'))!.build!.ready;
    await demo.write('all.yaml', docs('login: wrong'));
    const st = await waitFor('install failed', async () => {
      const s = await demo.status.read('Installation', 'l4d2');
      return s?.build?.result === 'Failed' ? s : undefined;
    }, 60_000);
    expect(st.lastError?.message).toMatch(/password/i);
    expect(st.build?.ready).toBe(ready);
    expect(st.conditions.find((c) => c.type === 'Installed')?.message).toContain(`instances keep build ${ready}`);
    expect(st.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'BuildFailed' });
    expect(st.events.filter((e) => e.type === 'Warning' && e.reason === 'BuildFailed')).toHaveLength(1);
    const { main } = await import('../controller/cli/main.js');
    let out = '';
    expect(await main(['logs', 'installation', 'l4d2', '--data-dir', demo.host.dirs.varLib], { out: (t) => void (out += t), err: () => undefined })).toBe(0);
    expect(out).toMatch(/Invalid Password/);
    // A full pass after the failure has had its chance to act: the server goes on.
    await ctl.controller.reconcileAll();
    expect(await pid()).toBe(before);
  });

  it('a new build is picked up by the instance per its update policy, and the old one is collected', async () => {
    const before = await pid();
    const old = (await demo.status.read('Installation', 'l4d2'))!.build!.ready!;
    await demo.write('all.yaml', docs('login: default, validate: false'));
    const st = await waitFor('new build', async () => {
      const s = await demo.status.read('Installation', 'l4d2');
      return s?.build?.result === 'Succeeded' && s.build.ready !== old ? s : undefined;
    }, 60_000);
    await waitFor('instance restarted on the new build', async () => {
      const p = await pid();
      return p !== before && p !== 0 && condition(await demo.status.read('Instance', 'steam-1'), 'Ready') === 'True';
    }, 30_000);
    const mountinfo = await import('node:fs/promises').then((f) => f.readFile(`/proc/${demo.host.pid}/mountinfo`, 'utf8'));
    expect(mountinfo).toContain(`/var/lib/left4me/installation/l4d2/${st.build!.ready}`);
    // The old build is unused now; the next full pass removes it.
    ctl.controller.resyncNow();
    await waitFor('old build collected', async () => {
      const { existsSync } = await import('node:fs');
      return !existsSync(join(demo.host.dirs.varLib, 'installation', 'l4d2', old));
    }, 10_000);
  });
});
