// Documents from a git source, read by a real controller in a private
// systemd beside the local state directory. The source's layout is made by
// hand as the sync leaves it (a checkout per commit, a `current` link, a
// status file: sources/types.ts); fetching is the sync's test. An instance
// served from git starts; the same name written locally is a conflict, and
// the running server is left alone until it is resolved; a source that cannot
// be read deletes nothing; a commit without the instance removes it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostLayout } from '../controller/host/layout.js';
import { sourcePaths } from '../controller/sources/types.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, startController, waitFor, type DemoHost } from './support/demo-host.js';
import { writeSource } from './support/source-layout.js';

const PORTS = { game: { min: 28980, max: 28989 }, client: { min: 29980, max: 29989 } };
let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;
const status = (name: string) => demo.status.read('Instance', name);
/** The host's /var/lib/left4me as this process writes it. */
const layout = () => hostLayout(demo.host.dirs.varLib);

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  writeSource(layout(), 'fleet', { files: { 'servers/gitty.yaml': instanceDoc('gitty', ['cvars: {hostname: from git}']) }, path: 'servers' });
  ctl = await startController(demo, { portRanges: PORTS });
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await demo?.stop();
});

describe('a git source beside the local state directory, on a real host', { timeout: 180_000 }, () => {
  it('an instance served from git runs; a local copy of its name is a conflict that leaves the server alone until resolved', async () => {
    await waitFor('gitty Ready', async () => condition(await status('gitty'), 'Ready') === 'True', 60_000);
    const before = await demo.server('gitty');
    expect(before.activeState).toBe('active');

    await demo.write('instances/gitty.yaml', instanceDoc('gitty', ['cvars: {hostname: local}']));
    const invalid = await waitFor('gitty invalid', async () => (await status('gitty'))?.conditions.find((c) => c.type === 'Valid' && c.status === 'False'));
    expect(invalid.message).toContain('the same name from two sources is a conflict');
    await ctl.controller.idle();
    expect((await demo.server('gitty')).mainPid).toBe(before.mainPid);

    rmSync(join(demo.stateDir, 'instances', 'gitty.yaml'));
    await waitFor('gitty valid again', async () => condition(await status('gitty'), 'Valid') !== 'False' && condition(await status('gitty'), 'Ready') === 'True', 60_000).catch(async (err: unknown) => {
      console.log(`gitty's status: ${JSON.stringify(await status('gitty'), null, 1)}\ncontroller log:\n${ctl.logTail()}`);
      throw err;
    });
    expect((await demo.server('gitty')).mainPid).toBe(before.mainPid);
  });

  it('a source that cannot be read deletes nothing; a commit without the instance removes it', async () => {
    const paths = sourcePaths(layout(), 'fleet');
    const statusText = readFileSync(paths.status, 'utf8');
    const pid = (await demo.server('gitty')).mainPid;
    rmSync(paths.status);
    await ctl.controller.reconcileAll();
    expect((await demo.server('gitty')).activeState).toBe('active');
    expect((await demo.server('gitty')).mainPid).toBe(pid);

    writeFileSync(paths.status, statusText);
    writeSource(layout(), 'fleet', { files: { 'servers/README.md': 'no servers' }, path: 'servers' });
    await ctl.controller.reconcileAll();
    await waitFor('gitty stopped', async () => (await demo.server('gitty')).activeState === 'inactive', 60_000);
  });
});
