// deploy/ is what a real host installs: the accounts, the directories and the
// controller unit (the web unit: test/deploy-web.test.ts). Checked with systemd's own tools in a private host.
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../controller/package-root.js';
import { bootPrivateHost, type PrivateHost } from '../controller/demo/private-host/private-host.js';

let host: PrivateHost;
const deploy = join(packageRoot(), 'deploy');

beforeAll(async () => {
  host = await bootPrivateHost();
  await copyFile(join(deploy, 'left4me.sysusers.conf'), join(host.root, 'run/left4me.sysusers.conf'));
  await copyFile(join(deploy, 'left4me.tmpfiles.conf'), join(host.root, 'run/left4me.tmpfiles.conf'));
  await copyFile(join(deploy, 'left4me-controller.service'), join(host.dirs.units, 'left4me-controller.service'));
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

describe('deploy/', () => {
  it('sysusers declares the three accounts, and systemd-sysusers accepts the file', async () => {
    const r = await host.exec('systemd-sysusers', ['--dry-run', '/run/left4me.sysusers.conf']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/error|invalid|failed/i);
    // Against an empty root (the host already has the accounts), it says what a fresh host gets.
    await host.exec('mkdir', ['-p', '/run/empty-root/etc']);
    const fresh = await host.exec('systemd-sysusers', ['--dry-run', '--root=/run/empty-root', '/run/left4me.sysusers.conf']);
    expect(fresh.code, fresh.stderr).toBe(0);
    for (const name of ['left4me', 'left4me-build', 'left4me-web']) expect(fresh.stdout + fresh.stderr).toContain(`Creating user '${name}'`);
  });

  it('tmpfiles creates the tree with root-only secrets and a state dir the left4me-web group may write', async () => {
    const r = await host.exec('systemd-tmpfiles', ['--create', '/run/left4me.tmpfiles.conf']);
    expect(r.code, r.stderr).toBe(0);
    const mode = async (p: string) => {
      const st = await stat(join(host.root, p));
      return [st.mode & 0o7777, st.uid, st.gid];
    };
    expect(await mode('/etc/left4me/secrets')).toEqual([0o700, 0, 0]);
    // The web account's group may open rcon.json (0640 root:left4me-web) but not list the directory.
    const webGid = Number((await readFile(join(host.root, '/etc/group'), 'utf8')).split('\n').find((l) => l.startsWith('left4me-web:'))!.split(':')[2]);
    expect(await mode('/var/lib/left4me/secrets')).toEqual([0o710, 0, webGid]);
    expect(await mode('/var/lib/left4me/trash')).toEqual([0o700, 0, 0]);
    expect(await mode('/var/lib/left4me/logs/installations')).toEqual([0o700, 0, 0]);
    // The web service's group, setgid; not left4me, the game servers' group.
    const web = Number((await host.exec('getent', ['group', 'left4me-web'])).stdout.split(':')[2]);
    expect(web).not.toBe(host.account.gid);
    expect(await mode('/etc/left4me/state')).toEqual([0o2775, 0, web]);
    expect(await mode('/etc/left4me/state/instances')).toEqual([0o2775, 0, web]);
    expect(await mode('/var/lib/left4me/overlays')).toEqual([0o755, 0, 0]);
    expect(await mode('/etc/userdb')).toEqual([0o755, 0, 0]);
  });

  it('the controller unit passes systemd-analyze verify (but for the CLI not being installed here)', async () => {
    const r = await host.exec('systemd-analyze', ['verify', 'left4me-controller.service']);
    const complaints = `${r.stdout}\n${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('/usr/local/bin/left4me'));
    expect(complaints).toEqual([]);
    const sec = await host.exec('systemd-analyze', ['security', '--no-pager', 'left4me-controller.service']);
    const m = /Overall exposure level for left4me-controller\.service: ([0-9.]+)/.exec(sec.stdout);
    expect(m, sec.stdout + sec.stderr).not.toBeNull();
    console.log(`systemd-analyze security left4me-controller.service: ${m![1]}`);
  });
});
