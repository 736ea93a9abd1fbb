import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CredentialError, prepareCredentials } from './credentials.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-creds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const layout = { gitCredentialsDir: join(root, 'secrets') };
let n = 0;

function setup(files: Record<string, { text: string; mode?: number }>) {
  const name = `c${++n}`;
  const dir = join(layout.gitCredentialsDir, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, { text, mode }] of Object.entries(files)) {
    writeFileSync(join(dir, f), text);
    chmodSync(join(dir, f), mode ?? 0o600);
  }
  const home = join(root, `home-${name}`);
  mkdirSync(home, { recursive: true });
  return { name, dir, home };
}

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nkey-material-xyz\n-----END OPENSSH PRIVATE KEY-----\n';

describe('SSH deploy keys', () => {
  it('become a GIT_SSH_COMMAND naming the key and the pinned known_hosts by path, in batch mode with strict host key checking', async () => {
    const { name, dir, home } = setup({ 'ssh-key': { text: KEY }, known_hosts: { text: 'host ssh-ed25519 AAAA\n', mode: 0o644 } });
    const p = await prepareCredentials({ name: 'fleet', url: 'git@host:fleet.git', credentials: name }, layout, 'ssh', home);
    expect(p.env.GIT_SSH_COMMAND).toBe(`'ssh' -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -i '${dir}/ssh-key' -o IdentitiesOnly=yes -o UserKnownHostsFile='${dir}/known_hosts'`);
    expect(JSON.stringify(p)).not.toContain('key-material');
  });

  it('refuses a key readable by group or others, a missing key and a missing known_hosts, naming the file and never its content', async () => {
    const loose = setup({ 'ssh-key': { text: KEY, mode: 0o644 }, known_hosts: { text: 'h k\n' } });
    const e1 = await prepareCredentials({ name: 'f', url: 'ssh://h/x', credentials: loose.name }, layout, 'ssh', loose.home).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(CredentialError);
    expect((e1 as Error).message).toBe(`the SSH deploy key ${loose.dir}/ssh-key is readable by group or others (mode 644): chmod 600 it`);

    const noKey = setup({ known_hosts: { text: 'h k\n' } });
    const e2 = await prepareCredentials({ name: 'f', url: 'ssh://h/x', credentials: noKey.name }, layout, 'ssh', noKey.home).catch((e: unknown) => e);
    expect((e2 as Error).message).toBe(`the SSH deploy key ${noKey.dir}/ssh-key does not exist`);

    const noPins = setup({ 'ssh-key': { text: KEY } });
    const e3 = await prepareCredentials({ name: 'f', url: 'ssh://h/x', credentials: noPins.name }, layout, 'ssh', noPins.home).catch((e: unknown) => e);
    expect((e3 as Error).message).toMatch(new RegExp(`known_hosts does not exist: a deploy key without pinned host keys is refused`));
    expect((e3 as Error).message).not.toContain('key-material');
  });

  it('without credentials, ssh still never prompts and never trusts a host on first sight', async () => {
    const home = join(root, 'bare-home');
    mkdirSync(home, { recursive: true });
    const p = await prepareCredentials({ name: 'f', url: 'ssh://h/x' }, layout, 'ssh', home);
    expect(p.env.GIT_SSH_COMMAND).toContain('-o BatchMode=yes -o StrictHostKeyChecking=yes');
  });
});

describe('HTTPS tokens', () => {
  it('become a GIT_ASKPASS program that reads the token file when asked: the token is in no argv and no environment variable', async () => {
    const { name, home } = setup({ token: { text: 'tok-abc-123\n' }, username: { text: 'deployer\n' } });
    const p = await prepareCredentials({ name: 'f', url: 'https://git.example.org/x.git', credentials: name }, layout, 'https', home);
    expect(Object.keys(p.env)).toEqual(['GIT_ASKPASS']);
    expect(JSON.stringify(p.env)).not.toContain('tok-abc-123');
    expect(readFileSync(p.env.GIT_ASKPASS!, 'utf8')).not.toContain('tok-abc-123');
    expect(p.secrets).toEqual(['tok-abc-123']);
    const ask = (q: string) => execFileSync(p.env.GIT_ASKPASS!, [q], { encoding: 'utf8', env: {} }).trim();
    expect(ask("Username for 'https://git.example.org': ")).toBe('deployer');
    expect(ask("Password for 'https://deployer@git.example.org': ")).toBe('tok-abc-123');
  });

  it('defaults the username, and refuses a missing or empty token and a token over plain http to another host', async () => {
    const plain = setup({ token: { text: 'tok\n' } });
    const p = await prepareCredentials({ name: 'f', url: 'https://h/x', credentials: plain.name }, layout, 'https', plain.home);
    expect(execFileSync(p.env.GIT_ASKPASS!, ['Username for x'], { encoding: 'utf8' }).trim()).toBe('x-access-token');

    const none = setup({});
    await expect(prepareCredentials({ name: 'f', url: 'https://h/x', credentials: none.name }, layout, 'https', none.home)).rejects.toThrow(`the HTTPS token file ${none.dir}/token does not exist`);
    const empty = setup({ token: { text: '\n' } });
    await expect(prepareCredentials({ name: 'f', url: 'https://h/x', credentials: empty.name }, layout, 'https', empty.home)).rejects.toThrow(/is empty/);
    const remote = setup({ token: { text: 'tok-http\n' } });
    const e = await prepareCredentials({ name: 'f', url: 'http://git.example.org/x', credentials: remote.name }, layout, 'http', remote.home).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/refusing to send the token .* over plain http:\/\//);
    expect((e as Error).message).not.toContain('tok-http');
    await expect(prepareCredentials({ name: 'f', url: 'http://127.0.0.1:9/x', credentials: remote.name }, layout, 'http', remote.home)).resolves.toMatchObject({ secrets: ['tok-http'] });
  });

  it('refuses credentials for a local path and a credentials name that leaves the secrets directory', async () => {
    const c = setup({ token: { text: 't\n' } });
    await expect(prepareCredentials({ name: 'f', url: '/srv/x.git', credentials: c.name }, layout, 'file', c.home)).rejects.toThrow(/are for ssh or https URLs/);
    await expect(prepareCredentials({ name: 'f', url: 'https://h/x', credentials: '../../etc' }, layout, 'https', c.home)).rejects.toThrow(/must be a directory name below/);
  });
});
