import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSource } from '../../test/support/source-layout.js';
import { hostLayout } from '../host/layout.js';
import { main } from './main.js';

const scratch = mkdtempSync(join(tmpdir(), 'left4me-cli-sources-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

const INSTALL = 'apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: demo}\nspec: {source: directory, path: /srv/left4me/installations/l4d2}\n';
const BLUEPRINT = 'apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: coop}\nspec: {overlays: []}\n';
const instance = (name: string, extra = '') => `apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: ${name}\nspec:\n  blueprint: coop\n${extra}`;

/** A host with a local state directory and one git source `fleet` serving hosts/eu of its repository. */
function host(local: Record<string, string> = {}) {
  const base = join(scratch, `host-${n++}`);
  const state = join(base, 'state');
  mkdirSync(state, { recursive: true });
  for (const [rel, text] of Object.entries({ 'install.yaml': INSTALL, 'coop.yaml': BLUEPRINT, 'mine.yaml': instance('mine'), ...local })) writeFileSync(join(state, rel), text);
  const data = join(base, 'data');
  const commit = writeSource(hostLayout(data), 'fleet', {
    files: { 'hosts/eu/eu-1.yaml': `# first\n${instance('eu-1')}`, 'hosts/eu/eu-2.yaml': instance('eu-2', '  port: 70000\n') },
    path: 'hosts/eu',
    url: 'https://git.example.org/fleet.git',
  });
  const flags = ['--state', state, '--data-dir', data];
  return { state, data, commit, flags, short: commit.slice(0, 7) };
}

/** Every file below a directory with its text: what "nothing was written" is checked against. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name), 'utf8');
  return out;
}

describe('the CLI with a git source beside the state directory', () => {
  it('get instances shows SOURCE: local, or the source and commit', async () => {
    const h = host();
    const r = await cli('get', 'instances', ...h.flags);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+READY\s+STATE\s+PORT\s+PLAYERS\s+AGE\s+BLUEPRINT\s+NODE\s+SOURCE$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^eu-1\\s.*\\scoop\\s+-\\s+fleet@${h.short}$`)));
    // The invalid one from git is listed too, as not ready, with where it comes from.
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^eu-2\\s+False \\(Invalid\\)\\s.*\\sfleet@${h.short}$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^mine\s.*\scoop\s+-\s+local$/));
    const json = JSON.parse((await cli('get', 'instance', 'eu-2', '-o', 'json', ...h.flags)).out);
    expect(json.invalid).toEqual({ file: `fleet@${h.short}:hosts/eu/eu-2.yaml`, line: 1, origin: { source: 'fleet', commit: h.commit, file: 'hosts/eu/eu-2.yaml' } });
  });

  it('describe says where a document came from: repository path:line at the commit, or the local file', async () => {
    const h = host();
    const git = await cli('describe', 'instance', 'eu-1', ...h.flags);
    expect(git.code).toBe(0);
    expect(git.out).toContain(`Source:      git fleet, hosts/eu/eu-1.yaml:2 at ${h.commit}\n`);
    const broken = await cli('describe', 'instance', 'eu-2', ...h.flags);
    expect(broken.out).toContain(`Source:      git fleet, hosts/eu/eu-2.yaml:1 at ${h.commit}\n`);
    expect(broken.out).toContain(`fleet@${h.short}:hosts/eu/eu-2.yaml:7:9  instance/eu-2  /spec/port  must be <= 65535 (got 70000)`);
    const local = await cli('describe', 'instance', 'mine', ...h.flags);
    expect(local.out).toContain(`Source:      ${join(h.state, 'mine.yaml')}:1\n`);
  });

  it('validate of the host state directory reads its sources; problems there show source@commit:path:line:col', async () => {
    const h = host();
    const r = await cli('validate', ...h.flags);
    expect(r.code).toBe(1);
    expect(r.out).toBe(`fleet@${h.short}:hosts/eu/eu-2.yaml:7:9  instance/eu-2  /spec/port  must be <= 65535 (got 70000)\n`);
    expect(r.err).toBe('1 problem in 1 file; 4 valid documents\n');
    // A directory named on the command line is judged alone (a clone before pushing, say).
    expect((await cli('validate', h.state, '--data-dir', h.data)).code).toBe(0);
  });

  it('apply of a document a source serves is refused with the exact message, exit 1, nothing written', async () => {
    const h = host();
    const before = snapshot(h.state);
    const input = join(scratch, `input-${n++}.yaml`);
    writeFileSync(input, instance('eu-1', '  port: 27050\n'));
    const r = await cli('apply', '-f', input, ...h.flags);
    expect(r).toEqual({ code: 1, out: '', err: 'instance/eu-1 is managed by git source fleet: change the repository\n' });
    // The invalid copy in git is the repository's too.
    writeFileSync(input, `${instance('eu-2')}---\n${instance('new-one')}`);
    expect((await cli('apply', '-f', input, ...h.flags)).err).toBe('instance/eu-2 is managed by git source fleet: change the repository\n');
    expect((await cli('apply', '-f', input, '--dry-run', ...h.flags)).code).toBe(1);
    expect(snapshot(h.state)).toEqual(before);
    // A name no source serves is still written locally.
    writeFileSync(input, instance('new-one'));
    expect(await cli('apply', '-f', input, ...h.flags)).toMatchObject({ code: 0, out: 'instance/new-one created\n' });
  });

  it('delete of a document a source serves is refused the same way; a local copy that conflicts with it can be deleted', async () => {
    const h = host({ 'clash.yaml': instance('eu-1') });
    const before = snapshot(h.state);
    const r = await cli('delete', 'instance', 'eu-2', ...h.flags);
    expect(r).toEqual({ code: 1, out: '', err: 'instance/eu-2 is managed by git source fleet: change the repository\n' });
    expect(snapshot(h.state)).toEqual(before);
    const clash = await cli('get', 'instances', ...h.flags);
    expect(clash.out).toMatch(/^eu-1\s+False \(Invalid\)/m);
    expect(clash.err).toContain('problem(s)');
    expect(await cli('delete', 'instance', 'eu-1', ...h.flags)).toMatchObject({ code: 0, out: 'instance/eu-1 deleted\n' });
    expect(existsSync(join(h.state, 'clash.yaml'))).toBe(false);
    expect((await cli('get', 'instances', ...h.flags)).out).toMatch(new RegExp(`^eu-1\\s.*\\sfleet@${h.short}$`, 'm'));
  });

  it('get sources lists each source: URL, ref, serving commit, last fetch, last error with its first problem', async () => {
    const h = host();
    const layout = hostLayout(h.data);
    writeSource(layout, 'broken', {
      files: {},
      url: '/srv/git/broken.git',
      status: {
        ref: { tag: 'v2' },
        serving: null,
        lastFetch: { at: new Date(Date.now() - 300_000).toISOString() },
        lastError: {
          at: new Date().toISOString(),
          reason: 'invalid',
          message: 'commit abc does not validate',
          commit: { commit: 'f'.repeat(40), author: 'Bob <bob@example.org>', date: new Date().toISOString(), subject: 'oops' },
          problems: [
            { file: 'x.yaml', line: 3, col: 5, kind: 'Instance', name: 'x', pointer: '/spec/port', message: 'must be <= 65535' },
            { file: 'y.yaml', line: 1, col: 1, pointer: '', message: 'invalid YAML' },
          ],
        },
      },
    });
    const r = await cli('get', 'sources', ...h.flags);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+URL\s+REF\s+SERVING\s+LAST FETCH\s+ERROR$/);
    expect(lines[1]).toMatch(/^broken\s+\/srv\/git\/broken\.git\s+tag v2\s+none\s+5m\s+invalid at fffffff: commit abc does not validate; x\.yaml:3:5 instance\/x \/spec\/port must be <= 65535 \(\+1 more\)$/);
    expect(lines[2]).toMatch(new RegExp(`^fleet\\s+https://git\\.example\\.org/fleet\\.git\\s+branch main:hosts/eu\\s+${h.short}\\s+\\d+s\\s+-$`));
    const json = JSON.parse((await cli('get', 'sources', 'fleet', '-o', 'json', ...h.flags)).out);
    expect(json).toMatchObject({ name: 'fleet', url: 'https://git.example.org/fleet.git', serving: { commit: h.commit }, lastError: null });
    expect((await cli('get', 'sources', '-o', 'name', ...h.flags)).out).toBe('source/broken\nsource/fleet\n');
    expect(await cli('get', 'sources', 'nope', ...h.flags)).toMatchObject({ code: 1, err: 'source/nope not found\n' });
    expect((await cli('get', 'sources', '-w', ...h.flags)).code).toBe(2);
  });
});
