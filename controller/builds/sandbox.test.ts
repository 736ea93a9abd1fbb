import { describe, expect, it } from 'vitest';
import type { UnitProperty } from '../systemd/adapter.js';
import { defaultUnitConfig } from '../systemd/units.js';
import {
  archiveUnitProperties,
  DENIED_NETWORKS,
  SANDBOX_LOGIN_FILE,
  SandboxConfigError,
  forbiddenPaths,
  ipAddressEntries,
  sandboxResolvConf,
  scriptUnitProperties,
  steamcmdUnitProperties,
  type ScriptUnitOptions,
} from './sandbox.js';

const script: ScriptUnitOptions = {
  description: 'left4me build: test',
  buildDir: '/var/lib/left4me/overlays/maps/.tmp-abc',
  scriptFile: '/var/lib/left4me/build-runs/u/script.sh',
  rootDir: '/var/lib/left4me/build-runs/u/root',
  resolvConf: '/var/lib/left4me/build-runs/u/resolv.conf',
  logFile: '/var/lib/left4me/build-runs/u/output.log',
  timeoutSec: 3600,
  hostAddresses: ['192.0.2.2', 'fd00::2'],
};

function all(props: UnitProperty[], name: string): unknown[] {
  return props.filter(([n]) => n === name).map(([, , v]) => v);
}
function one(props: UnitProperty[], name: string): UnitProperty {
  const found = props.filter(([n]) => n === name);
  expect(found, name).toHaveLength(1);
  return found[0]!;
}

// Signatures as systemd 252's org.freedesktop.systemd1.Service interface
// declares them (busctl introspect of a service unit on a test host).
const SIGNATURES: Record<string, string> = {
  Description: 's', Type: 's', User: 's', Group: 's', Slice: 's', Environment: 'as', WorkingDirectory: 's',
  ExecStartEx: 'a(sasas)', TimeoutStartUSec: 't', TimeoutStopUSec: 't', StandardInputFile: 's',
  StandardOutputFileToAppend: 's', StandardErrorFileToAppend: 's', LimitCORE: 't', LimitCORESoft: 't',
  RootDirectory: 's', MountAPIVFS: 'b', BindPaths: 'a(ssbt)', BindReadOnlyPaths: 'a(ssbt)', ProtectSystem: 's', ProtectHome: 's',
  PrivateTmp: 'b', PrivateDevices: 'b', PrivateIPC: 'b', PrivateUsers: 'b', PrivateMounts: 'b', ProtectProc: 's', ProcSubset: 's',
  ProtectKernelTunables: 'b', ProtectKernelModules: 'b', ProtectKernelLogs: 'b', ProtectClock: 'b', ProtectControlGroups: 'b',
  ProtectHostname: 'b', NoNewPrivileges: 'b', CapabilityBoundingSet: 't', AmbientCapabilities: 't', RestrictNamespaces: 't',
  RestrictSUIDSGID: 'b', RestrictRealtime: 'b', LockPersonality: 'b', RemoveIPC: 'b', KeyringMode: 's', UMask: 'u',
  SystemCallFilter: '(bas)', SystemCallErrorNumber: 'i', SystemCallArchitectures: 'as', RestrictAddressFamilies: '(bas)',
  IPAddressDeny: 'a(iayu)', MemoryMax: 't', MemorySwapMax: 't', TasksMax: 't', CPUQuotaPerSecUSec: 't',
  MemoryDenyWriteExecute: 'b', StandardInput: 's', PrivateNetwork: 'b', LimitFSIZE: 't', LimitFSIZESoft: 't',
};

describe('scriptUnitProperties', () => {
  const props = scriptUnitProperties(script);

  it('uses systemd 252 signatures, with 64-bit values as bigint', () => {
    for (const [name, sig, value] of props) {
      expect(SIGNATURES[name], `unexpected property ${name}`).toBeDefined();
      expect(sig, name).toBe(SIGNATURES[name]);
      if (sig === 't') expect(typeof value, name).toBe('bigint');
      if (sig === 'b') expect(typeof value, name).toBe('boolean');
    }
  });

  it('is a oneshot of the build user in the build slice, killed at its timeout', () => {
    expect(one(props, 'Type')[2]).toBe('oneshot');
    expect(one(props, 'User')[2]).toBe('left4me-build');
    expect(one(props, 'Slice')[2]).toBe('l4d2-build.slice');
    expect(one(props, 'TimeoutStartUSec')[2]).toBe(3_600_000_000n);
    // systemd 252 ignores (and warns about) RuntimeMaxSec= on a oneshot.
    expect(all(props, 'RuntimeMaxUSec')).toEqual([]);
  });

  it('reads the script from a file as stdin, never from the command line', () => {
    expect(one(props, 'StandardInputFile')[2]).toBe(script.scriptFile);
    const [[path, argv, flags]] = one(props, 'ExecStartEx')[2] as [[string, string[], string[]]];
    expect(path).toBe('/bin/bash');
    expect(argv.slice(0, 4)).toEqual(['/bin/bash', '--noprofile', '--norc', '-c']);
    expect(argv.join(' ')).toContain('/proc/self/fd/3');
    expect(flags).toEqual(['no-env-expand']);
    expect(one(props, 'StandardOutputFileToAppend')[2]).toBe(script.logFile);
    expect(one(props, 'StandardErrorFileToAppend')[2]).toBe(script.logFile);
  });

  it('has the build dir at /overlay as the only writable bind, in an allowlisted root', () => {
    expect(one(props, 'BindPaths')[2]).toEqual([[script.buildDir, '/overlay', false, 0n]]);
    expect(one(props, 'RootDirectory')[2]).toBe(script.rootDir);
    expect(one(props, 'ProtectSystem')[2]).toBe('strict');
    expect(all(props, 'ReadWritePaths')).toEqual([]);
    const ro = one(props, 'BindReadOnlyPaths')[2] as [string, string, boolean, bigint][];
    expect(ro).toContainEqual([script.resolvConf, '/etc/resolv.conf', false, 0n]);
    expect(ro).toContainEqual(['/usr', '/usr', false, 0n]);
    // Inside, nothing of the config or data dirs: only /usr, /etc files and the resolver file.
    expect(ro.map(([, target]) => target).filter((t) => !t.startsWith('/usr') && !t.startsWith('/etc/'))).toEqual([]);
    expect(ro.map(([, target]) => target).filter((t) => t.startsWith('/etc/left4me'))).toEqual([]);
  });

  it('denies every private, loopback and local network and the host itself, and allows nothing explicitly', () => {
    const denied = (one(props, 'IPAddressDeny')[2] as [number, number[], number][]).map(([family, bytes, prefix]) => `${family}:${bytes.join('.')}/${prefix}`);
    const expected = ipAddressEntries([
      '127.0.0.0/8', '::1/128', '169.254.0.0/16', 'fe80::/10', '224.0.0.0/4', 'ff00::/8',
      '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7',
      '192.0.2.2', 'fd00::2',
    ]).map(([family, bytes, prefix]) => `${family}:${bytes.join('.')}/${prefix}`);
    for (const e of expected) expect(denied).toContain(e);
    expect(all(props, 'IPAddressAllow')).toEqual([]);
    expect(one(props, 'RestrictAddressFamilies')[2]).toEqual([true, ['AF_INET', 'AF_INET6', 'AF_UNIX']]);
  });

  it('drops privileges, filters system calls and caps resources', () => {
    const want: Record<string, unknown> = {
      ProtectHome: 'yes', PrivateTmp: true, PrivateDevices: true, NoNewPrivileges: true, CapabilityBoundingSet: 0n,
      ProtectKernelTunables: true, ProtectKernelModules: true, ProtectKernelLogs: true, ProtectClock: true,
      ProtectControlGroups: true, ProtectHostname: true, RestrictNamespaces: 0n, RestrictSUIDSGID: true,
      RestrictRealtime: true, LockPersonality: true, MemoryDenyWriteExecute: true, PrivateIPC: true,
      KeyringMode: 'private', UMask: 0o022, MemoryMax: 4n * 1024n ** 3n, MemorySwapMax: 0n, TasksMax: 512n,
      CPUQuotaPerSecUSec: 2_000_000n, SystemCallArchitectures: ['native'], ProtectProc: 'invisible', ProcSubset: 'pid',
    };
    for (const [name, value] of Object.entries(want)) expect(one(props, name)[2], name).toEqual(value);
    const filters = all(props, 'SystemCallFilter') as [boolean, string[]][];
    expect(filters[0]).toEqual([true, ['@system-service']]);
    expect(filters[1]![0]).toBe(false);
    expect(filters[1]![1]).toEqual(expect.arrayContaining(['@privileged', '@mount', '@debug', '@raw-io', '@module', '@reboot', '@swap']));
  });

  it('takes limits and the user from options', () => {
    const p = scriptUnitProperties({ ...script, user: 'builder', limits: { memoryMax: 1024n ** 3n, cpuQuotaPercent: 50 } });
    expect(one(p, 'User')[2]).toBe('builder');
    expect(one(p, 'Group')[2]).toBe('builder');
    expect(one(p, 'MemoryMax')[2]).toBe(1024n ** 3n);
    expect(one(p, 'CPUQuotaPerSecUSec')[2]).toBe(500_000n);
  });

  it('refuses to bind the config dir, the data dir or a layout tree', () => {
    for (const bad of ['/etc', '/etc/left4me/secrets', '/var/lib', '-/var/lib/left4me/status']) {
      expect(() => scriptUnitProperties({ ...script, readOnlyPaths: ['/usr', bad] }), bad).toThrow(SandboxConfigError);
    }
    expect(() => scriptUnitProperties({ ...script, buildDir: '/var/lib' })).toThrow(/contains \/var\/lib\/left4me/);
    expect(() => scriptUnitProperties({ ...script, buildDir: '/etc/left4me/x' })).toThrow(/holds secrets/);
    expect(() => scriptUnitProperties({ ...script, timeoutSec: 0 })).toThrow(/timeoutSec/);
  });
});

describe('steamcmdUnitProperties', () => {
  const props = steamcmdUnitProperties({
    ...script,
    installDir: '/var/lib/left4me/installation',
    steamHome: '/var/lib/left4me/steam',
    loginFile: '/var/lib/left4me/build-runs/u/steam-login',
    commands: [['/steam/steamcmd/steamcmd.sh', '+quit'], ['/steam/steamcmd/steamcmd.sh', '+quit']],
  });

  it('binds installation, steam home and the login runscript, runs every pass, and allows the x86 ABI', () => {
    for (const [name, sig] of props) expect(sig, name).toBe(SIGNATURES[name]);
    expect(one(props, 'BindPaths')[2]).toEqual([
      ['/var/lib/left4me/installation', '/installation', false, 0n],
      ['/var/lib/left4me/steam', '/steam', false, 0n],
    ]);
    expect(one(props, 'BindReadOnlyPaths')[2]).toContainEqual(['/var/lib/left4me/build-runs/u/steam-login', SANDBOX_LOGIN_FILE, false, 0n]);
    expect((one(props, 'ExecStartEx')[2] as unknown[]).length).toBe(2);
    expect(one(props, 'SystemCallArchitectures')[2]).toEqual(['native', 'x86']);
    expect(all(props, 'MemoryDenyWriteExecute')).toEqual([]);
    expect(all(props, 'IPAddressAllow')).toEqual([]);
    expect(one(props, 'Environment')[2]).toContain('HOME=/steam');
    expect(one(props, 'ProcSubset')[2]).toBe('all');
    expect(one(props, 'BindReadOnlyPaths')[2]).toContainEqual(['/etc/machine-id', '/etc/machine-id', true, 0n]);
  });
});

describe('helpers', () => {
  it('encodes IPv4 and IPv6 networks for IPAddressDeny=', () => {
    expect(ipAddressEntries(['10.0.0.0/8', '::1/128', 'fe80::/10', '192.0.2.2', '::ffff:127.0.0.1'])).toEqual([
      [2, [10, 0, 0, 0], 8],
      [10, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128],
      [10, [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 10],
      [2, [192, 0, 2, 2], 32],
      [10, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], 128],
    ]);
    expect(ipAddressEntries(DENIED_NETWORKS).every(([, bytes]) => bytes.length === 4 || bytes.length === 16)).toBe(true);
    expect(() => ipAddressEntries(['10.0.0.0/33'])).toThrow(SandboxConfigError);
    expect(() => ipAddressEntries(['example.com'])).toThrow(SandboxConfigError);
  });

  it('writes only public resolvers', () => {
    expect(sandboxResolvConf()).toMatch(/^nameserver 1\.1\.1\.1$/m);
    expect(() => sandboxResolvConf(['dns.local'])).toThrow(SandboxConfigError);
  });

  it('forbids the config dir, the data dir and the layout trees', () => {
    expect(forbiddenPaths(defaultUnitConfig().layout)).toEqual(expect.arrayContaining(['/etc/left4me', '/var/lib/left4me', '/var/lib/left4me/status']));
  });
});

describe('archiveUnitProperties', () => {
  const base = { ...script, argv: ['/bin/bash', '-c', 'tar -t -f /archive'], archiveFile: '/var/lib/left4me/overlays/maps/.tmp-abc-scratch/archive-1', maxFileBytes: 1024n };

  it('uses systemd 252 signatures, has no network at all and caps every file it writes', () => {
    const props = archiveUnitProperties({ ...base, outputDir: '/var/lib/left4me/overlays/maps/.tmp-abc-scratch/extract/raw' });
    for (const [name, sig] of props) expect(sig, name).toBe(SIGNATURES[name]);
    expect(one(props, 'PrivateNetwork')[2]).toBe(true);
    expect(one(props, 'RestrictAddressFamilies')[2]).toEqual([true, ['AF_UNIX']]);
    expect(one(props, 'LimitFSIZE')[2]).toBe(1024n);
    expect(one(props, 'User')[2]).toBe('left4me-build');
    expect(one(props, 'BindPaths')[2]).toEqual([['/var/lib/left4me/overlays/maps/.tmp-abc-scratch/extract/raw', '/output', false, 0n]]);
    expect((one(props, 'BindReadOnlyPaths')[2] as unknown[]).at(-1)).toEqual([base.archiveFile, '/archive', false, 0n]);
  });

  it('sets no BindPaths without an output dir: an empty one would reset the read-only binds too', () => {
    const props = archiveUnitProperties({ ...base, stdoutFile: '/var/lib/left4me/build-runs/u/listing' });
    expect(all(props, 'BindPaths')).toEqual([]);
    expect(one(props, 'StandardOutputFileToAppend')[2]).toBe('/var/lib/left4me/build-runs/u/listing');
    expect(one(props, 'StandardErrorFileToAppend')[2]).toBe(script.logFile);
  });

  it('refuses a relative program path and a zero file size limit', () => {
    expect(() => archiveUnitProperties({ ...base, argv: ['tar'] })).toThrow(SandboxConfigError);
    expect(() => archiveUnitProperties({ ...base, maxFileBytes: 0n })).toThrow(/maxFileBytes/);
  });
});
