import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostConfig } from './cli/host-options.js';
import { UsageError } from './cli/args.js';
import { gitUrlProblem, loadControllerConfigFile, MAX_CONFIG_BYTES, refNameProblem } from './config-file.js';
import { formatProblem } from './documents/problems.js';
import { packageRoot } from './package-root.js';

const dir = mkdtempSync(join(tmpdir(), 'left4me-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Writes `text` to a fresh file (mode 0644) and returns its path. */
function file(text: string): string {
  const path = join(dir, `c${n++}.yaml`);
  writeFileSync(path, text, { mode: 0o644 });
  chmodSync(path, 0o644);
  return path;
}

/** The problems of a file as `line:col pointer message`, in order. */
async function problemsOf(text: string): Promise<string[]> {
  const r = await loadControllerConfigFile(file(text));
  return r.problems.map((p) => `${p.line}:${p.col} ${p.pointer} ${p.message}`);
}

/** A file with one source whose fields are `fields` (YAML lines, two-space indented below the item). */
function sourceFile(...fields: string[]): string {
  return `sources:\n  - name: fleet\n${fields.map((f) => `    ${f}\n`).join('')}`;
}

const GOOD = `# the controller of host a
stateDir: /srv/left4me/state
dataDir: /srv/left4me/data
configDir: /srv/left4me/etc
unitDir: /etc/systemd/system
node: a
portRange: 28000-28099
clientPortRange: 29000-29099
uidRange: 1879048192-1879113727
allowDownloadNetworks: [10.0.0.0/8, FD00::/8]
installationRoots: [/srv/games]
maxArchiveBytes: 4G
maxBuildBytes: 21474836480
maxDownloadBytes: 1GiB
buildConcurrency: 3
serverSandbox: compat
concurrency: 8
resync: 2m
trashRetention: 3d
steamApiBase: https://steam.example
logLevel: debug
pidFile: /run/left4me/c.pid
sources:
  - name: fleet
    url: git@github.com:example/fleet.git
    path: hosts/eu
    credentials: fleet-deploy
  - name: pinned
    url: https://git.example/fleet.git
    tag: v1.2
    interval: 10m
    submodules: true
    allowForcePush: true
`;

describe('a good controller.yaml', () => {
  it('gives every setting, and the sources with their defaults filled in', async () => {
    const path = file(GOOD);
    const r = await loadControllerConfigFile(path);
    expect(r.problems).toEqual([]);
    expect(r.found).toBe(true);
    expect(r.options.resyncMs).toBe(120_000);
    expect(r.options.trashRetentionMs).toBe(3 * 86_400_000);
    expect(r.options.logLevel).toBe('debug');
    expect(r.options.pidFile).toBe('/run/left4me/c.pid');
    expect(r.options.sources).toEqual([
      { name: 'fleet', url: 'git@github.com:example/fleet.git', ref: { branch: 'main' }, path: 'hosts/eu', intervalMs: 60_000, credentials: 'fleet-deploy', submodules: false, allowForcePush: false },
      { name: 'pinned', url: 'https://git.example/fleet.git', ref: { tag: 'v1.2' }, path: '.', intervalMs: 600_000, submodules: true, allowForcePush: true },
    ]);
    const cfg = hostConfig({}, { sources: r.options.sources }, { path, settings: r.options.settings });
    expect(cfg).toMatchObject({
      stateDir: '/srv/left4me/state',
      dataDir: '/srv/left4me/data',
      unitDir: '/etc/systemd/system',
      node: 'a',
      portRanges: { game: { min: 28000, max: 28099 }, client: { min: 29000, max: 29099 } },
      uidRange: { min: 1879048192, max: 1879113727 },
      allowedDownloadNetworks: ['10.0.0.0/8', 'fd00::/8'],
      installationRoots: ['/srv/games'],
      maxArchiveBytes: 4 * 2 ** 30,
      maxBuildBytes: 20 * 2 ** 30,
      maxDownloadBytes: 2 ** 30,
      buildConcurrency: 3,
      concurrency: 8,
      steamApiBase: 'https://steam.example',
      secretsDir: '/srv/left4me/data/secrets',
    });
    expect(cfg.units.layout.configDir).toBe('/srv/left4me/etc');
    expect(cfg.units.server.sandbox).toBe('compat');
    expect(cfg.units.layout.gitCredentialsDir).toBe('/srv/left4me/etc/secrets/git');
    expect(cfg.sources.map((s) => s.name)).toEqual(['fleet', 'pinned']);
  });

  it('may be empty or only comments: every default, as without a file', async () => {
    for (const text of ['', '# nothing set yet\n', '---\n']) {
      const path = file(text);
      const r = await loadControllerConfigFile(path);
      expect(r).toEqual({ found: true, options: { settings: {}, sources: [] }, problems: [] });
      expect(hostConfig({}, {}, { path, settings: r.options.settings })).toEqual(hostConfig({}));
    }
    expect(hostConfig({}).sources).toEqual([]);
  });
});

describe('a missing file', () => {
  it('is no configuration at the default path, and a problem when named explicitly', async () => {
    const missing = join(dir, 'nope.yaml');
    expect(await loadControllerConfigFile(missing, { optional: true })).toEqual({ found: false, options: { settings: {}, sources: [] }, problems: [] });
    const r = await loadControllerConfigFile(missing);
    expect(r.problems.map(formatProblem)).toEqual([`${missing}:1:1  -  /  no such file`]);
  });
});

describe('problems, each at its line', () => {
  it('unknown fields (with a suggestion), duplicate keys and wrong types', async () => {
    expect(await problemsOf('stateDir: /srv/s\nportRnage: 28000-28099\n')).toEqual(['2:1 /portRnage unknown field "portRnage" — did you mean "portRange"?']);
    expect(await problemsOf('node: a\nnode: b\n')).toEqual([expect.stringMatching(/^2:1 {2}duplicate key/)]);
    expect(await problemsOf('buildConcurrency: many\nconcurrency: 0\nsources: {name: x}\n')).toEqual([
      '1:19 /buildConcurrency must be an integer (got a string)',
      '2:14 /concurrency must be >= 1 (got 0)',
      '3:10 /sources must be a list (got a map)',
    ]);
    expect(await problemsOf('- just\n- a list\n')).toEqual(['1:1  must be a map (got a list)']);
    expect(await problemsOf('serverSandbox: lax\n')).toEqual([expect.stringMatching(/^1:16 \/serverSandbox must be one of .*strict.*compat/)]);
    expect(await problemsOf(sourceFile('url: /srv/fleet.git', 'branchh: main'))).toEqual(['4:5 /sources/0/branchh unknown field "branchh" — did you mean "branch"?']);
    expect(await problemsOf('sources:\n  - url: /srv/fleet.git\n')).toEqual(['2:5 /sources/0 missing required field "name"']);
  });

  it('host paths must be absolute and normalized', async () => {
    expect(await problemsOf('stateDir: state\ndataDir: /var/lib/../lib/left4me\n')).toEqual([
      '1:11 /stateDir "state" must be an absolute, normalized path of letters, digits and . _ @ + - (no \'.\' or \'..\' segments, no \'//\' or trailing \'/\')',
      '2:10 /dataDir "/var/lib/../lib/left4me" must be an absolute, normalized path of letters, digits and . _ @ + - (no \'.\' or \'..\' segments, no \'//\' or trailing \'/\')',
    ]);
  });

  it('a second YAML document', async () => {
    expect(await problemsOf('node: a\n---\nnode: b\n')).toEqual(['3:1  a controller configuration is one YAML document; remove this second one']);
  });

  it('ranges, sizes, networks and roots with the messages the flags give, named by field', async () => {
    expect(await problemsOf('node: a\nportRange: "27015"\n')).toEqual(['2:12 /portRange portRange must look like 27015-27115 (ports 1024-65535, low first)']);
    expect(await problemsOf('portRange: 27000-27100\nclientPortRange: 27050-27060\n')).toEqual(['2:18 /clientPortRange portRange and clientPortRange must not overlap']);
    expect(await problemsOf('uidRange: 61000-61999\n')).toEqual([expect.stringMatching(/^1:11 \/uidRange uidRange 61000-61999 overlaps the 16-bit uids/)]);
    expect(await problemsOf('maxBuildBytes: 20 GB\n')).toEqual(['1:16 /maxBuildBytes maxBuildBytes must be a size in bytes such as 8G, 512M or 1048576 (at least 1)']);
    expect(await problemsOf('allowDownloadNetworks:\n  - 10.0.0.0/8\n  - localhost\n')).toEqual(['3:5 /allowDownloadNetworks/1 allowDownloadNetworks "localhost" is not an IP network; write it like 10.0.0.0/8 or fd00::/8']);
    expect(await problemsOf('dataDir: /opt/l4m\ninstallationRoots:\n  - /srv/ok\n  - /opt/l4m/games\n')).toEqual([
      '4:5 /installationRoots/1 installationRoots: installation root /opt/l4m/games overlaps the data directory (/opt/l4m); a directory installation there could mount what the controller keeps. Choose a separate tree such as /srv/left4me/installations',
    ]);
    expect(await problemsOf('node: a\ndataDir: /home/left4me\n')).toEqual([
      '2:10 /dataDir dataDir: layout.runtimeDir: /home/left4me/runtime lies in /home, which the server sandbox replaces; choose another tree',
    ]);
    expect(() => hostConfig({ 'data-dir': '/home/left4me' })).toThrow('--data-dir: layout.runtimeDir: /home/left4me/runtime lies in /home');
    expect(await problemsOf('resync: 0s\n')).toEqual(['1:9 /resync must be from 1s to 1d']);
    expect(await problemsOf('resync: 2d\n')).toEqual(['1:9 /resync must be from 1s to 1d']);
    expect(await problemsOf('trashRetention: 366d\n')).toEqual(['1:17 /trashRetention must be from 1s to 365d']);
    expect(await problemsOf('logLevel: loud\n')).toEqual([expect.stringMatching(/^1:11 \/logLevel must be one of "fatal", "error", "warn", "info"/)]);
  });

  it('every problem of a file at once, the schema\'s and the sources\' together', async () => {
    const problems = await problemsOf(`portRnage: 1
sources:
  - name: a
    url: http://git.example/fleet.git
  - name: a
    url: /srv/fleet.git
    interval: 5s
`);
    expect(problems).toEqual([
      '1:1 /portRnage unknown field "portRnage" — did you mean "portRange"?',
      '4:10 /sources/0/url the URL plain http:// is refused except to this host (anyone on the way could serve other documents): use https://',
      '5:11 /sources/1/name source "a" is already defined at line 3; names must be unique',
      '7:15 /sources/1/interval must be from 10s to 1d',
    ]);
  });
});

describe('sources', () => {
  const urlProblem = async (url: string) => (await problemsOf(sourceFile(`url: ${JSON.stringify(url)}`))).map((p) => p.replace(/^\d+:\d+ \/sources\/0\/url the URL /, ''));

  it('take https, ssh, scp-like, file and absolute-path URLs', async () => {
    for (const url of ['https://github.com/example/fleet.git', 'ssh://git@git.example:2222/fleet.git', 'git@github.com:example/fleet.git', 'git.example:fleet.git', 'file:///srv/git/fleet.git', '/srv/git/fleet.git', 'http://127.0.0.1:8080/fleet.git', 'http://[::1]/fleet.git', 'http://localhost/fleet.git']) {
      expect(await urlProblem(url), url).toEqual([]);
    }
  });

  it.each([
    ['http://git.example/fleet.git', /^plain http:\/\/ is refused except to this host/],
    ['http://127.0.0.1.example.org/fleet.git', /^plain http:\/\/ is refused except to this host/],
    ['git://git.example/fleet.git', /^the git:\/\/ transport is refused/],
    ['ext::sh -c touch% /srv/pwned', /^must not contain spaces or control characters/],
    ['ext::ssh', /^names a git remote helper \(transport::address\), which runs a program/],
    ['fd::17', /^names a git remote helper/],
    ['-oProxyCommand=touch', /^must not start with '-'/],
    ['ssh://-oProxyCommand=x/fleet', /^needs a host name that does not start with '-'/],
    ['fleet.git', /^is not a repository address git can fetch safely/],
    ['./fleet', /^is not a repository address git can fetch safely/],
    ['/srv/../etc/fleet', /^a local path must be absolute without '\.\.'/],
    ['file://server/fleet.git', /^a file:\/\/ URL names a local path and no host/],
    ['https://git.example/', /^names no repository path/],
    ['git@github.com:', /^names no repository path after ":"/],
  ])('refuse %s', async (url, message) => {
    const problems = await urlProblem(url);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('refuse credentials in the URL without ever repeating them', async () => {
    const secret = 'ghp_s3cr3tT0ken';
    for (const url of [`https://x-access-token:${secret}@github.com/e/f.git`, `https://${secret}@github.com/e/f.git`, `ssh://git:${secret}@git.example/f.git`, `git:${secret}@github.com:e/f.git`, `https://github.com/e/f.git?access_token=${secret}`]) {
      const path = file(sourceFile(`url: ${url}`));
      const r = await loadControllerConfigFile(path);
      expect(r.problems, url).toHaveLength(1);
      expect(r.problems[0]!).toMatchObject({ line: 3, col: 10, pointer: '/sources/0/url' });
      expect(r.problems[0]!.message).toMatch(/credentials/);
      expect(JSON.stringify(r.problems)).not.toContain(secret);
    }
    // The message says where credentials go, below this host's configuration directory.
    expect(await problemsOf(`configDir: /srv/etc\n${sourceFile(`url: https://${secret}@github.com/e/f.git`)}`)).toEqual([
      '4:10 /sources/0/url the URL carries credentials: put them in /srv/etc/secrets/git/NAME/ and name that directory in "credentials", not in the URL',
    ]);
  });

  it('follow a branch (main by default) or a tag, never both, and only names git accepts', async () => {
    expect((await loadControllerConfigFile(file(sourceFile('url: /srv/f', 'branch: release/eu-1')))).options.sources[0]!.ref).toEqual({ branch: 'release/eu-1' });
    expect(await problemsOf(sourceFile('url: /srv/f', 'branch: main', 'tag: v1'))).toEqual(['5:5 /sources/0/tag give either branch or tag, not both']);
    for (const bad of ['-f', 'a..b', 'a b', 'x.lock', 'a/.hidden', 'trailing/', 'a@{1}', 'what?']) {
      expect(await problemsOf(sourceFile('url: /srv/f', `branch: ${JSON.stringify(bad)}`)), bad).toEqual([expect.stringMatching(/^4:13 \/sources\/0\/branch the branch (is not a valid git ref name|must not start with '-')/)]);
    }
    expect(await problemsOf(sourceFile('url: /srv/f', 'tag: refs/tags/v1'))).toEqual(['4:10 /sources/0/tag the tag takes the short name (`main`, not `refs/heads/main`)']);
  });

  it('take a relative, normalized path inside the repository', async () => {
    for (const good of ['.', 'hosts/eu', 'a.b/c']) {
      expect(await problemsOf(sourceFile('url: /srv/f', `path: ${JSON.stringify(good)}`)), good).toEqual([]);
    }
    for (const bad of ['..', '/etc', 'a/../b', './a', 'a//b', 'a/']) {
      expect(await problemsOf(sourceFile('url: /srv/f', `path: ${JSON.stringify(bad)}`)), bad).toEqual([expect.stringMatching(/^4:11 \/sources\/0\/path ".*" must be a relative path/)]);
    }
  });

  it('fetch every 10s to 1d, name credentials as a directory, and have unique, valid names', async () => {
    expect(await problemsOf(sourceFile('url: /srv/f', 'interval: 9s'))).toEqual(['4:15 /sources/0/interval must be from 10s to 1d']);
    expect(await problemsOf(sourceFile('url: /srv/f', 'interval: 1d1s'))).toEqual(['4:15 /sources/0/interval must be from 10s to 1d']);
    expect(await problemsOf(sourceFile('url: /srv/f', 'interval: soon'))).toEqual(['4:15 /sources/0/interval "soon" must be a duration such as 30s, 15m, 6h, 1d or 1h30m']);
    for (const bad of ['../root', 'Fleet', '.x', 'a/b']) {
      expect(await problemsOf(sourceFile('url: /srv/f', `credentials: ${JSON.stringify(bad)}`)), bad).toEqual([expect.stringMatching(/^4:18 \/sources\/0\/credentials .* must match the pattern/)]);
    }
    expect(await problemsOf('sources:\n  - {name: Fleet, url: /srv/f}\n')).toEqual([expect.stringMatching(/^2:12 \/sources\/0\/name "Fleet" must be lowercase letters/)]);
  });
});

describe('the file itself', () => {
  it('must be owned by the given uid and writable by nobody else', async () => {
    const uid = process.getuid!();
    const path = file('node: a\n');
    expect((await loadControllerConfigFile(path, { owner: uid })).problems).toEqual([]);
    chmodSync(path, 0o664);
    expect((await loadControllerConfigFile(path, { owner: uid })).problems.map((p) => p.message)).toEqual([
      `must be owned by uid ${uid} and writable by nobody else (it is uid ${uid}, mode 0664): whoever can change it steers the controller; chown ${uid} and chmod 0644 it`,
    ]);
    chmodSync(path, 0o644);
    expect((await loadControllerConfigFile(path, { owner: uid + 1 })).problems[0]!.message).toMatch(/^must be owned by uid/);
  });

  it('must be a regular file of at most 1 MiB: a FIFO or a directory is refused without hanging', async () => {
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    expect((await loadControllerConfigFile(fifo)).problems.map((p) => p.message)).toEqual(['is not a regular file']);
    expect((await loadControllerConfigFile(dir)).problems.map((p) => p.message)).toEqual(['is not a regular file']);
    const big = file(`# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect((await loadControllerConfigFile(big)).problems.map((p) => p.message)).toEqual([`is larger than ${MAX_CONFIG_BYTES} bytes`]);
  });
});

describe('flags and the file', () => {
  it('a flag wins over the file; list flags replace the list; the rest of the file stays', async () => {
    const path = file('node: a\nportRange: 28000-28099\nallowDownloadNetworks: [10.0.0.0/8]\nmaxBuildBytes: 1G\ndataDir: /srv/d\n');
    const { settings } = (await loadControllerConfigFile(path)).options;
    const cfg = hostConfig({ node: 'b', 'port-range': '30000-30099', 'allow-download-network': ['192.168.0.0/16'] }, {}, { path, settings });
    expect(cfg.node).toBe('b');
    expect(cfg.portRanges.game).toEqual({ min: 30000, max: 30099 });
    expect(cfg.allowedDownloadNetworks).toEqual(['192.168.0.0/16']);
    expect(cfg.maxBuildBytes).toBe(2 ** 30);
    expect(cfg.dataDir).toBe('/srv/d');
    expect(hostConfig({ 'data-dir': '/srv/other' }, {}, { path, settings }).dataDir).toBe('/srv/other');
    // The sandbox profile too: the file's, unless the flag names another; the file's data directory stays beside it.
    const sandboxed = file('serverSandbox: compat\ndataDir: /srv/d\n');
    const fromFile = (await loadControllerConfigFile(sandboxed)).options.settings;
    expect(hostConfig({}, {}, { path: sandboxed, settings: fromFile }).units.server.sandbox).toBe('compat');
    const flagged = hostConfig({ 'server-sandbox': 'strict' }, {}, { path: sandboxed, settings: fromFile });
    expect([flagged.units.server.sandbox, flagged.units.layout.dataDir]).toEqual(['strict', '/srv/d']);
  });

  it('a clash between a flag and the file names both, the file value by field and file', async () => {
    const path = file('clientPortRange: 27050-27060\n');
    const { settings } = (await loadControllerConfigFile(path)).options;
    expect(() => hostConfig({ 'port-range': '27000-27100' }, {}, { path, settings })).toThrow(UsageError);
    expect(() => hostConfig({ 'port-range': '27000-27100' }, {}, { path, settings })).toThrow(`--port-range and clientPortRange (${path}) must not overlap`);
  });
});

describe('the URL and ref rules on their own', () => {
  it('say nothing for what they accept', () => {
    expect(gitUrlProblem('https://github.com/e/f.git')).toBeUndefined();
    expect(refNameProblem('main')).toBeUndefined();
    expect(refNameProblem('v1.2.3')).toBeUndefined();
  });
});

describe('deploy/controller.yaml, the example an operator installs', () => {
  const example = readFileSync(join(packageRoot(), 'deploy', 'controller.yaml'), 'utf8');

  it('changes nothing as shipped (every setting commented out)', async () => {
    expect(await loadControllerConfigFile(file(example))).toEqual({ found: true, options: { settings: {}, sources: [] }, problems: [] });
  });

  it('is valid with every setting uncommented, so it cannot drift from the schema', async () => {
    // `# ` comments out a setting, `##` is prose; the first line is the editor's schema hint.
    const uncommented = example.split('\n').map((l) => (l.startsWith('# ') && !l.startsWith('# yaml-language-server:') ? l.slice(2) : l)).join('\n');
    const r = await loadControllerConfigFile(file(uncommented));
    expect(r.problems).toEqual([]);
    expect(r.options.sources.map((s) => [s.name, s.ref, s.credentials ?? null])).toEqual([
      ['fleet', { branch: 'main' }, 'fleet-deploy'],
      ['tournament', { tag: 'season-3' }, 'mirror'],
      ['local', { branch: 'main' }, null],
    ]);
    // Every field the schema knows appears in it.
    const schema = JSON.parse(readFileSync(join(packageRoot(), 'schemas', 'controller.schema.json'), 'utf8')) as { properties: object };
    for (const key of Object.keys(schema.properties)) expect(uncommented, key).toMatch(new RegExp(`^${key}:`, 'm'));
  });
});
