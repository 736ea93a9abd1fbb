import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findController, isControllerCommandLine } from './controller-process.js';
import { reconcileCommand } from './reconcile.js';

const children: ChildProcess[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

function started(cmd: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(child));
    child.once('error', reject);
  });
}

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe('isControllerCommandLine', () => {
  it.each([
    ['node\0/usr/local/bin/left4me\0controller\0--state\0/x\0', true],
    ['/usr/bin/node\0/app/controller/bin/left4me.js\0controller\0', true],
    ['node\0/app/dist/controller/demo/start.js\0', true],
    ['node\0/usr/local/bin/left4me\0get\0instances\0', false],
    ['sleep\x00600\x00', false],
    ['/usr/bin/vim\0left4me\0controller\0', false],
    ['node\0/home/x/not-left4me.js\0controller\0', false],
    ['node\0--enable-source-maps\0/usr/local/bin/left4me\0controller\0', true],
    ['node\0/usr/local/bin/left4me\0get\0controller\0', false],
    ['', false],
  ])('%j → %s', (cmdline, expected) => {
    expect(isControllerCommandLine(cmdline)).toBe(expected);
  });
});

describe('findController', () => {
  it('refuses pid 1, 0 and negative pids without looking further', async () => {
    for (const pid of [1, 0, -1, Number.NaN]) expect(await findController(pid)).toHaveProperty('refused');
  });

  it('refuses a live process that is not a controller, naming what it runs', async () => {
    const sleeper = await started('sleep', ['600']);
    const found = await findController(sleeper.pid!);
    expect(found).toEqual({ refused: expect.stringContaining(`process ${sleeper.pid} is not a left4me controller (it runs "sleep 600")`) });
  });

  it('accepts a live controller command line', async () => {
    dir = await mkdtemp(join(tmpdir(), 'left4me-ctl-'));
    const script = join(dir, 'left4me.js');
    await writeFile(script, 'setInterval(() => {}, 1000);\n');
    const fake = await started(process.execPath, [script, 'controller']);
    expect(await findController(fake.pid!)).toEqual({ pid: fake.pid });
  });
});

describe('left4me reconcile with a stale pid file', () => {
  it('does not signal the program that reused the pid, and says why', async () => {
    // sleep(1) dies of SIGHUP: if reconcile signalled it, it would be gone.
    const sleeper = await started('sleep', ['600']);
    dir = await mkdtemp(join(tmpdir(), 'left4me-pid-'));
    const pidFile = join(dir, 'controller.pid');
    await writeFile(pidFile, `${sleeper.pid}\n`);
    const t = io();
    expect(await reconcileCommand(['--pid-file', pidFile], t.io)).toBe(1);
    expect(t.err.join('')).toContain('not a left4me controller');
    expect(() => process.kill(sleeper.pid!, 0)).not.toThrow();
    expect(sleeper.signalCode).toBeNull();
  });

  it('refuses a pid file naming init', async () => {
    dir = await mkdtemp(join(tmpdir(), 'left4me-pid-'));
    const pidFile = join(dir, 'controller.pid');
    await writeFile(pidFile, '1\n');
    const t = io();
    expect(await reconcileCommand(['--pid-file', pidFile], t.io)).toBe(1);
    expect(t.err.join('')).toContain('pid 1 cannot be a controller');
  });
});
