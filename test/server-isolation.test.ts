// Issue 8 item 5: one game server cannot touch another. Each instance runs
// under its own leased uid, so a compromised server (or build) that signals
// another server gets EPERM from the kernel; the writable layer follows the
// lease across start, reset, migration from the shared account, and a range change.
import { chown, lchown, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UID_RANGE } from '../controller/status/uid-leases.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, startController, UNIT_DIR, waitFor, type DemoHost } from './support/demo-host.js';

// Private hosts share the machine's network namespace: ports apart from the other suites' ranges.
const PORTS = { game: { min: 28500, max: 28599 }, client: { min: 29500, max: 29599 } };
const MOVED = { min: DEFAULT_UID_RANGE.min + 4096, max: DEFAULT_UID_RANGE.min + 8191 };

let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;

const upper = (name: string) => join(demo.host.root, `/var/lib/left4me/instances/${name}/upper`);

async function running(name: string): Promise<{ pid: number; uid: number; gid: number }> {
  return waitFor(`${name} running`, async () => {
    if (condition(await demo.status.read('Instance', name), 'Ready') !== 'True') return undefined;
    const u = await demo.server(name);
    if (u.activeState !== 'active' || !u.mainPid) return undefined;
    // The kernel's word on who the process is, not the controller's.
    const machine = demo.host.machinePid(u.mainPid);
    const text = await readFile(`/proc/${machine}/status`, 'utf8');
    const uid = Number(/^Uid:\t(\d+)/m.exec(text)![1]);
    const gid = Number(/^Gid:\t(\d+)/m.exec(text)![1]);
    return { pid: u.mainPid, uid, gid };
  }, 30_000);
}

/**
 * Sends `signal` to `target` (a pid in the host) from inside `from`'s
 * namespaces with its uid and gid, as a compromised server would; returns
 * 'ok' or the errno code.
 */
async function signalFrom(from: number, uid: number, gid: number, target: number, signal: string): Promise<string> {
  const js = `try { process.kill(${target}, ${JSON.stringify(signal)}); console.log('ok') } catch (e) { console.log(e.code) }`;
  const r = await demo.host.exec('nsenter', ['--target', String(from), '--user', '--mount', `--setuid=${uid}`, `--setgid=${gid}`, process.execPath, '-e', js]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** The same from the host with only a uid and gid (the build account). */
async function signalAs(uid: number, gid: number, target: number, signal: string): Promise<string> {
  const js = `try { process.kill(${target}, ${JSON.stringify(signal)}); console.log('ok') } catch (e) { console.log(e.code) }`;
  const r = await demo.host.exec('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, '-e', js]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

function processState(nsPid: number): Promise<string> {
  return readFile(`/proc/${demo.host.machinePid(nsPid)}/stat`, 'utf8').then((s) => s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3));
}

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  await demo.write('instances/a.yaml', instanceDoc('a'));
  await demo.write('instances/b.yaml', instanceDoc('b'));
  ctl = await startController(demo, { portRanges: PORTS });
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await demo?.stop();
});

describe('one game server cannot touch another', () => {
  it('server A signalling server B gets EPERM, and so does the build account', async () => {
    const a = await running('a');
    const b = await running('b');
    // The method works: B may signal itself from its own sandbox.
    expect(await signalFrom(b.pid, b.uid, b.gid, b.pid, 'SIGCONT')).toBe('ok');
    try {
      // EPERM, not ESRCH: B's process is there, A may not touch it.
      expect(await signalFrom(a.pid, a.uid, a.gid, b.pid, 'SIGSTOP')).toBe('EPERM');
      expect(await signalFrom(a.pid, a.uid, a.gid, b.pid, 'SIGKILL')).toBe('EPERM');
      expect(await signalAs(demo.host.buildAccount.uid, demo.host.buildAccount.gid, b.pid, 'SIGSTOP')).toBe('EPERM');
      expect(await processState(b.pid)).not.toBe('T');
      expect((await demo.server('b')).mainPid).toBe(b.pid);
      expect(a.uid).not.toBe(b.uid);
    } finally {
      process.kill(demo.host.machinePid(b.pid)!, 'SIGCONT');
    }
  });

  it('each server runs as its leased uid from the range, shown in status, with the left4me group', async () => {
    for (const name of ['a', 'b']) {
      const p = await running(name);
      const s = await demo.status.read('Instance', name);
      expect(s!.uid).toBe(p.uid);
      expect(p.uid).toBeGreaterThanOrEqual(DEFAULT_UID_RANGE.min);
      expect(p.uid).toBeLessThanOrEqual(DEFAULT_UID_RANGE.max);
      expect(p.uid).not.toBe(demo.host.account.uid);
      expect(p.uid).not.toBe(demo.host.buildAccount.uid);
      expect(p.gid).toBe(demo.host.account.gid);
      // The unit's own User= comes from the instance's drop-in.
      expect(await readFile(join(demo.host.root, UNIT_DIR, `left4me-server@${name}.service.d`, '10-user.conf'), 'utf8')).toContain(`\nUser=${p.uid}\n`);
      const pw = await demo.host.exec('getent', ['passwd', String(p.uid)]);
      expect(pw.stdout).toMatch(new RegExp(`^left4me-${p.uid}:x:${p.uid}:${demo.host.account.gid}:`));
    }
  });

  it('upper/ is owned by the instance uid after start and after a reset', async () => {
    const a = await running('a');
    expect(a.uid).not.toBe(demo.host.account.uid);
    // upper/: setgid in the web service's group, which reads what the server writes (test/web-files.test.ts).
    const webGid = Number((await demo.host.exec('getent', ['group', 'left4me-web'])).stdout.split(':')[2]);
    const up = await stat(upper('a'));
    expect([up.uid, up.gid, up.mode & 0o7777]).toEqual([a.uid, webGid, 0o2751]);
    const work = await stat(join(upper('a'), '../work'));
    expect([work.uid, work.gid, work.mode & 0o7777]).toEqual([a.uid, demo.host.account.gid, 0o750]);
    await writeFile(join(upper('a'), 'marker'), 'before the reset');
    await demo.write('instances/a.yaml', instanceDoc('a', ['updatePolicy: immediate']).replace('metadata: {name: a}', 'metadata: {name: a, annotations: {left4me/resetAt: "2030-01-01T00:00:00Z"}}'));
    await waitFor('a reset and running again', async () => {
      const s = await demo.status.read('Instance', 'a');
      const u = await demo.server('a');
      return s?.handledResetAt === '2030-01-01T00:00:00Z' && u.activeState === 'active' && u.mainPid !== a.pid;
    }, 30_000);
    await expect(stat(join(upper('a'), 'marker'))).rejects.toMatchObject({ code: 'ENOENT' });
    const st = await stat(upper('a'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([(await running('a')).uid, webGid, 0o2751]);
    expect((await running('a')).uid).toBe(a.uid);
  });

  it("migrates a writable layer owned by the shared account to the instance's uid, following no link", async () => {
    const game = demo.host.account;
    const dir = join(demo.host.root, '/var/lib/left4me/instances/m');
    const outside = join(demo.host.root, '/var/lib/left4me/outside.txt');
    await writeFile(outside, 'root keeps this');
    await mkdir(join(dir, 'upper/left4dead2/cfg'), { recursive: true });
    await mkdir(join(dir, 'work'), { recursive: true });
    await writeFile(join(dir, 'upper/left4dead2/cfg/mine.cfg'), 'written by the server');
    await writeFile(join(dir, 'upper/left4dead2/rootfile'), 'a copied-up lower file');
    await symlink('/var/lib/left4me/outside.txt', join(dir, 'upper/link'));
    for (const p of ['upper', 'upper/left4dead2', 'upper/left4dead2/cfg', 'upper/left4dead2/cfg/mine.cfg', 'work']) await chown(join(dir, p), game.uid, game.gid);
    await lchown(join(dir, 'upper/link'), game.uid, game.gid);

    await demo.write('instances/m.yaml', instanceDoc('m'));
    const m = await running('m');
    expect(m.uid).not.toBe(game.uid);
    for (const p of ['upper', 'upper/left4dead2', 'upper/left4dead2/cfg', 'upper/left4dead2/cfg/mine.cfg', 'upper/link', 'work']) {
      expect((await lstat(join(dir, p))).uid, p).toBe(m.uid);
    }
    // What the server wrote joins the web service's group with it; the work dir keeps the game group.
    const webGid = Number((await demo.host.exec('getent', ['group', 'left4me-web'])).stdout.split(':')[2]);
    expect((await lstat(join(dir, 'upper/left4dead2/cfg/mine.cfg'))).gid).toBe(webGid);
    expect((await lstat(join(dir, 'work'))).gid).toBe(game.gid);
    expect((await stat(join(dir, 'upper/left4dead2/rootfile'))).uid).toBe(0);
    expect((await stat(outside)).uid).toBe(0);
  });

  it('deleting an instance removes its drop-in, its user record and its uid lease', async () => {
    const m = await running('m');
    await rm(join(demo.stateDir, 'instances/m.yaml'));
    await waitFor('m deleted', async () => (await demo.status.read('Instance', 'm')) === undefined);
    await expect(stat(join(demo.host.root, UNIT_DIR, 'left4me-server@m.service.d'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await demo.host.exec('getent', ['passwd', String(m.uid)])).code).toBe(2);
    const leases = JSON.parse(await readFile(join(demo.host.root, '/var/lib/left4me/status/uid-leases.json'), 'utf8')) as { uids: Record<string, number> };
    expect(Object.keys(leases.uids).sort()).toEqual(['a', 'b']);
  });

  it('keeps the uid across controller restarts, and moves server and layer when the range changes', async () => {
    const before = await running('b');
    await ctl.stop();
    ctl = await startController(demo, { portRanges: PORTS });
    await ctl.controller.reconcileAll();
    expect(await running('b')).toEqual(before);

    await ctl.stop();
    ctl = await startController(demo, { portRanges: PORTS, uidRange: MOVED });
    const after = await waitFor('b restarted under a uid of the new range', async () => {
      const p = await running('b');
      return p.pid !== before.pid && p.uid >= MOVED.min && p.uid <= MOVED.max ? p : undefined;
    }, 30_000);
    expect((await stat(upper('b'))).uid).toBe(after.uid);
    // The pass that restarted b writes its status once it is done.
    await waitFor('status shows the new uid', async () => (await demo.status.read('Instance', 'b'))?.uid === after.uid);
    expect((await demo.host.exec('getent', ['passwd', String(before.uid)])).code).toBe(2);
  }, 60_000);
});
