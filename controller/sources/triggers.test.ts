import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../fs/atomic.js';
import { hostLayout, type HostLayout } from '../host/layout.js';
import { prepareTriggersDir, watchTriggers, type TriggerWatch } from './triggers.js';

// Real files in a fresh triggers directory, written as the web route writes them.
let root: string;
let layout: HostLayout;
let dir: string;
let logLines: Array<Record<string, unknown>>;
const watches: TriggerWatch[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'left4me-triggers-'));
  layout = hostLayout(join(root, 'data'), join(root, 'etc'));
  dir = layout.triggersDir;
  mkdirSync(dir, { recursive: true });
  logLines = [];
});

afterEach(async () => {
  for (const w of watches.splice(0)) await w.close();
  rmSync(root, { recursive: true, force: true });
});

const log = () => pino({ base: null }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });

function start(names: string[], onTrigger: (name: string) => void | Promise<void>, rescanMs?: number): TriggerWatch {
  const w = watchTriggers(layout, { names: () => names, onTrigger, log: log(), ...(rescanMs !== undefined ? { rescanMs } : {}) });
  watches.push(w);
  return w;
}

/** Polls `cond` to a generous deadline. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const poke = (name: string) => writeFileAtomic(join(dir, `git-${name}`), `${new Date().toISOString()}\n`, 0o640);

describe('watchTriggers', () => {
  it('fires once per trigger file, woken by fs.watch (no rescan for an hour), and removes the file first', async () => {
    const calls: string[] = [];
    let fileGoneAtCall: boolean | undefined;
    const w = start(['site', 'fleet'], (name) => {
      fileGoneAtCall ??= !existsSync(join(dir, `git-${name}`));
      calls.push(name);
    }, 3_600_000);
    await w.scan();
    await poke('site');
    await until(() => calls.length === 1, 'the trigger');
    expect(calls).toEqual(['site']);
    expect(fileGoneAtCall).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    await w.scan();
    await w.scan();
    expect(calls).toEqual(['site']);
    await poke('fleet');
    await until(() => calls.length === 2, 'the second trigger');
    expect(calls).toEqual(['site', 'fleet']);
  });

  it('fires for a trigger left from before it started, and finds files by rescanning', async () => {
    await poke('site');
    const calls: string[] = [];
    start(['site'], (name) => void calls.push(name), 50);
    await until(() => calls.length === 1, 'the old trigger');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes unknown and malformed names without firing, and logs each name once', async () => {
    const calls: string[] = [];
    const w = start(['site'], (name) => void calls.push(name), 3_600_000);
    const junk = ['git-other', 'git-UPPER', 'git-', 'junk', 'git-site.tmp', 'git-site\nx', 'git-.._x'];
    for (const name of junk) writeFileSync(join(dir, name), 'x');
    await w.scan();
    expect(readdirSync(dir)).toEqual([]);
    for (const name of junk) writeFileSync(join(dir, name), 'x');
    await w.scan();
    expect(readdirSync(dir)).toEqual([]);
    expect(calls).toEqual([]);
    const removals = logLines.filter((l) => String(l.msg).startsWith('removed '));
    expect(removals.map((l) => l.entry).sort()).toEqual(junk.map((n) => JSON.stringify(n)).sort());
    expect(logLines.find((l) => l.entry === JSON.stringify('git-other'))?.msg).toMatch(/no source "other" is configured/);
  });

  it('removes a link, a directory or a fifo named like a trigger without following it, and fires for none', async () => {
    const calls: string[] = [];
    const outside = join(root, 'outside');
    mkdirSync(join(outside, 'tree'), { recursive: true });
    writeFileSync(join(outside, 'file'), 'keep me');
    writeFileSync(join(outside, 'tree', 'inner'), 'keep me too');
    const w = start(['site', 'dir', 'link', 'dirlink', 'fifo'], (name) => void calls.push(name), 3_600_000);
    symlinkSync(join(outside, 'file'), join(dir, 'git-link'));
    symlinkSync(join(outside, 'tree'), join(dir, 'git-dirlink'));
    mkdirSync(join(dir, 'git-dir', 'deep', 'er'), { recursive: true });
    writeFileSync(join(dir, 'git-dir', 'deep', 'er', 'f'), 'x');
    symlinkSync(join(outside, 'tree'), join(dir, 'git-dir', 'deep', 'escape'));
    execFileSync('mkfifo', [join(dir, 'git-fifo')]);
    // A dangling link of a configured name: removed too, nothing created at its target.
    symlinkSync(join(outside, 'missing'), join(dir, 'git-site'));
    await w.scan();
    expect(readdirSync(dir)).toEqual([]);
    expect(calls).toEqual([]);
    expect(readFileSync(join(outside, 'file'), 'utf8')).toBe('keep me');
    expect(readFileSync(join(outside, 'tree', 'inner'), 'utf8')).toBe('keep me too');
    expect(existsSync(join(outside, 'missing'))).toBe(false);
    // The names still work as triggers once they are files.
    await poke('dir');
    await w.scan();
    expect(calls).toEqual(['dir']);
  });

  it("leaves a writer's fresh temporary file alone and removes a stale one", async () => {
    const w = start(['site'], () => undefined, 3_600_000);
    writeFileSync(join(dir, '.fresh.tmp'), 'x');
    writeFileSync(join(dir, '.stale.tmp'), 'x');
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(join(dir, '.stale.tmp'), old, old);
    mkdirSync(join(dir, '.adir'));
    await w.scan();
    expect(readdirSync(dir)).toEqual(['.fresh.tmp']);
  });

  it('coalesces a burst: 100 triggers during a fetch are one more fetch after it, never two at once, none lost', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    const gates: Array<() => void> = [];
    const w = start(['site'], async () => {
      calls++;
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running--;
    }, 20);
    await poke('site');
    await until(() => calls === 1, 'the first fetch');
    // A hundred pushes while it runs, some of them at once.
    for (let i = 0; i < 50; i++) await poke('site');
    await Promise.all(Array.from({ length: 50 }, () => poke('site')));
    await until(() => readdirSync(dir).length === 0, 'the burst to be consumed');
    await w.scan();
    expect(calls).toBe(1);
    gates.shift()!();
    await until(() => calls === 2, 'the one fetch after the burst');
    gates.shift()!();
    await until(() => running === 0, 'the second fetch to end');
    await w.scan();
    await w.scan();
    expect(calls).toBe(2);
    expect(most).toBe(1);
  });

  it("runs different sources' fetches side by side, and goes on after a fetch that throws", async () => {
    const calls: string[] = [];
    let release!: () => void;
    const w = start(['slow', 'quick'], async (name) => {
      calls.push(name);
      if (name === 'slow') await new Promise<void>((r) => (release = r));
      if (name === 'quick' && calls.filter((c) => c === 'quick').length === 1) throw new Error('remote unreachable');
    }, 20);
    await poke('slow');
    await until(() => calls.includes('slow'), 'the slow fetch');
    await poke('quick');
    await until(() => calls.includes('quick'), 'the quick fetch, while the slow one runs');
    await until(() => logLines.some((l) => l.msg === 'the fetch a trigger asked for failed'), 'the failure logged');
    await poke('quick');
    await until(() => calls.filter((c) => c === 'quick').length === 2, 'a fetch after the failed one');
    release();
    await w.scan();
  });

  it('fires nothing after close()', async () => {
    const calls: string[] = [];
    const w = start(['site'], (name) => void calls.push(name), 20);
    await w.close();
    await poke('site');
    await w.scan();
    // The file stays for the next controller to find.
    expect(readdirSync(dir)).toEqual(['git-site']);
    expect(calls).toEqual([]);
  });

  it('prepareTriggersDir makes the directory 2770 root:<web group>, or root-only without the group', async () => {
    rmSync(dir, { recursive: true });
    await prepareTriggersDir(layout, 4242);
    const { statSync } = await import('node:fs');
    let st = statSync(dir);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o2770, 0, 4242]);
    await prepareTriggersDir(layout);
    st = statSync(dir);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o700, 0, 0]);
  });
});
