// The reliability suite's short, seeded variants (the long runs are `npm run
// chaos`): each scenario at a small size, ending with the same host check.
// LEFT4ME_CHAOS_SEED replays a printed seed.
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chaosSeed, checkHost, controllerOnce, serverFacts, settle } from './support/chaos.js';
import { bootDemoHost, unitFacts, type DemoHost } from './support/demo-host.js';
import { controllerKills, corruptFiles, serverFaults } from './chaos/scenarios.js';

let demo: DemoHost | undefined;
afterEach(async () => {
  await demo?.stop();
  demo = undefined;
});

describe('chaos (short)', () => {
  it('5 kill -9s of the controller over a 5-instance converge with edits leave exactly the desired host', async () => {
    demo = await bootDemoHost();
    const report = await controllerKills(demo, { instances: 5, kills: 5, bystanders: 1, ...chaosSeed('controller-kills (short)') });
    console.log(`chaos controller-kills (short): ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
    expect(report.running + report.stopped).toBeGreaterThan(0);

    // The check can fail: a bystander restarted behind its back and a temp file left in the status dir are both named.
    const untouched = await serverFacts(demo, ['bystander-0']);
    await demo.host.exec('systemctl', ['restart', 'left4me-server@bystander-0.service']);
    await writeFile(join(demo.host.dirs.varLib, 'status', '.0123456789ab.tmp'), '{');
    const failed = await checkHost(demo, { untouched }).then(() => undefined, (err: Error) => err.message);
    expect(failed).toContain('untouched server bystander-0 restarted');
    expect(failed).toContain(`temporaries left: ${join(demo.host.dirs.varLib, 'status', '.0123456789ab.tmp')}`);

    // settle() trusts no status it did not see a pass write: a restart cut between stop and start (the server
    // and its mount stopped, every status still Ready from the pass before) is finished by the daemon it runs.
    await demo.host.exec('systemctl', ['stop', 'left4me-server@bystander-0.service', 'var-lib-left4me-runtime-bystander\\x2d0.mount']);
    expect((await unitFacts(demo.host, 'left4me-server@bystander-0.service')).ActiveState).toBe('inactive');
    await settle(demo);
    expect((await unitFacts(demo.host, 'left4me-server@bystander-0.service')).ActiveState).toBe('active');

    // An RCON password is a trace of an instance too: one a deletion killed between its last steps left
    // behind (no lease, uid, status, unit or directory names the instance any more) is removed by the next pass.
    const secrets = join(demo.host.dirs.varLib, 'secrets', 'rcon.json');
    const passwords = JSON.parse(await readFile(secrets, 'utf8')) as Record<string, string>;
    await writeFile(secrets, JSON.stringify({ ...passwords, 'orphan-1': 'o'.repeat(24) }));
    await controllerOnce(demo);
    expect(JSON.parse(await readFile(secrets, 'utf8'))).toEqual(passwords);
  }, 180_000);

  it('a killed, a hung and a crash-looping game server are reported and handled by their rules', async () => {
    demo = await bootDemoHost();
    const report = await serverFaults(demo, { bystanders: 1, ...chaosSeed('server-faults (short)') });
    console.log(`chaos server-faults (short): ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
    expect(report.running).toBe(4);
  }, 240_000);

  it('torn leases, uid leases, status and secrets files at start: rebuilt from the host or reported, never a crash loop or new passwords', async () => {
    demo = await bootDemoHost();
    const report = await corruptFiles(demo, { instances: 3, rounds: 1, ...chaosSeed('corrupt-files (short)') });
    console.log(`chaos corrupt-files (short): ${report.detail}; checked ${report.running} running, ${report.untouched} untouched`);
    expect(report.untouched).toBe(3);
  }, 180_000);
});
