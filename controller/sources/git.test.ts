import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GitError, redact, runGit, transportOf, type GitEnv } from './git.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-git-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = (over: Partial<GitEnv> = {}): GitEnv => ({ home: dir, safeDirectories: [], transport: 'file', ...over });

describe('transportOf', () => {
  it('names the transport of every URL form a source may use', () => {
    expect(transportOf('https://git.example.org/fleet.git')).toBe('https');
    expect(transportOf('http://127.0.0.1:8080/fleet.git')).toBe('http');
    expect(transportOf('ssh://git@git.example.org/fleet.git')).toBe('ssh');
    expect(transportOf('git@git.example.org:org/fleet.git')).toBe('ssh');
    expect(transportOf('file:///srv/fleet.git')).toBe('file');
    expect(transportOf('/srv/fleet.git')).toBe('file');
  });

  it('refuses transports that can run programs or are not one of those', () => {
    expect(() => transportOf('ext::sh -c touch% marker')).toThrow(/remote-helper syntax "ext::" is refused/);
    expect(() => transportOf('git://git.example.org/fleet.git')).toThrow(/unsupported URL scheme "git:\/\/"/);
    expect(() => transportOf('fd::3')).toThrow();
    expect(() => transportOf('relative/path')).toThrow();
    expect(() => transportOf('-uhost:path')).toThrow();
  });
});

describe('redact', () => {
  it('removes userinfo, secret query parameters, token shapes and exact secrets', () => {
    expect(redact("fatal: unable to access 'https://user:pa55@git.example.org/x.git/': 403")).toBe("fatal: unable to access 'https://***@git.example.org/x.git/': 403");
    expect(redact('https://git.example.org/x.git?private_token=abc123&ref=main')).toBe('https://git.example.org/x.git?private_token=***&ref=main');
    expect(redact(`token ghp_${'a'.repeat(36)} leaked`)).toBe('token *** leaked');
    expect(redact('the secret s3cr3t-value is here', ['s3cr3t-value'])).toBe('the secret *** is here');
  });
});

describe('runGit', () => {
  it('inherits no GIT_* variable and no user or system configuration; the safety configuration reaches git', async () => {
    const saved = { ...process.env };
    process.env.GIT_CONFIG_PARAMETERS = "'user.name'='inherited'";
    process.env.GIT_DIR = join(dir, 'nowhere');
    try {
      const r = await runGit(env({ safeDirectories: ['/srv/repo'] }), ['config', '--list', '--show-scope']);
      expect(r.stdout).not.toContain('inherited');
      expect(r.stdout).toContain('command\tcore.hookspath=/dev/null');
      expect(r.stdout).toContain('command\tprotocol.allow=never');
      expect(r.stdout).toContain('command\tprotocol.file.allow=always');
      expect(r.stdout).toContain('command\ttransfer.fsckobjects=true');
      expect(r.stdout).toContain('command\tsafe.directory=/srv/repo');
      expect(r.stdout).toContain('command\tsubmodule.recurse=false');
      expect(r.stdout).not.toMatch(/^(system|global)\t/m);
    } finally {
      process.env = saved;
    }
  });

  it('a timeout kills the whole process group, grandchildren included', async () => {
    const pidFile = join(dir, 'sleeper.pid');
    const err = await runGit(env(), ['-c', `alias.slow=!sleep 60 & echo $! > '${pidFile}'; wait`, 'slow'], { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitError);
    expect((err as GitError).killed).toBe('timeout');
    const pid = readFileSync(pidFile, 'utf8').trim();
    const deadline = Date.now() + 15_000;
    const alive = () => {
      try {
        return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
  });

  it('stops a run that prints more than the cap', async () => {
    const err = await runGit(env(), ['-c', 'alias.loud=!head -c 3000000 /dev/zero', 'loud'], { maxOutputBytes: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitError);
    expect((err as GitError).killed).toBe('output');
    expect((err as GitError).message).toMatch(/printed more than 1000 bytes/);
  });

  it('failure messages carry no userinfo or secret', async () => {
    const err = await runGit(env({ transport: 'https', secrets: ['sup3rsecret'] }), ['ls-remote', 'https://deploy:sup3rsecret@127.0.0.1:1/x.git'], { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitError);
    expect((err as GitError).message).toMatch(/ls-remote failed/);
    expect((err as GitError).message).not.toContain('sup3rsecret');
    expect((err as GitError).stderr).not.toContain('sup3rsecret');
  });

  it('a transport other than the allowed one is refused by git itself', async () => {
    const err = await runGit(env({ transport: 'https' }), ['ls-remote', join(dir, 'some.git')]).catch((e: unknown) => e);
    expect((err as GitError).message).toMatch(/transport 'file' not allowed/);
  });
});
