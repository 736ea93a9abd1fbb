// Server logs through the journal namespace, on a private systemd host: the
// controller starts a demo server whose unit logs into the `left4me`
// namespace; the journal directory carries the ACL deploy/ gives the web
// group; the web service reads the server's lines as the left4me-web account
// (journalctl run inside the host under setpriv), which cannot read the
// system journal; RCON console commands the server logs show up in the API's
// answer and in a follow stream.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../controller/package-root.js';
import { buildWebApp } from '../controller/web/app.js';
import { UserStore } from '../controller/web/users.js';
import { BASE_DOCS, bootDemoHost, condition, instanceDoc, rcon, startController, waitFor, type DemoHost } from './support/demo-host.js';
import { openSse, type SseClient } from './support/sse-client.js';

const PORTS = { game: { min: 28950, max: 28969 }, client: { min: 29950, max: 29969 } };
let demo: DemoHost;
let ctl: Awaited<ReturnType<typeof startController>>;
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let token = '';
let webDir = '';
let port = 0;
let events: SseClient | undefined;
/** journalctl inside the host as the web account: its uid, its group and no other. */
let asWeb: string[] = [];

beforeAll(async () => {
  demo = await bootDemoHost();
  const h = demo.host;
  asWeb = ['setpriv', '--reuid=left4me-web', '--regid=left4me-web', '--init-groups', '--', 'journalctl'];
  // What a package install does before any server runs: the journal lines of deploy/'s tmpfiles.
  const deployLines = (await readFile(join(packageRoot(), 'deploy', 'left4me.tmpfiles.conf'), 'utf8')).split('\n').filter((l) => l.includes('/var/log/journal/'));
  expect(deployLines.length).toBeGreaterThan(0);
  await writeFile(join(h.root, 'run', 'left4me-journal.tmpfiles.conf'), `${deployLines.join('\n')}\n`);
  const t = await h.exec('systemd-tmpfiles', ['--create', '/run/left4me-journal.tmpfiles.conf']);
  expect(t.code, t.stderr).toBe(0);
  webDir = await mkdtemp(join(tmpdir(), 'left4me-web-logs-'));
  const users = new UserStore(webDir);
  await users.add('admin', 'an admin password', 'admin');
  token = await users.createToken('admin');
  await demo.write('base.yaml', BASE_DOCS);
  await demo.write('instances/logs-1.yaml', instanceDoc('logs-1'));
  // The web service starts before the controller has written any status: its feed must pick up directories that appear later.
  app = await buildWebApp({
    stateDir: demo.stateDir,
    dataDir: demo.host.dirs.varLib,
    webDataDir: webDir,
    live: { journalctl: ['nsenter', '--target', String(h.pid), '--mount', '--pid', '--', ...asWeb], rescanMs: 60_000 },
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  events = await openSse(`${base}/api/v1/events`, { authorization: `Bearer ${token}` });
  ctl = await startController(demo, { portRanges: PORTS });
  const st = await waitFor('logs-1 Ready', async () => {
    const s = await demo.status.read('Instance', 'logs-1');
    return condition(s, 'Ready') === 'True' ? s : undefined;
  }, 90_000);
  port = st.port!;
}, 180_000);

afterAll(async () => {
  events?.close();
  await app?.close();
  await ctl?.stop();
  await demo?.stop();
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

const api = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
const messages = async (path: string) => ((await (await api(path)).json()) as { lines: Array<{ message: string }> }).lines.map((l) => l.message);

describe('live events from a real controller', () => {
  it('streams the instance going Ready, with its port and unit, as the controller writes its status', async () => {
    const ready = await events!.waitFor('logs-1 Ready', (e) => e.event === 'status' && (e.data as { name: string; ready: string }).name === 'logs-1' && (e.data as { ready: string }).ready === 'True', 30_000);
    expect(ready.data).toMatchObject({ kind: 'Instance', name: 'logs-1', ready: 'True', port, unit: 'active' });
    // Overlays built on the way there are on the stream too.
    expect(events!.events.some((e) => e.event === 'status' && (e.data as { kind: string; build?: string }).kind === 'Overlay' && (e.data as { build?: string }).build === 'Succeeded')).toBe(true);
  }, 60_000);
});

describe('server logs in the left4me journal namespace', () => {
  it("serves the server's start-up lines and an RCON command it logged, read as the web account", async () => {
    const marker = `journal-${randomBytes(4).toString('hex')}`;
    await rcon(port, await demo.rconPassword('logs-1'), `echo ${marker}`);
    const lines = await waitFor('the marker in the API answer', async () => {
      const m = await messages('/api/v1/instances/logs-1/log?tail=500');
      return m.some((l) => l.includes(marker)) ? m : undefined;
    }, 20_000);
    expect(lines).toContain('Console initialized.');
    expect(lines.some((l) => l.includes(`command "echo ${marker}"`))).toBe(true);
  });

  it('follows: a later console command arrives on the stream', async () => {
    const s = await openSse(`${base}/api/v1/instances/logs-1/log?follow=1&tail=1`, { authorization: `Bearer ${token}` });
    try {
      await s.waitFor('the tail line', () => true, 20_000);
      const marker = `follow-${randomBytes(4).toString('hex')}`;
      await rcon(port, await demo.rconPassword('logs-1'), `echo ${marker}`);
      const ev = await s.waitFor('the new line', (e) => (e.data as { message: string }).message.includes(marker), 20_000);
      expect(ev.event).toBe('line');
      expect(ev.id).toMatch(/^s=/);
    } finally {
      s.close();
    }
  });

  it('the server lines are in the namespace, not the system journal; the web account cannot read the system journal', async () => {
    const h = demo.host;
    const sys = await h.exec('journalctl', ['-u', 'left4me-server@logs-1.service', '-o', 'cat', '--no-pager']);
    expect(sys.stdout).not.toContain('Console initialized.');
    // The system journal has lines (systemd's own about the unit) that root reads…
    const rootSys = await h.exec('journalctl', ['--no-pager', '-q', '-n', '20', '-o', 'cat']);
    expect(rootSys.stdout.trim()).not.toBe('');
    // …and the web account does not.
    const webSys = await h.exec('setpriv', ['--reuid=left4me-web', '--regid=left4me-web', '--init-groups', '--', 'journalctl', '--no-pager', '-q', '-n', '20', '-o', 'cat']);
    expect(webSys.stdout.trim()).toBe('');
    // What grants it is the ACL from deploy/: the journal files are their group's (systemd-journal) and
    // nobody else's, and the web account is not in that group.
    const nsDir = join(h.root, 'var', 'log', 'journal', `${(await readFile(join(h.root, 'etc', 'machine-id'), 'utf8')).trim()}.left4me`);
    const files = (await readdir(nsDir)).filter((f) => f.endsWith('.journal'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect((await stat(join(nsDir, f))).mode & 0o007, f).toBe(0);
    expect((await h.exec('id', ['-Gn', 'left4me-web'])).stdout.split(/\s+/)).not.toContain('systemd-journal');
    const webNs = await h.exec(asWeb[0]!, [...asWeb.slice(1), '--namespace=left4me', '-u', 'left4me-server@logs-1.service', '--no-pager', '-q', '-o', 'cat']);
    expect(webNs.stdout).toContain('Console initialized.');
  });

  it('left4me logs instance NAME reads the same lines at a root shell', async () => {
    const bin = join(packageRoot(), 'controller', 'bin', 'left4me.js');
    const r = await demo.host.exec(process.execPath, [bin, 'logs', 'instance', 'logs-1', '--tail', '500']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Console initialized.');
  });
});
