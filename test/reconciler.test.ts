// The reconciler against a real private systemd: documents in, running
// servers out, checked with third-party clients (gamedig, rcon-srcds).
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountUnitName } from '../controller/systemd/units.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, queryServer, rcon, startController, UNIT_DIR, waitFor, type DemoHost, unitFacts } from './support/demo-host.js';

let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;
const unit = (name: string) => demo.server(name);
async function ready(name: string) {
  return condition(await demo.status.read('Instance', name), 'Ready') === 'True';
}

/** Runs the CLI in this process, capturing what it prints. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../controller/cli/main.js');
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

beforeAll(async () => {
  demo = await bootDemoHost();
  await demo.write('base.yaml', BASE_DOCS);
  await demo.write('instances/a.yaml', instanceDoc('a', ['cvars: {hostname: "Server A"}']));
  await demo.write('instances/b.yaml', instanceDoc('b', ['cvars: {hostname: "Server B"}']));
  await demo.write('instances/c.yaml', instanceDoc('c', ['port: 27110', 'cvars: {hostname: "Server C"}']));
  ctl = await startController(demo);
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await demo?.stop();
});

describe('reconciler in a private systemd host', () => {
  it('brings three instances to Ready, each answering A2S with its own hostname on its leased port', async () => {
    for (const n of ['a', 'b', 'c']) await waitFor(`${n} Ready`, () => ready(n));
    const ports = new Map<string, number>();
    for (const n of ['a', 'b', 'c']) ports.set(n, (await demo.status.read('Instance', n))!.port!);
    expect(ports.get('c')).toBe(27110);
    // Enabled, so a reboot brings them back before the controller is up.
    for (const n of ['a', 'b', 'c']) expect((await demo.host.exec('systemctl', ['is-enabled', `left4me-server@${n}.service`])).stdout.trim()).toBe('enabled-runtime');
    expect(new Set(ports.values()).size).toBe(3);
    for (const [n, port] of ports) {
      const q = await queryServer(port);
      expect(q.name).toBe(`Server ${n.toUpperCase()}`);
      expect(q.map).toBe('c1m1_hotel');
    }
    // The overlay stack is what the server sees: both overlays' addons, and the composed server.cfg.
    const addons = await rcon(ports.get('a')!, await demo.rconPassword('a'), 'demo_addons');
    expect(addons).toContain('maps.vpk');
    expect(addons).toContain('rates.vpk');
    expect(await rcon(ports.get('a')!, await demo.rconPassword('a'), 'sv_tags')).toContain('"sv_tags" = "test"');
  });

  it('restarts for a blueprint change only once the server is empty (whenEmpty)', async () => {
    const port = (await demo.status.read('Instance', 'a'))!.port!;
    const password = await demo.rconPassword('a');
    await rcon(port, password, 'demo_players 2');
    await waitFor('A2S shows 2 players', async () => (await queryServer(port)).numplayers === 2);
    const pidBefore = (await unit('a')).mainPid;
    const factsBefore = await unitFacts(demo.host, 'left4me-server@a.service');

    await demo.write('base.yaml', BASE_DOCS.replace('cvars: {sv_alltalk: 0}', 'cvars: {sv_alltalk: 1}'));
    const pending = await waitFor('a RestartPending', async () => {
      const s = await demo.status.read('Instance', 'a');
      return s?.conditions.find((c) => c.type === 'RestartPending' && c.status === 'True');
    });
    expect(pending.reason).toBe('WaitingForEmpty');
    expect(pending.message).toMatch(/^2 players connected; restarting when the server is empty/);
    // Empty servers on the same blueprint roll at once.
    await waitFor('b runs the new config', async () => (await rcon((await demo.status.read('Instance', 'b'))!.port!, await demo.rconPassword('b'), 'sv_alltalk')).includes('"1"'));
    // a keeps its players: after more full passes (each asks it for its players) it is still the same run.
    for (let i = 0; i < 2; i++) await ctl.controller.reconcileAll();
    expect(await unitFacts(demo.host, 'left4me-server@a.service')).toEqual(factsBefore);
    expect(await rcon(port, password, 'sv_alltalk')).toContain('"sv_alltalk" = "0"');

    await rcon(port, password, 'demo_players 0');
    await waitFor('a restarted', async () => {
      const u = await unit('a');
      return u.activeState === 'active' && u.mainPid !== pidBefore && u.mainPid !== 0;
    });
    await waitFor('a Ready without RestartPending', async () => {
      const s = await demo.status.read('Instance', 'a');
      return condition(s, 'Ready') === 'True' && condition(s, 'RestartPending') === undefined;
    });
    expect(await rcon(port, password, 'sv_alltalk')).toContain('"sv_alltalk" = "1"');
  });

  it('leaves a running server alone when its document turns invalid, and reports file:line', async () => {
    await waitFor('c Ready', () => ready('c'));
    const before = await unitFacts(demo.host, 'left4me-server@c.service');
    await demo.write('instances/c.yaml', instanceDoc('c', ['port: 27110', 'cvars: {hostname: "Server C"}', 'updatePolicy: sometimes']));
    const status = await waitFor('c Valid=False', async () => {
      const s = await demo.status.read('Instance', 'c');
      return condition(s, 'Valid') === 'False' ? s : undefined;
    });
    expect(status.lastError).toMatchObject({ file: join(demo.stateDir, 'instances/c.yaml'), line: 8 });
    // The operator still sees it: listed, not ready because it is invalid, its server running.
    const listed = await cli('get', 'instances', '--state', demo.stateDir, '--data-dir', demo.host.dirs.varLib);
    expect(listed.out).toMatch(/^c\s+False \(Invalid\)\s+running\s+27110\s/m);
    expect(status.conditions.find((c) => c.type === 'Valid')!.message).toContain('/spec/updatePolicy  must be one of "whenEmpty", "immediate", "manual" (got "sometimes")');
    // A full pass over the invalid document has had its chance to act: the same run goes on.
    await ctl.controller.reconcileAll();
    expect(await unitFacts(demo.host, 'left4me-server@c.service')).toEqual({ ...before, ActiveState: 'active' });
    // Fixing the document brings it back to Valid without a restart (nothing changed).
    await demo.write('instances/c.yaml', instanceDoc('c', ['port: 27110', 'cvars: {hostname: "Server C"}']));
    await waitFor('c Valid again', async () => condition(await demo.status.read('Instance', 'c'), 'Valid') === 'True');
    expect(await unitFacts(demo.host, 'left4me-server@c.service')).toEqual({ ...before, ActiveState: 'active' });
  });

  it('apply --wait follows a new instance until it is Ready, and fails on a stalled one', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'left4me-wait-'));
    try {
      await writeFile(join(dir, 'w.yaml'), instanceDoc('w', ['cvars: {hostname: "Server W"}']));
      const ok = await cli('apply', '-f', join(dir, 'w.yaml'), '--wait', '--timeout', '60s', '--state', demo.stateDir, '--data-dir', demo.host.dirs.varLib);
      expect(ok.code, ok.err).toBe(0);
      expect(ok.out).toMatch(/^instance\/w created$/m);
      expect(ok.out).toMatch(/^instance\/w: Ready \(the server runs the current documents\)$/m);
      expect((await queryServer((await demo.status.read('Instance', 'w'))!.port!)).name).toBe('Server W');
      // A port another program holds: stalled, which --wait reports as a failure.
      const { createServer } = await import('node:net');
      const squatter = createServer();
      await new Promise<void>((r) => squatter.listen(27112, '0.0.0.0', r));
      try {
        await writeFile(join(dir, 'v.yaml'), instanceDoc('v', ['port: 27112']));
        const stalled = await cli('apply', '-f', join(dir, 'v.yaml'), '--wait', '--timeout', '60s', '--state', demo.stateDir, '--data-dir', demo.host.dirs.varLib);
        expect(stalled.code).toBe(1);
        expect(stalled.out).toMatch(/^instance\/v: stalled \(PortConflict\): port 27112 is in use by another program/m);
        expect(stalled.err).toContain('1 of 1 document(s) failed');
      } finally {
        await new Promise((r) => squatter.close(r));
      }
    } finally {
      for (const n of ['w', 'v']) await cli('delete', 'instance', n, '--state', demo.stateDir);
      await rm(dir, { recursive: true, force: true });
    }
    for (const n of ['w', 'v']) await waitFor(`${n} deleted`, async () => (await demo.status.read('Instance', n)) === undefined);
  }, 120_000);

  it('a port change waits for players asked on the port the server still runs on', async () => {
    await demo.write('instances/p.yaml', instanceDoc('p', ['port: 27113']));
    await waitFor('p Ready', () => ready('p'), 30_000);
    const password = await demo.rconPassword('p');
    await rcon(27113, password, 'demo_players 1');
    await waitFor('A2S shows a player', async () => (await queryServer(27113)).numplayers === 1);
    await demo.write('instances/p.yaml', instanceDoc('p', ['port: 27114']));
    const pending = await waitFor('p RestartPending', async () => {
      const s = await demo.status.read('Instance', 'p');
      return s?.conditions.find((c) => c.type === 'RestartPending' && c.status === 'True');
    });
    // Asked on the new port it would not know (no A2S answer there) and wait out maxUpdateDelay.
    expect(pending.message).toMatch(/^1 player connected; restarting when the server is empty/);
    await rcon(27113, password, 'demo_players 0');
    await waitFor('p answers on its new port', async () => (await queryServer(27114).catch(() => undefined)) !== undefined, 30_000);
    await rm(join(demo.stateDir, 'instances/p.yaml'));
    await waitFor('p deleted', async () => (await demo.status.read('Instance', 'p')) === undefined);
  }, 90_000);

  it('an invalid overlay gets a status of its own: Valid False, Stalled, file:line', async () => {
    await demo.write('extra.yaml', 'apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: extra}\nspec:\n  sources: [{files: [{path: a.cfg, content: x, mode: "0666"}]}]\n');
    try {
      const st = await waitFor('extra Stalled', async () => {
        const s = await demo.status.read('Overlay', 'extra');
        return condition(s, 'Stalled') === 'True' ? s : undefined;
      });
      expect(condition(st, 'Valid')).toBe('False');
      expect(st.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Invalid' });
      expect(st.lastError).toMatchObject({ file: join(demo.stateDir, 'extra.yaml'), line: 5 });
      const listed = await cli('get', 'overlays', '--state', demo.stateDir, '--data-dir', demo.host.dirs.varLib);
      expect(listed.out).toMatch(/^extra\s+False \(Invalid\)/m);
    } finally {
      await rm(join(demo.stateDir, 'extra.yaml'));
    }
  });

  it('a port another program holds stalls the instance with a clear message until it is freed', async () => {
    const { createServer } = await import('node:net');
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(27111, '0.0.0.0', r));
    try {
      await demo.write('instances/d.yaml', instanceDoc('d', ['port: 27111']));
      const st = await waitFor('d Stalled', async () => {
        const s = await demo.status.read('Instance', 'd');
        return condition(s, 'Stalled') === 'True' ? s : undefined;
      });
      expect(st.conditions.find((c) => c.type === 'Stalled')!.message).toBe('port 27111 is in use by another program on this host (not a left4me server); free it or choose another spec.port');
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    await waitFor('d Ready once the port is free', async () => condition(await demo.status.read('Instance', 'd'), 'Ready') === 'True', 20_000);
    await rm(join(demo.stateDir, 'instances/d.yaml'));
    await waitFor('d deleted', async () => (await demo.status.read('Instance', 'd')) === undefined);
  });

  it('a deletion held back while a state file cannot be read goes ahead once it can, without waiting for a resync', async () => {
    await demo.write('instances/u.yaml', instanceDoc('u'));
    await waitFor('u Ready', () => ready('u'), 30_000);
    // The broken file might define u: u must be left alone while it cannot be read.
    await demo.write('broken.yaml', 'kind: [unclosed\n');
    await rm(join(demo.stateDir, 'instances/u.yaml'));
    await waitFor('u left alone', async () => /"instance":"u".*not deleted while 1 state file/.test(ctl.logTail()));
    expect((await unit('u')).activeState).toBe('active');
    // Readable again (the periodic resync is 10 minutes away here): the held-back deletion runs.
    await rm(join(demo.stateDir, 'broken.yaml'));
    await waitFor('u deleted', async () => (await demo.status.read('Instance', 'u')) === undefined);
    expect((await unit('u')).activeState).not.toBe('active');
  });

  it('deleting a document removes its server, mount, unit file, lease and status', async () => {
    const port = (await demo.status.read('Instance', 'b'))!.port!;
    await rm(join(demo.stateDir, 'instances/b.yaml'));
    await waitFor('b gone from status', async () => (await demo.status.read('Instance', 'b')) === undefined);
    const u = await unit('b');
    expect(['inactive', 'failed'].includes(u.activeState) || u.loadState === 'not-found').toBe(true);
    expect(u.activeState).not.toBe('failed');
    const mount = await demo.systemd.getUnit(mountUnitName('/var/lib/left4me/runtime/b'));
    expect(mount.activeState).toBe('inactive');
    await expect(stat(join(demo.host.root, UNIT_DIR, mountUnitName('/var/lib/left4me/runtime/b')))).rejects.toThrow();
    await expect(stat(join(demo.host.root, UNIT_DIR, 'multi-user.target.wants', 'left4me-server@b.service'))).rejects.toThrow();
    const leases = JSON.parse(await readFile(join(demo.host.dirs.varLib, 'status', 'leases.json'), 'utf8')) as { leases: Record<string, unknown> };
    expect(Object.keys(leases.leases).sort()).toEqual(['a', 'c']);
    await expect(queryServer(port)).rejects.toThrow();
    const mounts = await readFile(`/proc/${demo.host.pid}/mountinfo`, 'utf8'); // the host's own mount table
    expect(mounts).toContain('/runtime/a ');
    expect(mounts).not.toContain('/runtime/b ');
  });

  it('left4me diff shows the plan of an edit without applying it', async () => {
    await ctl.stop();
    const { main } = await import('../controller/cli/main.js');
    const run = async () => {
      let out = '';
      const code = await main(['diff', '--state', demo.stateDir, '--fs-root', demo.host.root, '--bus', demo.host.busAddress, '--unit-dir', UNIT_DIR], { out: (t) => void (out += t), err: () => undefined });
      return { code, out };
    };
    const clean = await run();
    expect(clean.code).toBe(0);
    expect(clean.out).toBe('instance/a: up to date\ninstance/c: up to date\n');
    const pid = (await unit('a')).mainPid;
    await demo.write('instances/a.yaml', instanceDoc('a', ['cvars: {hostname: "Server A2"}', 'updatePolicy: immediate']));
    const edited = await run();
    expect(edited.out).toBe('instance/a: writeLayers, stop, unmount, writeFiles, start\ninstance/c: up to date\n');
    expect((await unit('a')).mainPid).toBe(pid); // a dry run changes nothing
    ctl = await startController(demo);
    await waitFor('a renamed', async () => (await queryServer((await demo.status.read('Instance', 'a'))!.port!).catch(() => undefined))?.name === 'Server A2');
  });

  it('stopping the controller stops no game server', async () => {
    const before = await Promise.all(['a', 'c'].map((n) => unitFacts(demo.host, `left4me-server@${n}.service`)));
    await ctl.stop();
    for (const [i, n] of ['a', 'c'].entries()) expect(await unitFacts(demo.host, `left4me-server@${n}.service`)).toEqual({ ...before[i], ActiveState: 'active' });
    ctl = await startController(demo); // afterAll stops it again
  });
});
