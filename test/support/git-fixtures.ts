/**
 * Real git for the source-sync tests: an upstream bare repository with a
 * working clone that commits and pushes with the git CLI, a Basic-auth HTTP
 * server in front of `git http-backend` (CGI) that can hold an authorized
 * request open, and a stand-in `ssh` (no sshd on test machines) that checks
 * the options left4me passes and runs the requested git-upload-pack locally.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';

/** git for the fixtures themselves: the test account's and machine's configuration stay out. */
export function git(cwd: string, args: string[], extraEnv: Record<string, string> = {}): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: cwd,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Ada Author',
      GIT_AUTHOR_EMAIL: 'ada@example.org',
      GIT_COMMITTER_NAME: 'Ada Author',
      GIT_COMMITTER_EMAIL: 'ada@example.org',
      LC_ALL: 'C',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** An upstream: `bare` is what left4me fetches; `work` is the clone the test commits in. */
export class Upstream {
  readonly bare: string;
  readonly work: string;

  constructor(readonly dir: string) {
    this.bare = join(dir, 'upstream.git');
    this.work = join(dir, 'work');
    mkdirSync(dir, { recursive: true });
    git(dir, ['init', '--quiet', '--bare', '--initial-branch=main', this.bare]);
    git(dir, ['init', '--quiet', '--initial-branch=main', this.work]);
    git(this.work, ['remote', 'add', 'origin', this.bare]);
  }

  /** Writes (string), removes (null) or links ({ symlink }) files, commits everything and returns the commit id. */
  commit(files: Record<string, string | null | { symlink: string }>, subject: string, author?: string): string {
    for (const [rel, content] of Object.entries(files)) {
      const p = join(this.work, rel);
      rmSync(p, { force: true, recursive: true });
      if (content === null) continue;
      mkdirSync(dirname(p), { recursive: true });
      if (typeof content === 'string') writeFileSync(p, content);
      else execFileSync('ln', ['-s', content.symlink, p]);
    }
    git(this.work, ['add', '--all']);
    const env: Record<string, string> = author ? { GIT_AUTHOR_NAME: author.split(' <')[0]!, GIT_AUTHOR_EMAIL: author.split('<')[1]!.replace('>', '') } : {};
    git(this.work, ['commit', '--quiet', '--allow-empty', '-m', subject], env);
    return git(this.work, ['rev-parse', 'HEAD']);
  }

  push(branch = 'main', force = false): void {
    git(this.work, ['push', '--quiet', ...(force ? ['--force'] : []), 'origin', `HEAD:refs/heads/${branch}`]);
  }

  /** Rewrites history: a new root commit with these files, force-pushed. */
  rewrite(files: Record<string, string>, subject: string): string {
    git(this.work, ['checkout', '--quiet', '--orphan', `rewrite-${Date.now()}`]);
    git(this.work, ['rm', '-r', '--quiet', '--cached', '--ignore-unmatch', '.']);
    execFileSync('sh', ['-c', 'find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +'], { cwd: this.work });
    const c = this.commit(files, subject);
    this.push('main', true);
    return c;
  }
}

/** A minimal valid Overlay document. */
export function overlayDoc(name: string, cfg = 'sv_minrate 100000'): string {
  return [
    'apiVersion: left4me/v1',
    'kind: Overlay',
    'metadata:',
    `  name: ${name}`,
    '  owner: system',
    'spec:',
    '  sources:',
    '    - files:',
    '        - path: left4dead2/cfg/note.txt',
    '          content: hello',
    '  serverCfg: |',
    `    ${cfg}`,
    '',
  ].join('\n');
}

/** An HTTP server in front of `git http-backend` for the repositories below `projectRoot`, requiring Basic auth. */
export interface GitHttpServer {
  url: string;
  /** Authorized requests seen. */
  authorized: number;
  /** Unauthorized requests answered 401. */
  refused: number;
  /** Holds the next authorized requests until released; `reached` resolves when one is held. */
  hold(): { reached: Promise<void>; release(): void };
  close(): Promise<void>;
}

export async function gitHttpServer(projectRoot: string, username: string, token: string): Promise<GitHttpServer> {
  const backend = join(git(projectRoot, ['--exec-path']), 'git-http-backend');
  const expected = `Basic ${Buffer.from(`${username}:${token}`).toString('base64')}`;
  let gate: { reached: () => void; released: Promise<void> } | null = null;
  const state = { authorized: 0, refused: 0 };
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.headers.authorization !== expected) {
        state.refused++;
        req.resume();
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' });
        res.end('authentication required\n');
        return;
      }
      state.authorized++;
      if (gate) {
        const g = gate;
        g.reached();
        await g.released;
      }
      const url = new URL(req.url ?? '/', 'http://fixture');
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: projectRoot,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: username,
        REMOTE_ADDR: '127.0.0.1',
      };
      if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
      if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
      if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);
      const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'inherit'] });
      req.pipe(child.stdin);
      let head = Buffer.alloc(0);
      let started = false;
      child.stdout.on('data', (b: Buffer) => {
        if (started) return void res.write(b);
        head = Buffer.concat([head, b]);
        const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') + 4 : head.indexOf('\n\n') >= 0 ? head.indexOf('\n\n') + 2 : -1;
        if (end < 0) return;
        started = true;
        let status = 200;
        const headers: Record<string, string> = {};
        for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
          const i = line.indexOf(':');
          if (i <= 0) continue;
          const k = line.slice(0, i).trim();
          const v = line.slice(i + 1).trim();
          if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
          else headers[k] = v;
        }
        res.writeHead(status, headers);
        res.write(head.subarray(end));
      });
      child.on('close', () => res.end());
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get authorized() {
      return state.authorized;
    },
    get refused() {
      return state.refused;
    },
    hold() {
      let reached!: () => void;
      let release!: () => void;
      const r = new Promise<void>((res) => (reached = res));
      const released = new Promise<void>((res) => (release = res));
      gate = { reached, released };
      return {
        reached: r,
        release: () => {
          gate = null;
          release();
        },
      };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Writes a stand-in for ssh at `<dir>/ssh` (the basename makes git speak
 * OpenSSH's options to it). It appends its argv to `<dir>/argv.log`, refuses
 * (exit 255, like ssh) unless it got `-i expectKey`, `IdentitiesOnly=yes`,
 * `UserKnownHostsFile=expectKnownHosts`, `StrictHostKeyChecking=yes`,
 * `BatchMode=yes` and `-F /dev/null`, and otherwise runs the requested command (git-upload-pack
 * '<path>') locally, as sshd would on the far side.
 */
export function sshStandIn(dir: string, expectKey: string, expectKnownHosts: string): { program: string; log: string } {
  mkdirSync(dir, { recursive: true });
  const program = join(dir, 'ssh');
  const log = join(dir, 'argv.log');
  writeFileSync(
    program,
    `#!/bin/sh
# Stand-in for ssh in the git-sync tests: asserts the options, then runs the remote command locally.
printf '%s\\n' "$*" >> '${log}'
key= kh= strict= batch= ident= cfg=
while [ $# -gt 0 ]; do
  case "$1" in
    -i) key=$2; shift 2 ;;
    -o) case "$2" in
          UserKnownHostsFile=*) kh=\${2#UserKnownHostsFile=} ;;
          StrictHostKeyChecking=yes) strict=1 ;;
          BatchMode=yes) batch=1 ;;
          IdentitiesOnly=yes) ident=1 ;;
        esac
        shift 2 ;;
    -F) cfg=$2; shift 2 ;;
    -p|-l) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ "$key" = '${expectKey}' ] || { echo "stand-in ssh: expected -i ${expectKey}, got '$key'" >&2; exit 255; }
[ "$kh" = '${expectKnownHosts}' ] || { echo "stand-in ssh: expected pinned known_hosts, got '$kh'" >&2; exit 255; }
[ -n "$strict" ] && [ -n "$batch" ] && [ -n "$ident" ] || { echo "stand-in ssh: StrictHostKeyChecking/BatchMode/IdentitiesOnly missing" >&2; exit 255; }
[ "$cfg" = /dev/null ] || { echo "stand-in ssh: expected -F /dev/null (no ssh_config), got '$cfg'" >&2; exit 255; }
shift # the host
exec sh -c "$*"
`,
  );
  chmodSync(program, 0o755);
  return { program, log };
}
