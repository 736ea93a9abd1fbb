// Documents that reach for what they must not, against a real controller in a
// private systemd: a directory installation pointed at another server's
// config (RCON password included), and a blueprint too tall to mount. Each
// is reported with file:line, and the server already running is left alone.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_INSTALLATION_PATH } from '../controller/demo/game-server/installation.js';
import { mountUnitName } from '../controller/systemd/units.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, startController, waitFor, type DemoHost } from './support/demo-host.js';

const PORTS = { game: { min: 28600, max: 28699 }, client: { min: 29600, max: 29699 } };
let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;
const status = (name: string) => demo.status.read('Instance', name);

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  for (const n of ['h1', 'h2']) await demo.write(`instances/${n}.yaml`, instanceDoc(n));
  ctl = await startController(demo, { portRanges: PORTS });
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await demo?.stop();
});

describe('documents that reach past their own server', () => {
  it('an installation pointed at another instance\'s config is refused with file:line, and the server on it keeps running', async () => {
    for (const n of ['h1', 'h2']) await waitFor(`${n} Ready`, async () => condition(await status(n), 'Ready') === 'True');
    const before = await demo.server('h1');
    expect(before.activeState).toBe('active');

    await demo.write('base.yaml', BASE_DOCS.replace(`path: ${DEMO_INSTALLATION_PATH}`, 'path: /var/lib/left4me/instances/h2/config'));
    const stalled = await waitFor('h1 Stalled on the invalid installation', async () => (await status('h1'))?.conditions.find((c) => c.type === 'Stalled' && c.status === 'True'));
    expect(stalled.reason).toBe('DependencyInvalid');
    expect(stalled.message).toContain(`installation demo is invalid (${demo.stateDir}/base.yaml:1)`);
    // Nothing was remounted or restarted: same process, same unit state.
    const after = await demo.server('h1');
    expect(after.activeState).toBe('active');
    expect(after.mainPid).toBe(before.mainPid);
    const mount = await demo.host.exec('findmnt', ['-n', '-o', 'OPTIONS', '/var/lib/left4me/runtime/h1']);
    expect(mount.stdout).toContain(`:${DEMO_INSTALLATION_PATH},`);
    expect(mount.stdout).not.toContain('/instances/h2/config');

    await demo.write('base.yaml', BASE_DOCS);
    await waitFor('h1 no longer stalled', async () => condition(await status('h1'), 'Stalled') === undefined && condition(await status('h1'), 'Ready') === 'True');
    expect((await demo.server('h1')).mainPid).toBe(before.mainPid);
  });

  it('a blueprint whose stack cannot be mounted is Valid=False with its file:line and stays so, instead of being retried without status', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `tall-${String(i).padStart(2, '0')}-${'x'.repeat(54)}`);
    await demo.write(
      'tall.yaml',
      [
        ...names.map((n) => `apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: ${n}}\nspec:\n  sources: [{files: [{path: a.cfg, content: x}]}]\n`),
        `apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: tall}\nspec:\n  overlays: [${names.join(', ')}]\n`,
      ].join('---\n'),
    );
    await demo.write('instances/h3.yaml', instanceDoc('h3').replace('blueprint: coop', 'blueprint: tall'));
    const invalid = await waitFor('h3 Valid=False', async () => (await status('h3'))?.conditions.find((c) => c.type === 'Valid' && c.status === 'False'));
    const line = 1 + names.length * 6;
    expect(invalid.reason).toBe('Invalid');
    expect(invalid.message).toMatch(new RegExp(`^blueprint tall \\(${demo.stateDir}/tall\\.yaml:${line}\\) cannot run as instance h3 on this host: .*the overlay mount options are \\d+ bytes, more than the kernel's 4095`));
    const s = (await status('h3'))!;
    expect(condition(s, 'Stalled')).toBe('True');
    expect(s.lastError).toMatchObject({ file: `${demo.stateDir}/tall.yaml`, line });
    // Nothing was written or started for h3, and the others run on.
    await ctl.controller.idle();
    expect(existsSync(join(demo.host.dirs.units, mountUnitName('/var/lib/left4me/runtime/h3')))).toBe(false);
    expect((await demo.server('h3')).activeState).toBe('inactive');
    expect((await demo.server('h1')).activeState).toBe('active');
  });
});
