import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli/args.js';
import { demoControllerConfig, demoSource } from './options.js';

const host = { stateDir: '/demo/state', fsRoot: '/proc/1/root', busAddress: 'unix:path=/demo/bus', unitDir: '/run/systemd/system' };

describe('npm start -- <controller options>', () => {
  it('refuses loopback downloads like production unless told, and passes controller options through', () => {
    expect(demoControllerConfig([], host)?.allowedDownloadNetworks).toEqual([]);
    const cfg = demoControllerConfig(['--allow-download-network', '127.0.0.0/8', '--allow-download-network', '::1', '--port-range', '28015-28115'], host);
    expect(cfg?.allowedDownloadNetworks).toEqual(['127.0.0.0/8', '::1/128']);
    expect(cfg?.portRanges.game).toEqual({ min: 28015, max: 28115 });
    expect(cfg).toMatchObject(host);
    expect(cfg?.units.server.sandbox).toBe('strict');
    expect(demoControllerConfig(['--server-sandbox', 'compat'], host)?.units.server.sandbox).toBe('compat');
  });

  it('refuses what the demo host sets itself, and bad networks, before anything boots', () => {
    expect(() => demoControllerConfig(['--state', '/etc/left4me/state'], host)).toThrow(new UsageError('npm start sets --state for its private host itself; leave it out'));
    expect(() => demoControllerConfig(['--allow-download-network', '127.0.0.1/8'], host)).toThrow(/--allow-download-network "127\.0\.0\.1\/8" has bits set past its \/8; did you mean 127\.0\.0\.0\/8\?/);
    expect(() => demoControllerConfig(['--no-such-option'], host)).toThrow(UsageError);
    expect(demoControllerConfig(['-h'], host)).toBeUndefined();
  });

  it('--source URL[#BRANCH][:PATH] runs the demo from a repository: branch main and the root unless given, every form of URL', () => {
    const src = (spec: string) => {
      const s = demoSource(spec);
      return ['branch' in s.ref ? s.ref.branch : '', s.url, s.path];
    };
    expect(src('/srv/git/fleet.git')).toEqual(['main', '/srv/git/fleet.git', '.']);
    expect(src('/srv/git/fleet.git:hosts/eu')).toEqual(['main', '/srv/git/fleet.git', 'hosts/eu']);
    expect(src('/srv/git/fleet.git#prod')).toEqual(['prod', '/srv/git/fleet.git', '.']);
    expect(src('/srv/git/fleet.git#prod:hosts/eu/')).toEqual(['prod', '/srv/git/fleet.git', 'hosts/eu']);
    expect(src('/srv/git/fleet.git#:demo')).toEqual(['main', '/srv/git/fleet.git', 'demo']);
    expect(src('https://git.example.org/ops/fleet.git')).toEqual(['main', 'https://git.example.org/ops/fleet.git', '.']);
    expect(src('https://git.example.org:8443/ops/fleet.git')).toEqual(['main', 'https://git.example.org:8443/ops/fleet.git', '.']);
    expect(src('https://git.example.org/ops/fleet.git:eu')).toEqual(['main', 'https://git.example.org/ops/fleet.git', 'eu']);
    expect(src('git@git.example.org:ops/fleet.git')).toEqual(['main', 'git@git.example.org:ops/fleet.git', '.']);
    const cfg = demoControllerConfig(['--source', '/srv/git/fleet.git#main:demo'], host);
    expect(cfg?.sources).toEqual([{ name: 'demo', url: '/srv/git/fleet.git', ref: { branch: 'main' }, path: 'demo', intervalMs: 60_000, submodules: false, allowForcePush: false }]);
  });

  it('--source refuses what controller.yaml refuses: credentials in the URL, remote helpers, bad branches, paths out of the repository', () => {
    expect(() => demoSource('https://user:hunter2@git.example.org/fleet.git')).toThrow(UsageError);
    expect(() => demoSource('https://user:hunter2@git.example.org/fleet.git')).not.toThrow(/hunter2/);
    expect(() => demoSource('ext::sh -c touch% /tmp/pwned')).toThrow(UsageError);
    expect(() => demoSource('/srv/git/fleet.git#-delete')).toThrow(/branch "-delete"/);
    expect(() => demoSource('/srv/git/fleet.git#main:../etc')).toThrow(/path "..\/etc"/);
  });
});
