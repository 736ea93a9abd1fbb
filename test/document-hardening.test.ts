// Documents that reach for what they must not, against a real controller in a
// private systemd: a directory installation pointed at another server's
// config (RCON password included). It is reported with file:line, and the
// server already running is left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_INSTALLATION_PATH } from '../controller/demo-server/installation.js';
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

});
