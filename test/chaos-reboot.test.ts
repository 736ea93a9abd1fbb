// The reboot scenario's short, seeded variant (the long run is
// test/chaos/reboot.chaos.ts in `npm run chaos`): one power-off of a settled
// host, then a boot on the same disks. LEFT4ME_CHAOS_SEED replays a seed.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chaosSeed } from './support/chaos.js';
import { bootRebootRig, nothingToChange, reboots, type RebootRig } from './chaos/reboot.js';

let rig: RebootRig | undefined;
let disks: string | undefined;
afterEach(async () => {
  await rig?.demo.stop();
  if (disks) await rm(disks, { recursive: true, force: true });
  rig = undefined;
  disks = undefined;
});

describe('chaos reboot (short)', () => {
  it('after a power-off every server comes back on its port by systemd alone, and the first controller pass changes nothing', async () => {
    disks = await mkdtemp(join(tmpdir(), 'left4me-disks-'));
    rig = await bootRebootRig(disks);
    const report = await reboots(rig, { instances: 4, reboots: 1, midConverge: 0, ...chaosSeed('reboot (short)') });
    console.log(`chaos reboot (short): ${report.detail}; checked ${report.running} running, ${report.stopped} stopped, ${report.untouched} untouched`);
    expect(report).toMatchObject({ running: 3, stopped: 1 });

    // The "changes nothing" check can fail: a status the pass must correct is named as rewritten.
    const file = join(rig.demo.host.dirs.varLib, 'status', 'instance', 'r0.json');
    await writeFile(file, (await readFile(file, 'utf8')).replace('the document is valid', 'a stale message'));
    const failed = await nothingToChange(rig.demo, ['r0', 'r2', 'r3']).then(() => undefined, (err: Error) => err.message);
    expect(failed).toContain(`${file} rewritten`);
  }, 120_000);
});
