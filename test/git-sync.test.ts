// Git source sync against real git: bare repositories on disk, commits made
// with the git CLI, a real HTTP server in front of git http-backend, and a
// stand-in ssh. Each scenario checks the resulting state — what `current`
// points at, what the status file says, what the logs hold — not the calls.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState } from '../controller/documents/loader.js';
import type { SourceRoot } from '../controller/documents/origin.js';
import { hostLayout, type HostLayout } from '../controller/host/layout.js';
import { SourceSync, type SyncDeps } from '../controller/sources/sync.js';
import type { GitSourceConfig, SourceStatus } from '../controller/sources/types.js';
import { git, gitHttpServer, overlayDoc, sshStandIn, Upstream } from './support/git-fixtures.js';

const ROOT = mkdtempSync(join(tmpdir(), 'left4me-git-sync-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));
let seq = 0;

/** A fresh upstream, host layout and log for one scenario. */
function scenario() {
  const dir = join(ROOT, `s${++seq}`);
  const up = new Upstream(join(dir, 'up'));
  const layout = hostLayout(join(dir, 'data'), join(dir, 'etc'));
  const logs: string[] = [];
  const log = {
    info: (o: object, m: string) => logs.push(JSON.stringify({ level: 'info', ...o, msg: m })),
    warn: (o: object, m: string) => logs.push(JSON.stringify({ level: 'warn', ...o, msg: m })),
    debug: (o: object, m: string) => logs.push(JSON.stringify({ level: 'debug', ...o, msg: m })),
  };
  const served: string[] = [];
  const make = (cfg: Partial<GitSourceConfig> = {}, deps: Partial<SyncDeps> = {}) =>
    new SourceSync({ name: 'fleet', url: up.bare, ref: { branch: 'main' }, path: 'hosts', intervalMs: 60_000, submodules: false, allowForcePush: false, ...cfg }, layout, {
      validate: async (c: SourceRoot) => (await loadState(c.dir)).problems,
      log,
      onServe: (_n, commit) => served.push(commit),
      ...deps,
    });
  return { dir, up, layout, logs, served, make };
}

function current(layout: HostLayout): string | null {
  try {
    return readlinkSync(join(layout.sourcesDir, 'fleet', 'current'));
  } catch {
    return null;
  }
}

function status(layout: HostLayout): SourceStatus {
  return JSON.parse(readFileSync(join(layout.statusDir, 'sources', 'fleet.json'), 'utf8')) as SourceStatus;
}

function servedText(layout: HostLayout, file: string): string {
  return readFileSync(join(layout.sourcesDir, 'fleet', 'current', 'hosts', file), 'utf8');
}

describe('git source sync', () => {
  it('serves the first commit, then a new one; the checkout is read-only and only the documents path is written', async () => {
    const { up, layout, served, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates'), 'README.md': 'not documents' }, 'first');
    up.push();
    const sync = make();
    const o1 = await sync.fetchNow('test');
    expect(o1).toMatchObject({ result: 'served', serving: c1 });
    expect(current(layout)).toBe(`checkouts/${c1}`);
    expect(servedText(layout, 'rates.yaml')).toContain('name: rates');
    expect(existsSync(join(layout.sourcesDir, 'fleet', 'current', 'README.md'))).toBe(false);
    expect(statSync(join(layout.sourcesDir, 'fleet', 'current', 'hosts', 'rates.yaml')).mode & 0o777).toBe(0o444);
    expect(statSync(join(layout.sourcesDir, 'fleet', 'current', 'hosts')).mode & 0o777).toBe(0o555);
    const s1 = status(layout);
    expect(s1.serving).toMatchObject({ commit: c1, author: 'Ada Author <ada@example.org>', subject: 'first' });
    expect(s1.lastError).toBeNull();
    expect(s1.lastFetch?.tip).toBe(c1);
    // Written atomically: no temporary file is left beside the status.
    expect(readdirSync(join(layout.statusDir, 'sources'))).toEqual(['fleet.json']);
    expect(sync.serving()).toEqual({ name: 'fleet', dir: join(layout.sourcesDir, 'fleet', 'checkouts', c1, 'hosts'), commit: c1, path: 'hosts' });

    // The same tip again: recorded, nothing flips.
    expect(await sync.fetchNow('test')).toMatchObject({ result: 'unchanged', serving: c1 });

    const c2 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates', 'sv_maxrate 30000') }, 'second');
    up.push();
    expect(await sync.fetchNow('test')).toMatchObject({ result: 'served', serving: c2 });
    expect(current(layout)).toBe(`checkouts/${c2}`);
    expect(servedText(layout, 'rates.yaml')).toContain('sv_maxrate 30000');
    expect(served).toEqual([c1, c2]);
    // The serving checkout and the one before it are kept.
    expect(readdirSync(join(layout.sourcesDir, 'fleet', 'checkouts')).sort()).toEqual([c1, c2].sort());
  });

  it('checks out the blobs as committed: .gitattributes conversions do not apply', async () => {
    const { up, layout, make } = scenario();
    up.commit(
      {
        'hosts/.gitattributes': '*.yaml text eol=crlf ident\n',
        'hosts/rates.yaml': overlayDoc('rates', 'sv_minrate 1 # $Id$'),
        'hosts/eu/.gitattributes': 'eu.yaml text eol=crlf\n',
        'hosts/eu/eu.yaml': overlayDoc('eu'),
      },
      'attributes',
    );
    up.push();
    expect(await make().fetchNow('test')).toMatchObject({ result: 'served', error: null });
    const text = servedText(layout, 'rates.yaml');
    expect(text).toBe(overlayDoc('rates', 'sv_minrate 1 # $Id$'));
    expect(servedText(layout, 'eu/eu.yaml')).toBe(overlayDoc('eu'));
    expect(existsSync(join(layout.sourcesDir, 'fleet', 'current', 'hosts', '.gitattributes'))).toBe(false);
  });

  it('a commit the validation rejects keeps the last good one and reports commit, author and repository-relative file:line; the next good commit recovers', async () => {
    const { up, layout, make, logs } = scenario();
    const good = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'good');
    up.push();
    const sync = make();
    await sync.fetchNow('test');
    const bad = up.commit({ 'hosts/eu/broken.yaml': overlayDoc('broken').replace('owner: system', 'owner: system\n  colour: red') }, 'add a broken overlay', 'Bob Breaker <bob@example.org>');
    up.push();
    const o = await sync.fetchNow('test');
    expect(o.result).toBe('refused');
    expect(current(layout)).toBe(`checkouts/${good}`);
    const s = status(layout);
    expect(s.serving?.commit).toBe(good);
    expect(s.lastFetch?.tip).toBe(bad);
    expect(s.lastError).toMatchObject({ reason: 'invalid', commit: { commit: bad, author: 'Bob Breaker <bob@example.org>', subject: 'add a broken overlay' } });
    expect(s.lastError?.problems?.[0]).toMatchObject({ file: 'hosts/eu/broken.yaml', line: 6 });
    expect(s.lastError?.message).toContain('hosts/eu/broken.yaml:6:');
    expect(s.lastError?.message).toContain('Bob Breaker');
    // The rejected checkout does not stay on disk.
    expect(readdirSync(join(layout.sourcesDir, 'fleet', 'checkouts'))).toEqual([good]);
    // Reported once per change, not once per poll.
    await sync.fetchNow('test');
    expect(logs.filter((l) => l.includes('"reason":"invalid"'))).toHaveLength(1);

    const fixed = up.commit({ 'hosts/eu/broken.yaml': overlayDoc('broken') }, 'fix it');
    up.push();
    expect(await sync.fetchNow('test')).toMatchObject({ result: 'served', serving: fixed });
    expect(status(layout)).toMatchObject({ serving: { commit: fixed }, lastError: null });
  });

  it('a force-push is reported and changes nothing; with allowForcePush it serves', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    await make().fetchNow('test');
    const rewritten = up.rewrite({ 'hosts/rates.yaml': overlayDoc('rates', 'sv_maxrate 1') }, '\u001b[31mhistory rewritten');
    const o = await make().fetchNow('test');
    expect(o).toMatchObject({ result: 'refused', serving: c1, tip: rewritten });
    expect(current(layout)).toBe(`checkouts/${c1}`);
    // A terminal escape in the subject is shown defused.
    expect(status(layout).lastError).toMatchObject({ reason: 'force-push', commit: { commit: rewritten, subject: '?[31mhistory rewritten' } });
    expect(status(layout).lastError?.message).toMatch(/does not descend from the serving commit/);

    expect(await make({ allowForcePush: true }).fetchNow('test')).toMatchObject({ result: 'served', serving: rewritten });
    expect(current(layout)).toBe(`checkouts/${rewritten}`);
  });

  it('many commits between two fetches deepen the shallow history until the serving commit is found; past maxDepth it is refused', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'base');
    up.push();
    await make().fetchNow('test');
    let tip = '';
    for (let i = 0; i < 20; i++) tip = up.commit({ [`hosts/n${i}.txt`]: `${i}` }, `step ${i}`);
    up.push();
    expect(await make({}, { maxDepth: 4 }).fetchNow('test')).toMatchObject({ result: 'refused', serving: c1 });
    expect(status(layout).lastError).toMatchObject({ reason: 'force-push' });
    expect(status(layout).lastError?.message).toMatch(/not among the 4 commits/);
    expect(await make().fetchNow('test')).toMatchObject({ result: 'served', serving: tip });
  });

  it('follows a tag at the repository root: a tag moved forward serves, a tag moved to unrelated history is a force-push', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'rates.yaml': overlayDoc('rates') }, 'one');
    git(up.work, ['tag', '-a', '-m', 'release 1', 'v1']);
    git(up.work, ['push', '--quiet', 'origin', 'v1']);
    const tagged = () => make({ ref: { tag: 'v1' }, path: '.' });
    expect(await tagged().fetchNow('test')).toMatchObject({ result: 'served', serving: c1 });
    expect(readFileSync(join(layout.sourcesDir, 'fleet', 'current', 'rates.yaml'), 'utf8')).toContain('name: rates');
    const c2 = up.commit({ 'more.yaml': overlayDoc('more') }, 'two');
    git(up.work, ['tag', '-f', '-a', '-m', 'release 1 again', 'v1']);
    git(up.work, ['push', '--quiet', '--force', 'origin', 'v1']);
    expect(await tagged().fetchNow('test')).toMatchObject({ result: 'served', serving: c2 });
    git(up.work, ['checkout', '--quiet', '--orphan', 'other']);
    const c3 = up.commit({ 'other.yaml': overlayDoc('other') }, 'unrelated');
    git(up.work, ['tag', '-f', '-a', '-m', 'moved', 'v1']);
    git(up.work, ['push', '--quiet', '--force', 'origin', 'v1']);
    expect(await tagged().fetchNow('test')).toMatchObject({ result: 'refused', serving: c2, tip: c3 });
    expect(status(layout).lastError).toMatchObject({ reason: 'force-push' });
    git(up.bare, ['tag', '-d', 'v1']);
    expect(await tagged().fetchNow('test')).toMatchObject({ result: 'failed', serving: c2 });
    expect(status(layout).lastError?.message).toContain('tag "v1"');
  });

  it('problems about local documents keep their own path; problems in the candidate become repository-relative', async () => {
    const { up, layout, make } = scenario();
    up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    const sync = make({}, {
      validate: async (c) => [
        { file: join(layout.configDir, 'state/instances/a.yaml'), line: 3, col: 1, pointer: '', message: 'instance/a is defined by the git source too' },
        { file: join(c.dir, 'rates.yaml'), line: 7, col: 3, pointer: '/metadata/name', message: 'overlay/rates is defined locally too' },
      ],
    });
    expect((await sync.fetchNow('test')).result).toBe('refused');
    expect(status(layout).lastError?.problems?.map((p) => `${p.file}:${p.line}`)).toEqual([`${layout.configDir}/state/instances/a.yaml:3`, 'hosts/rates.yaml:7']);
    expect(current(layout)).toBeNull();
    expect(status(layout).serving).toBeNull();

    // A commit with thousands of problems keeps the status file small: the first hundred are listed, the count is said.
    const noisy = make({}, { validate: async (c) => Array.from({ length: 5000 }, (_, i) => ({ file: join(c.dir, `f${i}.yaml`), line: 1, col: 1, pointer: '', message: 'bad' })) });
    await noisy.fetchNow('test');
    expect(status(layout).lastError?.problems).toHaveLength(100);
    expect(status(layout).lastError?.message).toMatch(/5000 problems \(the first 100 of 5000 are listed\), first hosts\/f0\.yaml:1:1 bad/);
  });

  it('refuses a name or documents path that would leave its directories', () => {
    const { make } = scenario();
    for (const path of ['../etc', '/etc', 'a/../../b', '', 'a//b', './a', 'a/.']) expect(() => make({ path }), path).toThrow(/must be "\." or a relative path/);
    expect(() => make({ name: '../x' })).toThrow(/name "\.\.\/x" must match/);
  });

  it('a deleted branch is reported and changes nothing', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    const sync = make();
    await sync.fetchNow('test');
    git(up.bare, ['update-ref', '-d', 'refs/heads/main']);
    const o = await sync.fetchNow('test');
    expect(o).toMatchObject({ result: 'failed', serving: c1 });
    expect(current(layout)).toBe(`checkouts/${c1}`);
    expect(status(layout).lastError).toMatchObject({ reason: 'ref-missing' });
    expect(status(layout).lastError?.message).toContain('branch "main"');
    expect(status(layout).serving?.commit).toBe(c1);
  });

  it('an unreachable remote (a removed path, a closed port) is reported and changes nothing', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    await make().fetchNow('test');
    renameSync(up.bare, `${up.bare}.gone`);
    expect(await make().fetchNow('test')).toMatchObject({ result: 'failed', serving: c1 });
    expect(status(layout).lastError).toMatchObject({ reason: 'fetch-failed' });
    expect(current(layout)).toBe(`checkouts/${c1}`);

    // A port nothing listens on: bound, then closed, so the number is free and refuses connections.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const o = await make({ url: `http://127.0.0.1:${port}/upstream.git` }).fetchNow('test');
    expect(o).toMatchObject({ result: 'failed', serving: c1 });
    expect(status(layout).lastError).toMatchObject({ reason: 'fetch-failed' });
    expect(status(layout).lastError?.message).toMatch(/connect|refused/i);
    expect(status(layout).lastFetch?.tip).toBeUndefined();
    expect(current(layout)).toBe(`checkouts/${c1}`);
  });

  it('refuses a symlink, a submodule, a missing path and a tree over the size or file caps, naming what is wrong', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    await make().fetchNow('test');
    const expectRefused = async (sync: SourceSync, pattern: RegExp) => {
      const o = await sync.fetchNow('test');
      expect(o).toMatchObject({ result: 'refused', serving: c1 });
      expect(status(layout).lastError).toMatchObject({ reason: 'invalid' });
      expect(status(layout).lastError?.message).toMatch(pattern);
      expect(current(layout)).toBe(`checkouts/${c1}`);
    };

    up.commit({ 'hosts/passwd.yaml': { symlink: '/etc/passwd' } }, 'a link');
    up.push();
    await expectRefused(make(), /hosts\/passwd\.yaml: a symlink/);

    up.commit({ 'hosts/passwd.yaml': null }, 'unlink');
    git(up.work, ['update-index', '--add', '--cacheinfo', `160000,${c1},hosts/sub`]);
    git(up.work, ['commit', '--quiet', '-m', 'a gitlink']);
    up.push();
    await expectRefused(make(), /hosts\/sub: a submodule/);
    git(up.work, ['rm', '--quiet', '--cached', 'hosts/sub']);
    git(up.work, ['commit', '--quiet', '-m', 'no gitlink']);

    up.commit({ 'hosts/big.txt': 'x'.repeat(5000) }, 'big');
    up.push();
    await expectRefused(make({}, { limits: { maxBytes: 4096 } }), /holds \d+ bytes, more than the 4096 allowed/);
    await expectRefused(make({}, { limits: { maxFiles: 1 } }), /holds 2 files, more than the 1 allowed/);
    await expectRefused(make({ path: 'elsewhere' }), /"elsewhere" does not exist in this commit/);
    await expectRefused(make({ path: 'hosts/big.txt' }), /is not a directory/);
  });

  it('a fetch that would write more than the fetch cap is stopped: a hostile remote cannot fill the disk before the tree checks', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    await make().fetchNow('test');
    // Random bytes do not compress: the pack is as large as the file.
    up.commit({ 'assets/noise.bin': randomBytes(3 << 20).toString('base64') }, 'noise');
    up.push();
    expect(await make({}, { maxFetchBytes: 1 << 20 }).fetchNow('test')).toMatchObject({ result: 'failed', serving: c1 });
    expect(status(layout).lastError).toMatchObject({ reason: 'fetch-failed' });
    expect(status(layout).lastError?.message).toMatch(/would write a file larger than 1048576 bytes/);
    expect(current(layout)).toBe(`checkouts/${c1}`);
    // Under the default cap the same commit is fine (the noise is outside the documents path).
    expect((await make().fetchNow('test')).result).toBe('served');
  });

  it('hooks, core.fsmonitor, core.sshCommand and uploadpack.packObjectsHook of the remote repository never run', async () => {
    const { dir, up, layout, make } = scenario();
    const marker = join(dir, 'ran');
    const hook = `#!/bin/sh\ntouch '${marker}'\n`;
    for (const h of ['post-checkout', 'post-merge', 'pre-upload-pack', 'reference-transaction', 'post-update']) {
      writeFileSync(join(up.bare, 'hooks', h), hook);
      chmodSync(join(up.bare, 'hooks', h), 0o755);
    }
    for (const [k, v] of [
      ['core.fsmonitor', `touch '${marker}'`],
      ['core.sshCommand', `touch '${marker}'`],
      ['uploadpack.packObjectsHook', `touch '${marker}'; exec`],
    ]) git(up.bare, ['config', k!, v!]);
    rmSync(marker, { force: true });
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    // Pushing runs the upstream's own post-update hook (not left4me's doing), which shows the marker works; then it is removed.
    up.push();
    expect(existsSync(marker)).toBe(true);
    rmSync(marker, { force: true });
    expect(await make().fetchNow('test')).toMatchObject({ result: 'served', serving: c1 });
    up.commit({ 'hosts/more.yaml': overlayDoc('more') }, 'two');
    up.push();
    rmSync(marker, { force: true });
    expect((await make().fetchNow('test')).result).toBe('served');
    expect(existsSync(marker)).toBe(false);
    // left4me's own repository has no hooks directory content either (no template).
    expect(readdirSync(join(layout.sourcesDir, 'fleet', 'repo.git')).includes('hooks') ? readdirSync(join(layout.sourcesDir, 'fleet', 'repo.git', 'hooks')) : []).toEqual([]);
  });

  it('a restart finds current and the status and serves without a fetch', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    await make().fetchNow('test');
    const since = status(layout).serving?.since;
    renameSync(up.bare, `${up.bare}.away`); // a restart needs no remote to serve
    const again = make();
    // Serving at once, before any fetch.
    expect(await again.restore()).toEqual({ name: 'fleet', dir: join(layout.sourcesDir, 'fleet', 'checkouts', c1, 'hosts'), commit: c1, path: 'hosts' });
    const o = await again.fetchNow('restart');
    expect(o).toMatchObject({ result: 'failed', serving: c1 });
    expect(again.serving()?.commit).toBe(c1);
    expect(status(layout).serving).toMatchObject({ commit: c1, since });
    renameSync(`${up.bare}.away`, up.bare);
    expect(await again.fetchNow('test')).toMatchObject({ result: 'unchanged', serving: c1, error: null });
  });

  it('calls during a running fetch coalesce into one more run', async () => {
    const { up, make } = scenario();
    up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inValidate = new Promise<void>((r) => (entered = r));
    let validations = 0;
    const sync = make({}, {
      validate: async (c) => {
        validations++;
        entered();
        await gate;
        return (await loadState(c.dir)).problems;
      },
    });
    const first = sync.fetchNow('a');
    await inValidate;
    const second = sync.fetchNow('b');
    const third = sync.fetchNow('c');
    expect(third).toBe(second);
    expect(second).not.toBe(first);
    release();
    expect((await first).result).toBe('served');
    expect((await second).result).toBe('unchanged');
    expect(validations).toBe(1);
  });

  it('start() fetches at once and stop() ends polling', async () => {
    const { up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    const sync = make({ intervalMs: 50 });
    sync.start();
    const deadline = Date.now() + 20_000;
    while (current(layout) !== `checkouts/${c1}` && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(current(layout)).toBe(`checkouts/${c1}`);
    const c2 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates', 'sv_maxrate 2') }, 'two');
    up.push();
    while (current(layout) !== `checkouts/${c2}` && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(current(layout)).toBe(`checkouts/${c2}`);
    await sync.stop();
    const at = status(layout).lastFetch?.at;
    up.commit({ 'hosts/rates.yaml': overlayDoc('rates', 'sv_maxrate 3') }, 'three');
    up.push();
    // Stopped: a fetch through fetchNow still works, but nothing polls on its own (the status stays as written).
    await new Promise((r) => setTimeout(r, 300));
    expect(status(layout).lastFetch?.at).toBe(at);
  });
});

describe('git source credentials', () => {
  it('HTTPS with a token: fetches with it, fails clearly with a wrong one, and the token is in no process, status or log', async () => {
    const { dir, up, layout, logs, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    const token = `tok-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    const server = await gitHttpServer(join(dir, 'up'), 'deploy', token);
    try {
      const creds = join(layout.gitCredentialsDir, 'fleet-https');
      mkdirSync(creds, { recursive: true });
      writeFileSync(join(creds, 'token'), 'wrong-token\n', { mode: 0o600 });
      writeFileSync(join(creds, 'username'), 'deploy\n', { mode: 0o600 });
      const url = `${server.url}/upstream.git`;
      const wrong = await make({ url, credentials: 'fleet-https' }).fetchNow('test');
      expect(wrong).toMatchObject({ result: 'failed', serving: null });
      expect(status(layout).lastError).toMatchObject({ reason: 'fetch-failed' });
      expect(status(layout).lastError?.message).toMatch(/Authentication failed/i);
      expect(status(layout).lastError?.message).not.toContain('wrong-token');
      expect(server.refused).toBeGreaterThan(0);

      writeFileSync(join(creds, 'token'), `${token}\n`, { mode: 0o600 });
      const sync = make({ url, credentials: 'fleet-https' });
      const held = server.hold();
      const fetching = sync.fetchNow('test');
      await held.reached;
      // The fetch is in flight and git holds the token: no process's argv or environment may carry it.
      const leaks: string[] = [];
      let remoteHelpers = 0;
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        for (const f of ['cmdline', 'environ']) {
          let text: string;
          try {
            text = readFileSync(`/proc/${pid}/${f}`, 'latin1');
          } catch {
            continue;
          }
          if (f === 'cmdline' && text.includes('remote-http')) remoteHelpers++;
          if (text.includes(token)) leaks.push(`${pid}/${f}`);
        }
      }
      held.release();
      expect(remoteHelpers).toBeGreaterThan(0);
      expect(leaks).toEqual([]);
      expect(await fetching).toMatchObject({ result: 'served', serving: c1 });
      expect(readFileSync(join(layout.statusDir, 'sources', 'fleet.json'), 'utf8')).not.toContain(token);
      expect(logs.join('\n')).not.toContain(token);
      expect(logs.join('\n')).not.toContain('wrong-token');
      expect(status(layout).url).toBe(url);
    } finally {
      await server.close();
    }
  });

  it('SSH with a deploy key: the ssh stand-in gets -i, IdentitiesOnly, the pinned known_hosts, StrictHostKeyChecking=yes and BatchMode=yes', async () => {
    const { dir, up, layout, make } = scenario();
    const c1 = up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    const creds = join(layout.gitCredentialsDir, 'fleet-ssh');
    mkdirSync(creds, { recursive: true });
    const key = join(creds, 'ssh-key');
    const knownHosts = join(creds, 'known_hosts');
    writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
    const standIn = sshStandIn(join(dir, 'stand-in'), key, knownHosts);
    const url = `ssh://git@git.example.invalid${up.bare}`;

    // A deploy key without pinned host keys is refused before ssh runs.
    const noPins = await make({ url, credentials: 'fleet-ssh' }, { sshProgram: standIn.program }).fetchNow('test');
    expect(noPins).toMatchObject({ result: 'failed', serving: null });
    expect(status(layout).lastError?.message).toContain(`${knownHosts} does not exist: a deploy key without pinned host keys is refused`);
    expect(existsSync(standIn.log)).toBe(false);

    writeFileSync(knownHosts, 'git.example.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyDummyDummyDummyDummyDummyDummyDummy\n');
    chmodSync(key, 0o640);
    await make({ url, credentials: 'fleet-ssh' }, { sshProgram: standIn.program }).fetchNow('test');
    expect(status(layout).lastError?.message).toMatch(/ssh-key is readable by group or others \(mode 640\)/);
    expect(status(layout).lastError?.message).not.toContain('not a real key');

    chmodSync(key, 0o600);
    expect(await make({ url, credentials: 'fleet-ssh' }, { sshProgram: standIn.program }).fetchNow('test')).toMatchObject({ result: 'served', serving: c1 });
    const argv = readFileSync(standIn.log, 'utf8');
    expect(argv).toContain(`-i ${key}`);
    expect(argv).toContain(`UserKnownHostsFile=${knownHosts}`);
    expect(argv).toContain('git-upload-pack');
    expect(argv).not.toContain('not a real key');
  });

  it('a URL with userinfo is shown without it', async () => {
    const { up, layout, make } = scenario();
    up.commit({ 'hosts/rates.yaml': overlayDoc('rates') }, 'one');
    up.push();
    await make({ url: 'https://user:hunter2@127.0.0.1:1/x.git' }).fetchNow('test');
    const text = readFileSync(join(layout.statusDir, 'sources', 'fleet.json'), 'utf8');
    expect(text).not.toContain('hunter2');
    expect(status(layout).url).toBe('https://127.0.0.1:1/x.git');
    expect(status(layout).lastError?.reason).toBe('fetch-failed');
  });
});
