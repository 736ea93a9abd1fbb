// deploy/left4me-web.service as a real host runs it, inside a private systemd:
// the accounts and directories from deploy/'s sysusers and tmpfiles files, the
// unit as shipped (only ExecStart= points at this checkout), asked over HTTP
// from this process. Checks who the process is, what it may write and what it
// can never read, and systemd's own exposure score of the unit.
import { createHmac } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile, chmod, chown, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPrivateHost, type PrivateHost } from '../controller/demo/private-host/private-host.js';
import { hostLayout } from '../controller/host/layout.js';
import { watchTriggers } from '../controller/sources/triggers.js';
import { ensureWebhookSecrets } from '../controller/sources/webhook-secrets.js';
import { BASE_DOCS, instanceDoc, waitFor } from './support/demo-host.js';
import { addWebUser, APP_DIR, createWebToken, hostCli, installWebUnit, runInWebSandbox, startWebUnit, webBinds, webJournal, webMainPid, WEB_DATA_DIR, WEB_UNIT } from './support/web-host.js';

// The web port of this suite (see the port list in test/support/demo-host.ts).
const PORT = 28800;
const BASE = `http://127.0.0.1:${PORT}`;
// A listener of this process that the sandbox tries to reach (on every address).
const PROBE_PORT = 28801;
let host: PrivateHost;
let token: string;
let web: { uid: number; gid: number };

/** An account's uid and gid as the host's name service has them. */
async function account(name: string): Promise<{ uid: number; gid: number }> {
  const r = await host.exec('getent', ['passwd', name]);
  const f = r.stdout.trim().split(':');
  expect(f[0], `no ${name} account in the host`).toBe(name);
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

async function modeOf(p: string): Promise<[number, number, number]> {
  const st = await stat(join(host.root, p));
  return [st.mode & 0o7777, st.uid, st.gid];
}

beforeAll(async () => {
  host = await bootPrivateHost({ binds: webBinds() });
  await installWebUnit(host, PORT);
  web = await account('left4me-web');
  await writeFile(join(host.dirs.etc, 'state', 'base.yaml'), BASE_DOCS);
  await writeFile(join(host.dirs.etc, 'state', 'instances', 'w1.yaml'), instanceDoc('w1'));
  // Secrets where the controller keeps them: root's, 0600.
  await writeFile(join(host.dirs.etc, 'secrets', 'steam.json'), '{"default": {"username": "u", "password": "steam-secret"}}\n', { mode: 0o600 });
  await writeFile(join(host.dirs.varLib, 'secrets', 'rcon.json'), '{"w1": "rcon-secret"}\n', { mode: 0o600 });
  await addWebUser(host, 'admin', 'correct horse battery', true);
  token = await createWebToken(host, 'admin');
  await startWebUnit(host, PORT);
}, 90_000);

afterAll(async () => {
  await host?.stop();
});

describe('deploy/left4me-web.service in a private host', () => {
  it('sysusers makes the left4me-web account; tmpfiles gives the state tree to its group, setgid', async () => {
    expect(web.uid).toBeGreaterThan(0);
    const group = (await host.exec('getent', ['group', 'left4me-web'])).stdout.split(':');
    expect(Number(group[2])).toBe(web.gid);
    expect(await modeOf('/etc/left4me/state')).toEqual([0o2775, 0, web.gid]);
    for (const kind of ['installations', 'overlays', 'blueprints', 'instances']) expect(await modeOf(`/etc/left4me/state/${kind}`)).toEqual([0o2775, 0, web.gid]);
    // Git sources: the web group may drop triggers and open webhook secrets; credentials and repositories are root's.
    expect(await modeOf('/var/lib/left4me/triggers')).toEqual([0o2770, 0, web.gid]);
    expect(await modeOf('/var/lib/left4me/secrets/webhooks')).toEqual([0o710, 0, web.gid]);
    expect(await modeOf('/var/lib/left4me/sources')).toEqual([0o755, 0, 0]);
    expect(await modeOf('/etc/left4me/secrets/git')).toEqual([0o700, 0, 0]);
    expect(await modeOf(WEB_DATA_DIR)).toEqual([0o700, web.uid, web.gid]);
    // `left4me user add` ran as root, yet the account file is the web account's (and nobody else's).
    expect(await modeOf(`${WEB_DATA_DIR}/users.json`)).toEqual([0o600, web.uid, web.gid]);
  });

  it('answers /healthz, and GET /api/v1/instances with a token (401 without one)', async () => {
    const health = await fetch(`${BASE}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    expect((await fetch(`${BASE}/api/v1/instances`)).status).toBe(401);
    const r = await fetch(`${BASE}/api/v1/instances`, { headers: { authorization: `Bearer ${token}` } });
    const body = await r.text();
    expect(r.status, body).toBe(200);
    expect(body).toContain('w1');
    const journal = await webJournal(host);
    expect(journal).not.toMatch(/EACCES|EPERM|Read-only file system|seccomp/i);
  });

  it('runs as left4me-web with no capabilities and no way to gain any', async () => {
    expect((await host.exec('systemctl', ['is-active', WEB_UNIT])).stdout.trim()).toBe('active');
    const pid = await webMainPid(host);
    expect(pid, 'no main process').not.toBeNull();
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
    expect(field('Uid')).toEqual(Array(4).fill(String(web.uid)));
    expect(field('Gid')).toEqual(Array(4).fill(String(web.gid)));
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(cap), cap).toEqual(['0000000000000000']);
    expect(field('NoNewPrivs')).toEqual(['1']);
    expect(field('Seccomp')).toEqual(['2']);
  });

  it('writes into the state directory (0600, group left4me-web) and nowhere else, whatever the modes', async () => {
    // Directories any account may write: only the sandbox (ProtectSystem=strict) stops it.
    const wide = ['status', 'sources', 'secrets/webhooks'];
    for (const d of wide) await chmod(join(host.dirs.varLib, d), 0o777);
    const r = await runInWebSandbox(
      host,
      'echo "# probe" > /etc/left4me/state/instances/probe.yaml && echo wrote-state; ' +
        `echo x > ${WEB_DATA_DIR}/probe && echo wrote-data; ` +
        'echo x > /var/lib/left4me/triggers/probe && echo wrote-triggers; ' +
        'echo x > /var/lib/left4me/status/probe || echo no-status; ' +
        'echo x > /var/lib/left4me/sources/probe || echo no-sources; ' +
        'echo x > /var/lib/left4me/secrets/webhooks/probe || echo no-webhook-secrets; ' +
        'echo x > /etc/left4me/probe || echo no-etc; ' +
        'echo x > /tmp/probe && test ! -e /proc/1/root/tmp/probe && echo private-tmp',
    );
    await chmod(join(host.dirs.varLib, 'status'), 0o755);
    await chmod(join(host.dirs.varLib, 'sources'), 0o755);
    await chmod(join(host.dirs.varLib, 'secrets/webhooks'), 0o710);
    await rm(join(host.dirs.varLib, 'triggers', 'probe'), { force: true });
    expect(r.stdout.split('\n').filter(Boolean), r.stderr).toEqual(['wrote-state', 'wrote-data', 'wrote-triggers', 'no-status', 'no-sources', 'no-webhook-secrets', 'no-etc', 'private-tmp']);
    for (const d of ['status', 'sources', 'secrets/webhooks']) expect(r.stderr).toMatch(new RegExp(`${d}/probe: Read-only file system`));
    expect(await modeOf('/etc/left4me/state/instances/probe.yaml')).toEqual([0o600, web.uid, web.gid]);
  });

  it('takes a signed webhook without an account and leaves a trigger file the controller picks up; a wrong signature is 401 and leaves none', async () => {
    // The secret as the controller makes it at start: 0640 root:left4me-web.
    const layout = hostLayout(host.dirs.varLib, host.dirs.etc);
    expect(await ensureWebhookSecrets(layout, ['site'], web.gid)).toEqual({ created: ['site'] });
    const secret = (await readFile(join(layout.webhookSecretsDir, 'site'), 'utf8')).trim();
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'f'.repeat(40) });
    const post = (key: string) =>
      fetch(`${BASE}/api/v1/hooks/git/site`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', key).update(body).digest('hex')}` },
        body,
      });
    const wrong = await post('not the secret');
    expect(wrong.status, await wrong.clone().text()).toBe(401);
    expect(await readdir(layout.triggersDir)).toEqual([]);
    const right = await post(secret);
    expect(right.status, await right.clone().text()).toBe(202);
    // The web account's file (its group by the setgid directory, its UMask=0077), holding only a time.
    expect(await modeOf('/var/lib/left4me/triggers/git-site')).toEqual([0o600, web.uid, web.gid]);
    expect(await readFile(join(layout.triggersDir, 'git-site'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    // The controller's watcher, run from this process on the host's directory: the waiting trigger, then a new one.
    const fired: string[] = [];
    const watch = watchTriggers(layout, { names: () => ['site'], onTrigger: (name) => void fired.push(name), log: pino({ enabled: false }) });
    try {
      await waitFor('the waiting trigger to fire', async () => fired.length === 1);
      expect((await post(secret)).status).toBe(202);
      await waitFor('the new trigger to fire', async () => fired.length === 2);
      expect((await post('still not the secret')).status).toBe(401);
      await watch.scan();
      expect(fired).toEqual(['site', 'site']);
      expect(await readdir(layout.triggersDir)).toEqual([]);
    } finally {
      await watch.close();
    }
    const journal = await webJournal(host);
    expect(journal).toContain('webhook accepted: fetch requested');
    expect(journal).toContain('webhook refused');
    expect(journal).not.toContain(secret);
  });

  it('shares documents with root: each rewrites the other\'s files with the same writer, the web\'s stay its own', async () => {
    const file = join(host.dirs.etc, 'state', 'instances', 'w2.yaml');
    const doc = (hostname: string) => instanceDoc('w2', [`cvars: {hostname: "${hostname}"}`]);
    const apply = `/usr/bin/node ${APP_DIR}/controller/bin/left4me.js apply -f - --state /etc/left4me/state`;
    // Root (`left4me apply` at a shell) creates it: group left4me-web through the setgid directory.
    const root1 = await hostCli(host, ['apply', '-f', '-', '--state', '/etc/left4me/state'], doc('by root'));
    expect(root1.code, root1.stderr).toBe(0);
    expect(await modeOf('/etc/left4me/state/instances/w2.yaml')).toEqual([0o644, 0, web.gid]);
    // The web account rewrites root's file (it may replace it in the group-writable directory).
    const byWeb = await runInWebSandbox(host, `printf '%s' '${doc('by web')}' | ${apply}`);
    expect(byWeb.code, byWeb.stdout + byWeb.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('by web');
    expect(await modeOf('/etc/left4me/state/instances/w2.yaml')).toEqual([0o600, web.uid, web.gid]);
    // Root rewrites the web's file and leaves it the web's.
    const root2 = await hostCli(host, ['apply', '-f', '-', '--state', '/etc/left4me/state'], doc('by root again'));
    expect(root2.code, root2.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('by root again');
    expect(await modeOf('/etc/left4me/state/instances/w2.yaml')).toEqual([0o600, web.uid, web.gid]);
  });

  it('keeps its accounts file as the web account, under the syscall filter (no chown)', async () => {
    const r = await runInWebSandbox(host, `echo 'a long enough password' | /usr/bin/node ${APP_DIR}/controller/bin/left4me.js user add bob --password-stdin --web-data-dir ${WEB_DATA_DIR}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await modeOf(`${WEB_DATA_DIR}/users.json`)).toEqual([0o600, web.uid, web.gid]);
    expect((await hostCli(host, ['user', 'list', '--web-data-dir', WEB_DATA_DIR])).stdout).toMatch(/^bob\s+user/m);
  });

  it('never sees the Steam login, even when its modes would allow it; RCON passwords only once a group grants them', async () => {
    const probe = 'cat /etc/left4me/secrets/steam.json || echo no-steam; cat /var/lib/left4me/secrets/rcon.json || echo no-rcon';
    expect((await runInWebSandbox(host, probe)).stdout.split('\n').filter(Boolean)).toEqual(['no-steam', 'no-rcon']);
    // Loosen the modes: the Steam login stays hidden (InaccessiblePaths=), and the
    // RCON file turns readable through the left4me-web group — PrivateUsers= maps
    // root to itself and other ids to nobody, but the kernel still checks real ids.
    await chmod(join(host.dirs.etc, 'secrets'), 0o755);
    await chmod(join(host.dirs.etc, 'secrets', 'steam.json'), 0o644);
    await chown(join(host.dirs.varLib, 'secrets'), 0, web.gid);
    await chmod(join(host.dirs.varLib, 'secrets'), 0o710);
    await chown(join(host.dirs.varLib, 'secrets', 'rcon.json'), 0, web.gid);
    await chmod(join(host.dirs.varLib, 'secrets', 'rcon.json'), 0o640);
    try {
      const r = await runInWebSandbox(host, probe);
      expect(r.stdout).not.toContain('steam-secret');
      expect(r.stdout.split('\n').filter(Boolean)).toEqual(['no-steam', '{"w1": "rcon-secret"}']);
    } finally {
      await chmod(join(host.dirs.etc, 'secrets'), 0o700);
      await chmod(join(host.dirs.etc, 'secrets', 'steam.json'), 0o600);
      await chown(join(host.dirs.varLib, 'secrets'), 0, 0);
      await chmod(join(host.dirs.varLib, 'secrets'), 0o700);
      await chown(join(host.dirs.varLib, 'secrets', 'rcon.json'), 0, 0);
      await chmod(join(host.dirs.varLib, 'secrets', 'rcon.json'), 0o600);
    }
  });

  it("reads files a game server's own uid owns (PrivateUsers= shows them as nobody, modes still apply)", async () => {
    const dir = join(host.dirs.varLib, 'instances', 'w1', 'upper');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'server.log'), 'hello from w1\n', { mode: 0o644 });
    await writeFile(join(dir, 'private.txt'), 'mine\n', { mode: 0o600 });
    const serverUid = 0x70000001;
    for (const f of ['server.log', 'private.txt']) await chown(join(dir, f), serverUid, host.account.gid);
    const r = await runInWebSandbox(host, 'cd /var/lib/left4me/instances/w1/upper && cat server.log && stat -c %U private.txt && (cat private.txt || echo no-private)');
    expect(r.stdout.split('\n').filter(Boolean), r.stderr).toEqual(['hello from w1', 'nobody', 'no-private']);
  });

  it('reaches loopback and no other address', async () => {
    const server = createServer((sock) => sock.end('hello\n'));
    await new Promise<void>((resolve) => server.listen(PROBE_PORT, '0.0.0.0', resolve));
    try {
      const outside = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
      expect(outside, 'this machine has no non-loopback IPv4 address to try').toBeDefined();
      const connect = (addr: string) => `/usr/bin/node -e "require('net').connect(${PROBE_PORT}, '${addr}').on('data', (d) => console.log('${addr}', String(d).trim())).on('error', (e) => console.log('${addr}', e.code)).setTimeout(5000, function () { console.log('${addr}', 'timeout'); this.destroy() })"`;
      // Outside the sandbox the address answers at once: the unit's IP firewall is what stops it
      // (it drops the packets, so the connection times out rather than failing).
      const plain = await host.exec('systemd-run', ['--quiet', '--wait', '--pipe', '--collect', '/bin/sh', '-c', connect(outside!)]);
      expect(plain.stdout.trim(), plain.stderr).toBe(`${outside} hello`);
      const r = await runInWebSandbox(host, `${connect('127.0.0.1')}; ${connect(outside!)}`);
      const lines = r.stdout.split('\n').filter(Boolean);
      expect(lines[0], r.stderr).toBe('127.0.0.1 hello');
      expect(lines[1]).toMatch(new RegExp(`^${outside!.replace(/\./g, '\\.')} (timeout|EPERM)$`));
    } finally {
      server.close();
    }
  });

  it('node cannot run under MemoryDenyWriteExecute= (why the unit leaves it out)', async () => {
    const r = await host.exec('systemd-run', ['--quiet', '--wait', '--pipe', '--collect', '-p', 'MemoryDenyWriteExecute=yes', '/usr/bin/node', '-e', 'console.log(JSON.stringify([1,2].map((x) => x * 2)))']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('[2,4]');
    // V8 itself dies (its code space cannot be made executable), not something around it.
    expect(r.stderr).toMatch(/v8::internal::/);
  });

  it('passes systemd-analyze verify and scores at most 2.0 in systemd-analyze security', async () => {
    const verify = await host.exec('systemd-analyze', ['verify', WEB_UNIT]);
    expect(`${verify.stdout}\n${verify.stderr}`.split('\n').filter((l) => l.trim() !== '')).toEqual([]);
    const sec = await host.exec('systemd-analyze', ['security', '--no-pager', WEB_UNIT]);
    const m = /Overall exposure level for left4me-web\.service: ([0-9.]+)/.exec(sec.stdout);
    expect(m, sec.stdout + sec.stderr).not.toBeNull();
    console.log(`systemd-analyze security ${WEB_UNIT}: ${m![1]}`);
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });

  it('stops cleanly on systemctl stop (SIGTERM): exit 0, inactive, not failed', async () => {
    const stop = await host.exec('systemctl', ['stop', WEB_UNIT]);
    expect(stop.code, stop.stderr).toBe(0);
    const show = await host.exec('systemctl', ['show', WEB_UNIT, '-p', 'ActiveState,Result,ExecMainStatus']);
    expect(show.stdout.trim().split('\n').sort()).toEqual(['ActiveState=inactive', 'ExecMainStatus=0', 'Result=success']);
    await expect(fetch(`${BASE}/healthz`)).rejects.toThrow();
  });
});
