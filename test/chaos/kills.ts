// The rest of the reliability suite's first scenario: kill -9 of the
// controller at random moments while overlays build (a slow download and an
// extract in its sandbox, a workshop item, a sandboxed script) and while a
// Steam installation updates (the stand-in steamcmd, slowed down). Each
// scenario is sized by its caller (test/chaos-kills.test.ts short,
// test/chaos/kills.chaos.ts long) and ends with checkHost, which checks the
// builds too; what only this scenario knows (which version each build must
// hold, which builds a manual server keeps) is checked here.
import { setTimeout as sleep } from 'node:timers/promises';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeDemoInstallation } from '../../controller/demo/game-server/installation.js';
import { tarHeader, zerosTarGz } from '../support/archive-fixtures.js';
import { checkHost, chaosSetup, controllerProcess, serverFacts, setChaosSetup, settle } from '../support/chaos.js';
import { BASE_DOCS, bootDemoHost, type DemoHost } from '../support/demo-host.js';
import { startFixtureServer, type BodyRoute } from '../support/http-fixture.js';
import { startSteamFixture } from '../support/steam-fixture.js';
import { ACCOUNTS, STAND_IN } from '../support/steamcmd-stand-in.js';
import type { ScenarioReport } from './scenarios.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The ports of this file's hosts (the port table in demo-host.ts): apart from chaos-short's, which runs beside it. */
export const KILLS_PORTS = { game: { min: 30000, max: 30019 }, client: { min: 31000, max: 31019 } };

/** A demo host on these scenarios' ports; the build fixtures serve on loopback, allowed as an operator would. */
export async function bootKillsHost(): Promise<DemoHost> {
  const d = await bootDemoHost();
  setChaosSetup(d, { ...KILLS_PORTS, args: ['--allow-download-network', '127.0.0.1/32'] });
  return d;
}

/** Bystanders: servers on the demo installation and overlays nothing edits; none of them may ever restart. */
async function bystanders(demo: DemoHost, count: number, blueprint: string): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `bystander-${i}`);
  for (const n of names) await demo.write(`instances/${n}.yaml`, policyDoc(n, blueprint, 'immediate'));
  return names;
}

/** BASE_DOCS with its blueprint naming the demo installation (a second Installation makes the name necessary). */
const BASE_ON_DEMO = BASE_DOCS.replace('  overlays: [maps, rates]\n', '  installation: demo\n  overlays: [maps, rates]\n');

/** The lower dirs a mount unit file names (topmost first). */
async function unitLowerDirs(demo: DemoHost, instance: string): Promise<string[]> {
  const file = join(demo.host.root, chaosSetup(demo).unitDir, `var-lib-left4me-runtime-${instance.replace(/-/g, '\\x2d')}.mount`);
  const options = /^Options=(.*)$/m.exec(await readFile(file, 'utf8'))?.[1] ?? '';
  return options.split(',').find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? [];
}

/** Unfinished builds a killed controller left (dot names beside the builds): how a kill is known to have hit a build. */
async function unfinishedBuilds(dir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    for (const e of await readdir(join(dir, name)).catch(() => [] as string[])) if (/^\.tmp-[0-9a-f]{12}$/.test(e)) n++;
  }
  return n;
}

/** A tar.gz whose first member is a small cfg file naming the version, then `zeroMib` MiB of zeros to extract. */
function packArchive(version: number, zeroMib: number): Buffer {
  const text = Buffer.from(`// pack v${version}\n`);
  const body = Buffer.alloc(Math.ceil(text.length / 512) * 512);
  text.copy(body);
  const first = gzipSync(Buffer.concat([tarHeader('cfg/pack.cfg', '0', { size: text.length }), body]));
  return Buffer.concat([first, zerosTarGz([{ name: 'addons/pack-zeros.bin', mib: zeroMib }])]);
}

/** The workshop item of an overlay version (one new item per version: a new download each time). */
const itemOf = (version: number) => String(2_100_000_000 + version);

function movingDocs(o: { packUrl: string; packSha: string; pack: number; gen: number; ws: number }): string {
  return `apiVersion: left4me/v1
kind: Overlay
metadata: {name: pack}
spec:
  sources:
    - archive: {url: "${o.packUrl}", sha256: "${o.packSha}", target: left4dead2}
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: ws}
spec:
  sources:
    - workshop: {items: [${itemOf(o.ws)}]}
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: gen}
spec:
  sources:
    - script:
        run: |
          sleep 0.5
          mkdir -p /overlay/left4dead2/cfg
          echo "// gen v${o.gen}" > /overlay/left4dead2/cfg/gen.cfg
---
apiVersion: left4me/v1
kind: Overlay
metadata: {name: steady}
spec:
  sources:
    - files:
        - {path: left4dead2/addons/steady.vpk, content: "vpk"}
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: moving}
spec:
  overlays: [pack, ws, gen]
---
apiVersion: left4me/v1
kind: Blueprint
metadata: {name: still}
spec:
  overlays: [steady]
`;
}

/** An instance on a blueprint with an update policy. */
function policyDoc(name: string, blueprint: string, policy: 'immediate' | 'whenEmpty' | 'manual'): string {
  return [`apiVersion: left4me/v1`, `kind: Instance`, `metadata: {name: ${name}}`, `spec:`, `  blueprint: ${blueprint}`, `  updatePolicy: ${policy}`, `  cvars: {hostname: "${name}"}`].join('\n') + '\n';
}

/**
 * kill -9 of the controller at random moments while overlays build. Three
 * overlays (an archive downloaded slowly from a local HTTP server and
 * extracted in its sandbox, a workshop item from the Steam stand-in, a
 * sandboxed script) are stacked by `moving` servers (immediate) and one
 * `held` server (manual); `still` servers use an overlay nothing edits. Before
 * most controller lives, and during some, one of the three gets a new version
 * (a new build). Then one controller settles everything, and beyond
 * checkHost: each build holds its overlay's last version, every moving server
 * serves it, the held server still stacks the builds it started on (kept by
 * the collection rule: never a mounted build), and no still or held server
 * ever restarted.
 */
export async function overlayBuildKills(demo: DemoHost, opts: { kills: number; moving: number; bystanders: number; zeroMib: number; maxLifeMs?: number; seed: number; random: () => number }): Promise<ScenarioReport> {
  const { random } = opts;
  const routes = new Map<string, BodyRoute>();
  const http = await startFixtureServer(routes);
  const steam = await startSteamFixture();
  // Slow enough that a kill often finds a build half done; quick enough for a few hundred builds.
  steam.setDownloadDelay(300);
  try {
    // The stand-ins serve on loopback, which production refuses: allowed explicitly, as an operator would.
    await writeFile(join(demo.host.dirs.etc, 'controller.yaml'), `steamApiBase: "${steam.base}"\n`);
    const version = { pack: 1, ws: 1, gen: 1 };
    const publishPack = (v: number) => {
      const body = packArchive(v, opts.zeroMib);
      // About a second to download: a kill often lands in it.
      routes.set(`/pack-v${v}.tar.gz`, { body, chunkSize: Math.ceil(body.length / 16), delayMs: 60 });
      return { packUrl: http.url(`/pack-v${v}.tar.gz`), packSha: sha(body) };
    };
    const publishItem = (v: number) => steam.setItem({ id: itemOf(v), title: `Map v${v}`, timeUpdated: 1_700_000_000 + v });
    let pack = publishPack(1);
    publishItem(1);
    const docs = () => movingDocs({ ...pack, pack: version.pack, gen: version.gen, ws: version.ws });
    await demo.write('base.yaml', BASE_DOCS);
    await demo.write('moving.yaml', docs());
    const still = await bystanders(demo, opts.bystanders, 'still');
    const moving = Array.from({ length: opts.moving }, (_, i) => `moving-${i}`);
    for (const n of moving) await demo.write(`instances/${n}.yaml`, policyDoc(n, 'moving', 'immediate'));
    await demo.write('instances/held.yaml', policyDoc('held', 'moving', 'manual'));
    await settle(demo, 180_000);
    const untouched = await serverFacts(demo, [...still, 'held']);
    const heldLowers = await unitLowerDirs(demo, 'held');

    const edits = { pack: 0, ws: 0, gen: 0 };
    const edit = async () => {
      const which = (['pack', 'ws', 'gen'] as const)[Math.floor(random() * 3)]!;
      edits[which]++;
      version[which]++;
      if (which === 'pack') pack = publishPack(version.pack);
      if (which === 'ws') publishItem(version.ws);
      await demo.write('moving.yaml', docs());
    };
    let hits = 0;
    const overlaysDir = join(demo.host.dirs.varLib, 'overlays');
    for (let k = 0; k < opts.kills; k++) {
      if (random() < 0.6) await edit();
      const c = controllerProcess(demo);
      // From start-up to well into a build (a pack build takes a couple of seconds on 2 cores).
      const life = 300 + random() * ((opts.maxLifeMs ?? 3000) - 300);
      const editAt = random() < 0.3 ? random() * life : undefined;
      if (editAt !== undefined) {
        await sleep(editAt);
        await edit();
        await sleep(life - editAt);
      } else await sleep(life);
      if (c.child.exitCode !== null) throw new Error(`the controller exited by itself (${c.child.exitCode}) before kill ${k + 1}: ${c.stderr()}`);
      c.child.kill('SIGKILL');
      await c.exited;
      if ((await unfinishedBuilds(overlaysDir)) > 0) hits++;
    }
    await settle(demo, 300_000);
    const check = await checkHost(demo, { untouched });

    // What only this scenario knows: each overlay's ready build holds its last version, and the servers see it.
    const problems: string[] = [];
    const ready = async (o: string) => (await demo.status.read('Overlay', o))!.build!.ready!;
    const builds = { pack: await ready('pack'), ws: await ready('ws'), gen: await ready('gen') };
    const inBuild = (o: keyof typeof builds, rel: string) => readFile(join(overlaysDir, o, builds[o], rel), 'utf8').catch(() => '(missing)');
    if (!(await inBuild('pack', 'left4dead2/cfg/pack.cfg')).includes(`pack v${version.pack}\n`)) problems.push(`pack's build ${builds.pack} does not hold v${version.pack}`);
    if (!(await inBuild('gen', 'left4dead2/cfg/gen.cfg')).includes(`gen v${version.gen}\n`)) {
      const log = await readFile(join(demo.host.dirs.varLib, 'logs/overlays/gen', `${builds.gen}.log`), 'utf8').catch(() => '(no log)');
      const tree = (await demo.host.exec('find', [join('/var/lib/left4me/overlays/gen', builds.gen), '-ls'])).stdout;
      const journal = (await demo.host.exec('journalctl', ['--no-pager', '-o', 'short-precise'])).stdout.split('\n').filter((l) => /left4me-build-gen|[Rr]eload|systemd\[1\]: .*build/.test(l)).slice(0, 60).join('\n');
      problems.push(`gen's build ${builds.gen} does not hold v${version.gen} (${await inBuild('gen', 'left4dead2/cfg/gen.cfg')}); its tree:\n${tree}its log:\n${log}\njournal:\n${journal}`);
    }
    if ((await inBuild('ws', `left4dead2/addons/${itemOf(version.ws)}.vpk`)) === '(missing)') problems.push(`ws's build ${builds.ws} does not hold item ${itemOf(version.ws)}`);
    for (const n of moving) {
      const merged = join(demo.host.root, '/var/lib/left4me/runtime', n, 'left4dead2/cfg');
      const pack = await readFile(join(merged, 'pack.cfg'), 'utf8').catch(() => '(missing)');
      const gen = await readFile(join(merged, 'gen.cfg'), 'utf8').catch(() => '(missing)');
      if (!pack.includes(`pack v${version.pack}\n`) || !gen.includes(`gen v${version.gen}\n`)) problems.push(`${n} serves ${pack.trim()} / ${gen.trim()}, not pack v${version.pack} / gen v${version.gen}`);
      const lowers = await unitLowerDirs(demo, n);
      for (const o of ['pack', 'ws', 'gen'] as const) if (!lowers.includes(`/var/lib/left4me/overlays/${o}/${builds[o]}`)) problems.push(`${n} does not stack ${o}'s ready build ${builds[o]}: ${lowers.join(':')}`);
    }
    // The manual server waits for a person: it keeps the builds it started on, and they were not collected.
    const heldNow = await unitLowerDirs(demo, 'held');
    if (JSON.stringify(heldNow) !== JSON.stringify(heldLowers)) problems.push(`held (manual) moved from ${heldLowers.join(':')} to ${heldNow.join(':')}`);
    const held = await demo.status.read('Instance', 'held');
    const changed = edits.pack + edits.ws + edits.gen > 0;
    if (changed && held?.conditions.find((x) => x.type === 'RestartPending')?.reason !== 'WaitingForManualRestart') problems.push('held (manual) does not report its pending restart');
    if (problems.length > 0) throw new Error(`after the overlay-build kills:\n  ${problems.join('\n  ')}`);
    return {
      ...check,
      seed: opts.seed,
      detail: `${opts.kills} kills (${hits} with a build unfinished) over ${opts.moving} immediate + 1 manual servers on 3 rebuilt overlays, ${opts.bystanders} bystanders; new versions ${JSON.stringify(edits)}`,
    };
  } finally {
    await http.close();
    await steam.close();
  }
}

/** The stand-in steamcmd, slowed down (a kill lands in its run), writing the branch it installed into the tree. */
const SLOW_STAND_IN = STAND_IN.replace('validate) validate=yes ;;', 'validate) validate=yes ;; -beta) branch=$2 ;;')
  .replace('echo " Update state (0x61) downloading, progress: 42.13', 'sleep 0.4\necho " Update state (0x61) downloading, progress: 42.13')
  .replace('echo " Update state (0x61) downloading, progress: 100.00', 'sleep 0.4\necho " Update state (0x61) downloading, progress: 100.00')
  .replace('echo "Success! App', 'echo "${branch:-public}" > "$dir/left4dead2/branch.txt"\necho "Success! App');

function steamDocs(branch: string): string {
  return `apiVersion: left4me/v1
kind: Installation
metadata: {name: l4d2}
spec:
  source: steam
  steam: {login: default, branch: ${branch}}
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
metadata: {name: steam}
spec: {installation: l4d2, overlays: [cfg]}
`;
}

/**
 * kill -9 of the controller at random moments while a Steam installation
 * updates: each round gives it a new branch (a new build: a copy of the
 * ready one, then steamcmd in its sandbox, about two seconds), and the
 * controller lives and dies a few times during it. Servers on it: immediate,
 * whenEmpty (the demo server has no players, so at once) and manual (stays on
 * the build it started on). Bystanders on the directory installation never
 * restart. Then one controller settles, checkHost, and: the installation's
 * ready build is the last branch's and holds it, immediate and whenEmpty
 * servers stack it, the manual one still stacks its first build.
 */
export async function installationUpdateKills(demo: DemoHost, opts: { kills: number; rounds: number; bystanders: number; maxLifeMs?: number; seed: number; random: () => number }): Promise<ScenarioReport> {
  const { random } = opts;
  const steamHome = join(demo.host.dirs.varLib, 'steam');
  await mkdir(join(steamHome, 'steamcmd'), { recursive: true });
  await writeFile(join(steamHome, 'steamcmd', 'steamcmd.sh'), SLOW_STAND_IN, { mode: 0o755 });
  await writeDemoInstallation(join(steamHome, 'payload'));
  await mkdir(join(demo.host.dirs.etc, 'secrets'), { recursive: true, mode: 0o700 });
  await writeFile(join(demo.host.dirs.etc, 'secrets', 'steam.json'), JSON.stringify(ACCOUNTS), { mode: 0o600 });
  await chmod(join(demo.host.dirs.etc, 'secrets', 'steam.json'), 0o600);
  if (!BASE_ON_DEMO.includes('installation: demo')) throw new Error('BASE_DOCS changed shape: its blueprint no longer lists overlays [maps, rates]');
  await demo.write('base.yaml', BASE_ON_DEMO);
  let round = 0;
  await demo.write('steam.yaml', steamDocs(`r${round}`));
  const still = await bystanders(demo, opts.bystanders, 'coop');
  const policies = { 'on-immediate': 'immediate', 'on-empty': 'whenEmpty', 'on-manual': 'manual' } as const;
  for (const [n, p] of Object.entries(policies)) await demo.write(`instances/${n}.yaml`, policyDoc(n, 'steam', p));
  await settle(demo, 180_000);
  const untouched = await serverFacts(demo, [...still, 'on-manual']);
  const manualLowers = await unitLowerDirs(demo, 'on-manual');

  const installDir = join(demo.host.dirs.varLib, 'installation');
  // The kills spread over the rounds; each round starts with a new branch.
  const perRound = Math.ceil(opts.kills / opts.rounds);
  let hits = 0;
  for (let k = 0; k < opts.kills; k++) {
    if (k % perRound === 0) {
      round++;
      await demo.write('steam.yaml', steamDocs(`r${round}`));
    }
    const c = controllerProcess(demo);
    // From start-up to the end of a typical update (copy, two steamcmd passes).
    const life = 300 + random() * ((opts.maxLifeMs ?? 3500) - 300);
    await sleep(life);
    if (c.child.exitCode !== null) throw new Error(`the controller exited by itself (${c.child.exitCode}) before kill ${k + 1}: ${c.stderr()}`);
    c.child.kill('SIGKILL');
    await c.exited;
    if ((await unfinishedBuilds(installDir)) > 0) hits++;
  }
  await settle(demo, 300_000);
  const check = await checkHost(demo, { untouched }).catch(async (err: Error) => {
    // What the two servers that restart onto a new build say of themselves, for a failure that does not replay by reading.
    const said: string[] = [];
    for (const n of ['on-immediate', 'on-empty']) {
      said.push(JSON.stringify(await demo.status.read('Instance', n)));
      said.push((await demo.host.exec('systemctl', ['status', '--no-pager', '-n', '30', `left4me-server@${n}.service`])).stdout);
      said.push((await demo.host.exec('journalctl', ['--no-pager', '-n', '40', '-u', `left4me-server@${n}.service`, '-u', `var-lib-left4me-runtime-${n.replace(/-/g, '\\x2d')}.mount`])).stdout);
    }
    throw new Error(`${err.message}\n--- the servers that restart onto new builds:\n${said.join('\n')}`);
  });

  const problems: string[] = [];
  const st = await demo.status.read('Installation', 'l4d2');
  const ready = st?.build?.ready ?? '(none)';
  const branch = await readFile(join(installDir, 'l4d2', ready, 'left4dead2/branch.txt'), 'utf8').catch(() => '(missing)');
  if (branch.trim() !== `r${round}`) problems.push(`the ready build ${ready} holds branch ${branch.trim()}, not r${round}`);
  for (const n of ['on-immediate', 'on-empty']) {
    const lowers = await unitLowerDirs(demo, n);
    if (lowers.at(-1) !== `/var/lib/left4me/installation/l4d2/${ready}`) problems.push(`${n} stacks ${lowers.at(-1)}, not the new build ${ready}`);
    const served = await readFile(join(demo.host.root, '/var/lib/left4me/runtime', n, 'left4dead2/branch.txt'), 'utf8').catch(() => '(missing)');
    if (served.trim() !== `r${round}`) problems.push(`${n} serves branch ${served.trim()}, not r${round}`);
  }
  const manualNow = await unitLowerDirs(demo, 'on-manual');
  if (JSON.stringify(manualNow) !== JSON.stringify(manualLowers)) problems.push(`on-manual moved from ${manualLowers.join(':')} to ${manualNow.join(':')}`);
  if ((await demo.status.read('Instance', 'on-manual'))?.conditions.find((x) => x.type === 'RestartPending')?.reason !== 'WaitingForManualRestart') problems.push('on-manual does not report its pending restart');
  if (problems.length > 0) throw new Error(`after the installation-update kills:\n  ${problems.join('\n  ')}`);
  return {
    ...check,
    seed: opts.seed,
    detail: `${opts.kills} kills (${hits} with an update unfinished) over ${round} installation updates; servers immediate, whenEmpty, manual + ${opts.bystanders} bystanders`,
  };
}
