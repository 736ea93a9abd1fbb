/**
 * A source's credentials, turned into what git needs without a secret ever
 * reaching an argv, an environment variable, a status file or a log line:
 * an SSH deploy key becomes a GIT_SSH_COMMAND naming the key and the pinned
 * known_hosts by path; an HTTPS token becomes a GIT_ASKPASS program that
 * reads the token file itself when git asks. Both files live in the root-only
 * `<gitCredentialsDir>/<credentials>/`; errors name the file, never its
 * content.
 */
import { constants } from 'node:fs';
import { access, lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostLayout } from '../host/layout.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { Transport } from './git.js';
import type { GitSourceConfig } from './types.js';

/** A credential that cannot be used: the message says which file and what to do. */
export class CredentialError extends Error {}

/** What a source's git runs carry for its credentials. */
export interface PreparedCredentials {
  /** GIT_SSH_COMMAND / GIT_ASKPASS: paths only. */
  env: Record<string, string>;
  /** Exact secrets to remove from every message (the token). Kept in memory only. */
  secrets: string[];
}

/** Options that tests (and odd hosts) change. */
export interface CredentialOptions {
  /** The ssh program GIT_SSH_COMMAND runs (default `ssh`); a path whose basename is `ssh`, so git speaks OpenSSH's options to it. */
  sshProgram?: string;
}

/** Single-quotes a path for the shell git runs GIT_SSH_COMMAND with. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The file, which must be a regular file this process can read; otherwise a CredentialError naming it. */
async function usableFile(path: string, what: string, privateKey = false): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CredentialError(`${what} ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`);
  }
  if (!st.isFile()) throw new CredentialError(`${what} ${path} is not a regular file`);
  if (privateKey && (st.mode & 0o077) !== 0) {
    throw new CredentialError(`${what} ${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
  }
  try {
    await access(path, constants.R_OK);
  } catch (err) {
    throw new CredentialError(`${what} ${path} cannot be read (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** True for a host that is this machine (a token may travel over plain http only there). */
function isLoopback(url: string): boolean {
  try {
    const h = new URL(url).hostname;
    return h === 'localhost' || h === '[::1]' || /^127\./.test(h);
  } catch {
    return false;
  }
}

/**
 * Reads the source's credential directory (when it names one) and prepares
 * git's environment: SSH needs `ssh-key` (mode 600) and `known_hosts`
 * (pinned host keys: a deploy key without them is refused); HTTPS needs
 * `token` and may have `username`. The askpass program is written into the
 * source's private `home`. Without credentials, SSH still runs in batch mode
 * against the private HOME's (empty) known hosts, so it never prompts and
 * never trusts a host on first sight.
 */
export async function prepareCredentials(
  cfg: Pick<GitSourceConfig, 'name' | 'url' | 'credentials'>,
  layout: Pick<HostLayout, 'gitCredentialsDir'>,
  transport: Transport,
  home: string,
  opts: CredentialOptions = {},
): Promise<PreparedCredentials> {
  const ssh = opts.sshProgram ?? 'ssh';
  // -F /dev/null: neither /etc/ssh/ssh_config nor the service account's ~/.ssh/config (ssh finds it through the
  // password database, not HOME) can add a ProxyCommand, another identity or relaxed host checking.
  const sshBase = [shq(ssh), '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'];
  if (!cfg.credentials) {
    return { env: transport === 'ssh' ? { GIT_SSH_COMMAND: [...sshBase, '-o', `UserKnownHostsFile=${shq(join(home, 'known_hosts'))}`].join(' ') } : {}, secrets: [] };
  }
  if (cfg.credentials.includes('/') || cfg.credentials.startsWith('.')) throw new CredentialError(`credentials "${cfg.credentials}" must be a directory name below ${layout.gitCredentialsDir}`);
  const dir = join(layout.gitCredentialsDir, cfg.credentials);

  if (transport === 'ssh') {
    const key = join(dir, 'ssh-key');
    const knownHosts = join(dir, 'known_hosts');
    await usableFile(key, 'the SSH deploy key', true);
    try {
      await usableFile(knownHosts, 'the pinned host keys file');
    } catch (err) {
      throw new CredentialError(`${(err as Error).message}: a deploy key without pinned host keys is refused (put the server's host keys, as ssh-keyscan prints them, in ${knownHosts})`);
    }
    const command = [...sshBase, '-i', shq(key), '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${shq(knownHosts)}`].join(' ');
    return { env: { GIT_SSH_COMMAND: command }, secrets: [] };
  }

  if (transport === 'https' || transport === 'http') {
    const tokenFile = join(dir, 'token');
    const usernameFile = join(dir, 'username');
    await usableFile(tokenFile, 'the HTTPS token file');
    if (transport === 'http' && !isLoopback(cfg.url)) throw new CredentialError(`refusing to send the token in ${tokenFile} over plain http:// to another host: use https://`);
    const token = (await readFile(tokenFile, 'utf8')).trim();
    if (!token) throw new CredentialError(`the HTTPS token file ${tokenFile} is empty`);
    if (/[\r\n]/.test(token)) throw new CredentialError(`the HTTPS token file ${tokenFile} holds more than one line`);
    let hasUsername = false;
    try {
      await lstat(usernameFile);
      hasUsername = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CredentialError(`the username file ${usernameFile} cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
    if (hasUsername) await usableFile(usernameFile, 'the username file');
    // git asks twice: "Username for …" then "Password for …". The program reads the files itself when asked, so the
    // token is in no argv and no environment; it prints nothing for any other question.
    const askpass = join(home, 'askpass');
    const script = [
      '#!/bin/sh',
      '# Written by left4me: answers git\'s credential questions from the source\'s root-only files.',
      'case "$1" in',
      hasUsername ? `  Username*) exec head -n 1 ${shq(usernameFile)} ;;` : `  Username*) echo x-access-token ;;`,
      `  Password*) exec head -n 1 ${shq(tokenFile)} ;;`,
      '  *) exit 1 ;;',
      'esac',
      '',
    ].join('\n');
    await writeFileAtomic(askpass, script, 0o700);
    return { env: { GIT_ASKPASS: askpass }, secrets: [token] };
  }

  throw new CredentialError(`credentials "${cfg.credentials}" are for ssh or https URLs; ${cfg.url} is a local path`);
}
