import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESERVED_LAUNCH_ARGS } from '../documents/launch-args.js';
import { hostLayout } from '../host/layout.js';
import { escapeUnitPath } from './escape.js';
import {
  type InstanceUnitSpec,
  LAUNCH_ARGS_VAR,
  MANAGED_HEADER,
  SERVER_SANDBOXES,
  SERVER_TEMPLATE_UNIT,
  UnitRenderError,
  defaultUnitConfig,
  instancePaths,
  launchArgs,
  lowerDirs,
  mountUnitName,
  renderInstanceMount,
  renderLaunchEnv,
  renderLaunchEnvFiles,
  renderServerTemplate,
  renderSlices,
  renderUnitFiles,
  launchEnvPort,
  resolveUnitConfig,
  serverTemplateStamp,
  serverUnitName,
} from './units.js';

const versus: InstanceUnitSpec = {
  name: 'versus-1',
  overlays: [
    { overlay: 'standard', build: '3f2a9c0d1e4b5a67' },
    { overlay: 'tickrate', build: '0b1c2d3e4f5a6b7c' },
    { overlay: 'zonemod', build: 'aa00bb11cc22dd33' },
  ],
  configBuild: 'c0ffee0000000001',
  launch: { port: 27015, clientPort: 27005, map: 'c1m1_hotel', maxPlayers: 8, tickrate: 100, extraArgs: ['-nohltv', '+sv_lan', '0'] },
};

const coop: InstanceUnitSpec = {
  name: 'coop',
  overlays: [],
  configBuild: null,
  launch: { port: 27016, clientPort: 27006, map: 'c2m1_highway', maxPlayers: 4 },
};

function renderError(fn: () => unknown): UnitRenderError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UnitRenderError) return e;
    throw e;
  }
  throw new Error('expected a UnitRenderError');
}

// ---------------------------------------------------------------------------
// Models of the two systemd parsers launch.env goes through, transcribed from
// systemd 252 (src/basic/env-file.c parse_env_file_internal, and
// extract_first_word with EXTRACT_UNQUOTE|EXTRACT_RELAX as used when ExecStart=
// splits an unbraced $VAR). The hostile arguments below were also run through
// a real systemd 252 (private PID 1, argv printed by the started service) and
// arrived byte for byte; these models keep that property under test offline.

function parseEnvFile(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  type State = 'preKey' | 'key' | 'preValue' | 'value' | 'valueEscape' | 'single' | 'double' | 'doubleEscape' | 'comment';
  let state: State = 'preKey';
  let key = '';
  let value = '';
  let trailingWs = -1;
  const push = (): void => {
    vars.set(key.trimEnd(), state === 'value' && trailingWs >= 0 ? value.slice(0, trailingWs) : value);
    key = '';
    value = '';
    trailingWs = -1;
  };
  for (const c of text) {
    switch (state) {
      case 'preKey':
        if (c === '#' || c === ';') state = 'comment';
        else if (!' \t\n\r'.includes(c)) (state = 'key'), (key = c);
        break;
      case 'key':
        if (c === '\n' || c === '\r') (state = 'preKey'), (key = '');
        else if (c === '=') state = 'preValue';
        else key += c;
        break;
      case 'preValue':
        if (c === '\n' || c === '\r') push(), (state = 'preKey');
        else if (c === "'") state = 'single';
        else if (c === '"') state = 'double';
        else if (c === '\\') state = 'valueEscape';
        else if (!' \t'.includes(c)) (state = 'value'), (value += c);
        break;
      case 'value':
        if (c === '\n' || c === '\r') push(), (state = 'preKey');
        else if (c === '\\') (state = 'valueEscape'), (trailingWs = -1);
        else {
          if (!' \t'.includes(c)) trailingWs = -1;
          else if (trailingWs < 0) trailingWs = value.length;
          value += c;
        }
        break;
      case 'valueEscape':
        state = 'value';
        if (c !== '\n' && c !== '\r') value += c;
        break;
      case 'single':
        if (c === "'") state = 'preValue';
        else value += c;
        break;
      case 'double':
        if (c === '"') state = 'preValue';
        else if (c === '\\') state = 'doubleEscape';
        else value += c;
        break;
      case 'doubleEscape':
        state = 'double';
        if ('"\\`$'.includes(c)) value += c;
        else if (c !== '\n') value += `\\${c}`;
        break;
      case 'comment':
        if (c === '\n' || c === '\r') state = 'preKey';
        break;
    }
  }
  if (state !== 'preKey' && state !== 'key' && state !== 'comment') push();
  return vars;
}

function splitWords(s: string): string[] {
  const words: string[] = [];
  let i = 0;
  const ws = ' \t\n\r';
  for (;;) {
    while (i < s.length && ws.includes(s[i] as string)) i++;
    if (i >= s.length) return words;
    let word = '';
    let quote: string | null = null;
    for (; i < s.length; i++) {
      const c = s[i] as string;
      if (c === '\\') {
        i++;
        if (i < s.length) word += s[i];
      } else if (quote) {
        if (c === quote) quote = null;
        else word += c;
      } else if (c === '"' || c === "'") quote = c;
      else if (ws.includes(c)) break;
      else word += c;
    }
    words.push(word);
  }
}

/** What srcds_run would receive as argv[1..] from a rendered launch.env. */
function argvFromLaunchEnv(text: string): string[] {
  const vars = parseEnvFile(text);
  expect([...vars.keys()]).toEqual([LAUNCH_ARGS_VAR]);
  return splitWords(vars.get(LAUNCH_ARGS_VAR) as string);
}

// ---------------------------------------------------------------------------

describe('launchEnvPort', () => {
  it('reads the game port a rendered launch.env starts srcds on, and nothing from other text', () => {
    const text = renderLaunchEnv({ name: 'a', launch: { port: 27020, clientPort: 26901, map: 'c1m1_hotel', maxPlayers: 8 } });
    expect(launchEnvPort(text)).toBe(27020);
    expect(launchEnvPort(undefined)).toBeUndefined();
    expect(launchEnvPort('# hand-edited\nFOO="-port 1"\n')).toBeUndefined();
  });
});

describe('the server template', () => {
  it('hides every tree of a moved data directory from game servers, secrets and logs included', () => {
    const cfg = resolveUnitConfig({ layout: hostLayout('/srv/l4m') });
    const line = renderServerTemplate(cfg).split('\n').find((l) => l.startsWith('InaccessiblePaths='))!;
    for (const dir of ['status', 'cache', 'instances', 'overlays', 'installation', 'secrets', 'trash', 'logs', 'build-runs', 'steam']) expect(line).toContain(` -/srv/l4m/${dir}`);
    expect(line).toContain(' -/etc/left4me');
  });

  it('renders the reviewed text', () => {
    expect(renderServerTemplate()).toMatchInlineSnapshot(`
      "# Managed by left4me — edits are overwritten

      [Unit]
      Description=left4me game server %i
      Wants=network-online.target
      After=network-online.target
      # Pulls in and orders after the instance overlay mount unit.
      RequiresMountsFor=/var/lib/left4me/runtime/%i
      StartLimitIntervalSec=60
      StartLimitBurst=5

      [Service]
      Type=exec
      # Each instance's drop-in 10-user.conf sets User= to its own leased uid; servers share only the group.
      User=left4me
      Group=left4me
      Slice=l4d2-game.slice
      # A journal of their own, which the web group reads: server logs and nothing else of the journal.
      LogNamespace=left4me
      WorkingDirectory=/var/lib/left4me/runtime/%i
      # Steam looks for ~/.steam/sdk32/steamclient.so; the installation carries it.
      Environment=HOME=/var/lib/left4me/runtime/%i
      EnvironmentFile=/var/lib/left4me/instances/%i/launch.env
      ExecStart=/var/lib/left4me/runtime/%i/srcds_run $LEFT4ME_ARGS
      Restart=on-failure
      RestartSec=5s
      KillSignal=SIGINT
      TimeoutStopSec=15s
      Nice=-5
      OOMScoreAdjust=-200
      MemoryHigh=1536M
      MemoryMax=2G
      TasksMax=256
      LimitNOFILE=65536
      # The history's CPU and memory (CPUUsageNSec, MemoryCurrent): explicit, since the defaults differ by cgroup version.
      CPUAccounting=yes
      MemoryAccounting=yes
      # A crash loop must not fill the upper layer with core files.
      LimitCORE=0
      # What a server writes is its own uid's, readable by the group of its writable layer: the web group
      # (upper/ is setgid left4me-web), never the game group other servers share.
      UMask=0027
      # Sandbox profile strict (left4me controller --server-sandbox strict|compat).
      NoNewPrivileges=yes
      CapabilityBoundingSet=
      AmbientCapabilities=
      PrivateUsers=yes
      PrivateTmp=yes
      PrivateDevices=yes
      DevicePolicy=closed
      PrivateIPC=yes
      PrivateMounts=yes
      ProtectSystem=strict
      ProtectHome=yes
      # srcds reads /proc/cpuinfo, so no ProcSubset=pid.
      ProtectProc=invisible
      ProtectKernelTunables=yes
      ProtectKernelModules=yes
      ProtectKernelLogs=yes
      ProtectClock=yes
      ProtectControlGroups=yes
      ProtectHostname=yes
      KeyringMode=private
      RestrictSUIDSGID=yes
      RestrictNamespaces=yes
      RestrictRealtime=yes
      RemoveIPC=yes
      LockPersonality=yes
      # srcds_linux is 32-bit with W+X text relocations: x86 ABI allowed, no MemoryDenyWriteExecute.
      SystemCallArchitectures=native x86
      SystemCallFilter=@system-service
      SystemCallFilter=~@clock @cpu-emulation @debug @module @mount @obsolete @privileged @raw-io @reboot @resources @swap
      SystemCallErrorNumber=EPERM
      # Game traffic goes to the whole internet, so no IPAddressDeny=. AF_UNIX stays for in-process IPC.
      # This binds 64-bit helpers only: seccomp cannot inspect the x86 socketcall() of 32-bit glibc.
      RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
      # Empty read-only trees over host data (ProtectSystem= leaves /run writable and PrivateDevices= shares
      # the host's /dev/shm); the server sees its own merged overlay and what it needs to run.
      TemporaryFileSystem=/etc:ro /var:ro /opt:ro /srv:ro /mnt:ro /media:ro /run:ro /dev/shm:mode=1777
      BindReadOnlyPaths=-/etc/alternatives -/etc/ca-certificates -/etc/gai.conf -/etc/group -/etc/host.conf -/etc/hosts -/etc/ld.so.cache -/etc/ld.so.conf -/etc/ld.so.conf.d -/etc/localtime -/etc/machine-id -/etc/nsswitch.conf -/etc/os-release -/etc/passwd -/etc/protocols -/etc/resolv.conf -/etc/services -/etc/ssl
      BindPaths=/var/lib/left4me/runtime/%i
      InaccessiblePaths=-/dev/mqueue -/etc/left4me -/var/lib/left4me/status -/var/lib/left4me/cache -/var/lib/left4me/instances -/var/lib/left4me/overlays -/var/lib/left4me/installation -/var/lib/left4me/secrets -/var/lib/left4me/trash -/var/lib/left4me/logs -/var/lib/left4me/build-runs -/var/lib/left4me/steam -/var/lib/left4me/sources -/var/lib/left4me/triggers

      [Install]
      WantedBy=multi-user.target
      "
    `);
  });

  it('is the same whatever instances exist: per-instance data lives in the mount unit and launch.env', () => {
    expect(renderUnitFiles([versus]).get(SERVER_TEMPLATE_UNIT)).toBe(renderUnitFiles([coop]).get(SERVER_TEMPLATE_UNIT));
  });

  it('follows the layout', () => {
    const cfg = resolveUnitConfig({ layout: { runtimeDir: '/srv/l4d2/run', instancesDir: '/srv/l4d2/inst', user: 'games', group: 'games' } });
    const text = renderServerTemplate(cfg);
    expect(text).toContain('\nRequiresMountsFor=/srv/l4d2/run/%i\n');
    expect(text).toContain('\nBindPaths=/srv/l4d2/run/%i\n');
    expect(text).toContain('\nEnvironmentFile=/srv/l4d2/inst/%i/launch.env\n');
    expect(text).toContain('\nUser=games\nGroup=games\n');
    expect(text).toContain(' -/srv/l4d2/inst ');
  });

  it('compat differs from strict only in the sandbox directives listed at compatSandbox()', () => {
    const directives = (text: string) => text.split('\n').filter((l) => /^[A-Z]/.test(l));
    const strict = directives(renderServerTemplate());
    const compat = directives(renderServerTemplate(resolveUnitConfig({ server: { sandbox: 'compat' } })));
    expect(strict.filter((l) => !compat.includes(l))).toEqual([
      'DevicePolicy=closed',
      'PrivateMounts=yes',
      'SystemCallArchitectures=native x86',
      'SystemCallFilter=~@clock @cpu-emulation @debug @module @mount @obsolete @privileged @raw-io @reboot @resources @swap',
      'SystemCallErrorNumber=EPERM',
      'TemporaryFileSystem=/etc:ro /var:ro /opt:ro /srv:ro /mnt:ro /media:ro /run:ro /dev/shm:mode=1777',
      expect.stringMatching(/^InaccessiblePaths=-\/dev\/mqueue -\/etc\/left4me /),
    ]);
    expect(compat.filter((l) => !strict.includes(l))).toEqual([
      'SystemCallFilter=@pkey',
      'SystemCallFilter=~@cpu-emulation @debug @mount @obsolete @privileged @raw-io @reboot @swap',
      'TemporaryFileSystem=/var/lib /etc /opt /home /root /srv /mnt /media',
      expect.stringMatching(/^InaccessiblePaths=-\/etc\/left4me /),
    ]);
    // What the product's design needs is in both: the per-instance uid's drop-in applies to either, the
    // overlay is mounted first, logs go to the servers' journal, files stay private to the web group.
    for (const line of ['RequiresMountsFor=/var/lib/left4me/runtime/%i', 'LogNamespace=left4me', 'UMask=0027', 'LimitCORE=0', 'BindPaths=/var/lib/left4me/runtime/%i', 'User=left4me']) {
      expect(compat).toContain(line);
      expect(strict).toContain(line);
    }
    // And left4me's own trees (RCON passwords among them) stay hidden under compat too.
    expect(compat.find((l) => l.startsWith('InaccessiblePaths='))).toContain(' -/var/lib/left4me/secrets ');
  });

  it('stamps each profile\'s template differently, and the same config the same way', () => {
    const strict = serverTemplateStamp(resolveUnitConfig());
    expect(strict).toMatch(/^strict sha256:[0-9a-f]{16}$/);
    expect(serverTemplateStamp(resolveUnitConfig())).toBe(strict);
    expect(serverTemplateStamp(resolveUnitConfig({ server: { sandbox: 'compat' } }))).toMatch(/^compat sha256:[0-9a-f]{16}$/);
    // Any template change counts, not only the profile: here a resource limit.
    expect(serverTemplateStamp(resolveUnitConfig({ server: { tasksMax: 512 } }))).not.toBe(strict);
  });

  it('refuses a sandbox profile it does not know, naming the field', () => {
    expect(() => resolveUnitConfig({ server: { sandbox: 'lax' as never } })).toThrow(new UnitRenderError('server.sandbox', '"lax" is not one of strict, compat'));
  });

  it('keeps what 32-bit srcds needs: x86 syscalls, W+X memory, /proc/cpuinfo', () => {
    const text = renderServerTemplate();
    expect(text).toContain('\nSystemCallArchitectures=native x86\n');
    expect(text).not.toMatch(/^MemoryDenyWriteExecute=/m);
    expect(text).not.toMatch(/^ProcSubset=/m);
    expect(text).not.toMatch(/^DynamicUser=/m);
  });
});

describe('the instance mount unit', () => {
  it('renders the reviewed text', () => {
    const { fileName, text } = renderInstanceMount(versus);
    expect(fileName).toBe('var-lib-left4me-runtime-versus\\x2d1.mount');
    expect(text).toMatchInlineSnapshot(`
      "# Managed by left4me — edits are overwritten

      [Unit]
      Description=left4me overlay for instance versus-1
      # Unmounted when the server stops. A server restart keeps the old stack; restarting this unit
      # remounts it and restarts the server too (RequiresMountsFor= implies Requires=).
      StopWhenUnneeded=yes
      DefaultDependencies=no
      Conflicts=umount.target
      Before=umount.target
      # systemd does not look inside Options=, so the layers get their own mount dependencies.
      RequiresMountsFor=/var/lib/left4me/instances/versus-1/config/c0ffee0000000001
      RequiresMountsFor=/var/lib/left4me/overlays/zonemod/aa00bb11cc22dd33
      RequiresMountsFor=/var/lib/left4me/overlays/tickrate/0b1c2d3e4f5a6b7c
      RequiresMountsFor=/var/lib/left4me/overlays/standard/3f2a9c0d1e4b5a67
      RequiresMountsFor=/var/lib/left4me/installation
      RequiresMountsFor=/var/lib/left4me/instances/versus-1/upper
      RequiresMountsFor=/var/lib/left4me/instances/versus-1/work

      [Mount]
      What=overlay
      Where=/var/lib/left4me/runtime/versus-1
      Type=overlay
      # index=off: the lower stack changes between mounts and must not be pinned to the upper layer.
      Options=lowerdir=/var/lib/left4me/instances/versus-1/config/c0ffee0000000001:/var/lib/left4me/overlays/zonemod/aa00bb11cc22dd33:/var/lib/left4me/overlays/tickrate/0b1c2d3e4f5a6b7c:/var/lib/left4me/overlays/standard/3f2a9c0d1e4b5a67:/var/lib/left4me/installation,upperdir=/var/lib/left4me/instances/versus-1/upper,workdir=/var/lib/left4me/instances/versus-1/work,index=off
      "
    `);
  });

  it('stacks lower layers topmost first: config layer, overlays last to first, installation last', () => {
    expect(lowerDirs(versus, defaultUnitConfig())).toEqual([
      '/var/lib/left4me/instances/versus-1/config/c0ffee0000000001',
      '/var/lib/left4me/overlays/zonemod/aa00bb11cc22dd33',
      '/var/lib/left4me/overlays/tickrate/0b1c2d3e4f5a6b7c',
      '/var/lib/left4me/overlays/standard/3f2a9c0d1e4b5a67',
      '/var/lib/left4me/installation',
    ]);
    const { text } = renderInstanceMount(versus);
    const lower = /lowerdir=([^,]*),/.exec(text)?.[1];
    expect(lower?.split(':')).toEqual(lowerDirs(versus, defaultUnitConfig()));
  });

  it('works without overlays or config layer, and with an instance-specific installation', () => {
    const { text } = renderInstanceMount({ ...coop, installationDir: '/var/lib/left4me/installation-beta' });
    expect(text).toContain('\nOptions=lowerdir=/var/lib/left4me/installation-beta,upperdir=/var/lib/left4me/instances/coop/upper,');
  });

  it('is named the way systemd names the mount for RequiresMountsFor=', () => {
    for (const name of ['versus-1', 'a', 'a-b-c', '0-0', 'x'.repeat(63)]) {
      const { fileName } = renderInstanceMount({ ...coop, name });
      expect(fileName).toBe(`${escapeUnitPath(`/var/lib/left4me/runtime/${name}`)}.mount`);
      expect(fileName).toBe(mountUnitName(instancePaths(name, defaultUnitConfig().layout).runtimeDir));
    }
  });

  it('refuses a stack whose options exceed the kernel page, naming the instance', () => {
    const overlays = Array.from({ length: 40 }, (_, i) => ({ overlay: `overlay-with-a-rather-long-name-${i}`, build: 'f'.repeat(64) }));
    const e = renderError(() => renderInstanceMount({ ...versus, overlays }));
    expect(e.message).toMatch(/^instance versus-1 overlays: the overlay mount options are \d+ bytes, more than the kernel's 4095/);
  });

  it('refuses the same build twice in one stack', () => {
    const dup = { overlay: 'standard', build: '3f2a9c0d1e4b5a67' };
    expect(renderError(() => renderInstanceMount({ ...versus, overlays: [dup, dup] })).message).toMatch(/appears twice/);
  });
});

describe('launch.env', () => {
  it('renders the reviewed text', () => {
    expect(renderLaunchEnv(versus)).toMatchInlineSnapshot(`
      "# Managed by left4me — edits are overwritten
      LEFT4ME_ARGS="-game left4dead2 -port 27015 +clientport 27005 -ip 0.0.0.0 +map c1m1_hotel -strictportbind -norestart -tickrate 100 +maxplayers 8 -nohltv +sv_lan 0"
      "
    `);
    expect(renderLaunchEnv(coop)).toMatchInlineSnapshot(`
      "# Managed by left4me — edits are overwritten
      LEFT4ME_ARGS="-game left4dead2 -port 27016 +clientport 27006 -ip 0.0.0.0 +map c2m1_highway -strictportbind -norestart +maxplayers 4"
      "
    `);
  });

  it('gives srcds_run the documented command line', () => {
    expect(argvFromLaunchEnv(renderLaunchEnv(versus))).toEqual([
      '-game', 'left4dead2', '-port', '27015', '+clientport', '27005', '-ip', '0.0.0.0', '+map', 'c1m1_hotel',
      '-strictportbind', '-norestart', '-tickrate', '100', '+maxplayers', '8', '-nohltv', '+sv_lan', '0',
    ]);
    expect(argvFromLaunchEnv(renderLaunchEnv(coop))).not.toContain('-tickrate');
  });

  it('delivers hostile arguments intact through both systemd parsers', () => {
    const hostile = [
      'a b"c\\d$e`f', "it's", '%i%%', '#x', ';y', '*', '${HOME}', '$HOME', "'q'", '\\', '"', 'ünï€', '--', '\\x41', 'a=b',
      '"quoted"', 'trailing\\', 'two  spaces', '\u00a0nbsp', '$(id)', '`id`', 'x\\"y', "\\'",
    ];
    const inst = { ...versus, launch: { ...versus.launch, extraArgs: hostile, map: 'map with space' } };
    const argv = argvFromLaunchEnv(renderLaunchEnv(inst));
    expect(argv).toEqual(launchArgs(inst));
    expect(argv.slice(-hostile.length)).toEqual(hostile);
  });

  it('refuses control characters, which no quoting carries through an env file line', () => {
    for (const bad of ['a\nLD_PRELOAD=/x', 'a\rb', 'tab\there', 'nul\u0000', 'del\u007f']) {
      const e = renderError(() => renderLaunchEnv({ ...versus, launch: { ...versus.launch, extraArgs: [bad] } }));
      expect(e.field).toBe('instance versus-1 launch.extraArgs[0]');
      expect(e.message).toMatch(/control characters/);
    }
    expect(renderError(() => renderLaunchEnv({ ...versus, launch: { ...versus.launch, map: 'c1m1\n' } })).field).toBe('instance versus-1 launch.map');
  });

  it('refuses arguments left4me sets itself or that subvert srcds_run, in any case', () => {
    for (const arg of [...RESERVED_LAUNCH_ARGS, '-PORT', '+Map', '-Binary']) {
      const e = renderError(() => renderLaunchEnv({ ...versus, launch: { ...versus.launch, extraArgs: ['-nohltv', arg] } }));
      expect(e.field).toBe('instance versus-1 launch.extraArgs[1]');
    }
  });

  it('refuses impossible numbers and empty arguments', () => {
    const bad: Array<Partial<InstanceUnitSpec['launch']>> = [
      { port: 0 }, { port: 65536 }, { port: 27015.5 }, { clientPort: 27015 }, { maxPlayers: 0 }, { tickrate: 0 }, { extraArgs: [''] },
    ];
    for (const b of bad) expect(() => renderLaunchEnv({ ...versus, launch: { ...versus.launch, ...b } })).toThrow(UnitRenderError);
  });
});

describe('the slices', () => {
  it('renders the reviewed text', () => {
    const slices = renderSlices();
    expect([...slices.keys()]).toEqual(['l4d2-build.slice', 'l4d2-game.slice', 'l4d2.slice']);
    expect([...slices.values()].join('\n----\n')).toMatchInlineSnapshot(`
      "# Managed by left4me — edits are overwritten

      [Unit]
      Description=left4me overlay and installation builds

      [Slice]
      CPUWeight=20
      IOWeight=20
      MemoryMax=4G

      ----
      # Managed by left4me — edits are overwritten

      [Unit]
      Description=left4me game servers

      [Slice]
      CPUWeight=1000
      IOWeight=1000

      ----
      # Managed by left4me — edits are overwritten

      [Unit]
      Description=left4me game servers and builds

      [Slice]
      CPUWeight=1000
      IOWeight=1000
      "
    `);
  });

  it('adds CPU pinning only when configured', () => {
    const slices = renderSlices(resolveUnitConfig({ slices: { game: { allowedCpus: '2-7' }, build: { allowedCpus: '0-1' } } }));
    expect(slices.get('l4d2-game.slice')).toContain('\nAllowedCPUs=2-7\n');
    expect(slices.get('l4d2-build.slice')).toContain('\nAllowedCPUs=0-1\n');
    expect(slices.get('l4d2.slice')).not.toContain('AllowedCPUs');
  });
});

describe('names and hostile input', () => {
  it('names the service of an instance', () => {
    expect(serverUnitName('versus-1')).toBe('left4me-server@versus-1.service');
  });

  it('refuses instance, overlay and build names that could escape their directory or unit name', () => {
    for (const name of ['', 'Versus', 'a/b', '../x', '.x', '-a', 'a_b', 'a b', 'a%i', 'a\n', 'x'.repeat(64), 'ä']) {
      expect(() => serverUnitName(name)).toThrow(UnitRenderError);
      expect(() => renderInstanceMount({ ...coop, name })).toThrow(UnitRenderError);
      expect(() => renderLaunchEnv({ ...coop, name })).toThrow(UnitRenderError);
      expect(() => renderInstanceMount({ ...coop, overlays: [{ overlay: name, build: 'b1' }] })).toThrow(UnitRenderError);
    }
    for (const build of ['', '..', '.hidden', 'a/b', 'a:b', 'a,b', 'a\\b', 'a%b', 'a b']) {
      expect(() => renderInstanceMount({ ...coop, overlays: [{ overlay: 'std', build }] })).toThrow(UnitRenderError);
      expect(() => renderInstanceMount({ ...coop, configBuild: build })).toThrow(UnitRenderError);
    }
  });

  it('refuses layout paths that overlayfs options or unit files would misread, naming the field', () => {
    const bad = [
      '/var/lib/l4m,upperdir=/etc', '/var/lib/a:b', '/var/lib/a\\b', '/var/lib/a%i', '/var/lib/a b', '/var/lib/a"b',
      'var/lib/relative', '/var//lib', '/var/lib/../etc', '/var/lib/', '/', '/var/lib/a\nb',
    ];
    for (const p of bad) {
      expect(renderError(() => resolveUnitConfig({ layout: { overlaysDir: p } })).field).toBe('layout.overlaysDir');
    }
    expect(renderError(() => renderInstanceMount({ ...coop, installationDir: '/srv/a:b' })).field).toBe('instance coop installationDir');
  });

  it('refuses a runtime dir the sandbox could not expose, or that would expose hidden trees', () => {
    for (const runtimeDir of ['/home/l4d2', '/tmp/run', '/run/user/990/x', '/var/lib/left4me/instances/run', '/var/lib/left4me']) {
      expect(renderError(() => resolveUnitConfig({ layout: { runtimeDir } })).field).toBe('layout.runtimeDir');
    }
    expect(renderError(() => resolveUnitConfig({ server: { extraReadOnlyPaths: ['/etc/left4me/secrets'] } })).field).toBe('server.extraReadOnlyPaths[0]');
  });

  it('refuses unit values that would inject directives', () => {
    expect(renderError(() => resolveUnitConfig({ server: { memoryMax: '2G\nUser=root' } })).field).toBe('server.memoryMax');
    expect(renderError(() => resolveUnitConfig({ layout: { user: 'root\nx' } })).field).toBe('layout.user');
    expect(renderError(() => resolveUnitConfig({ server: { bindAddress: '0.0.0.0 -insecure' } })).field).toBe('server.bindAddress');
    expect(renderError(() => resolveUnitConfig({ slices: { game: { allowedCpus: '1-2\n' } } })).field).toBe('slices.game.allowedCpus');
  });

  it('refuses mount points systemd cannot name', () => {
    expect(() => mountUnitName('relative/path')).toThrow(UnitRenderError);
    expect(() => mountUnitName('/a/../b')).toThrow(UnitRenderError);
    expect(() => mountUnitName(`/${'a'.repeat(250)}`)).toThrow(/longer than 255/);
  });
});

describe('the whole host', () => {
  it('lists every unit file, sorted, each with the header and a trailing newline', () => {
    const files = renderUnitFiles([versus, coop]);
    expect([...files.keys()]).toEqual([
      'l4d2-build.slice',
      'l4d2-game.slice',
      'l4d2.slice',
      'left4me-server@.service',
      'var-lib-left4me-runtime-coop.mount',
      'var-lib-left4me-runtime-versus\\x2d1.mount',
    ]);
    for (const text of files.values()) {
      expect(text.startsWith(`${MANAGED_HEADER}\n`)).toBe(true);
      expect(text.endsWith('\n') && !text.endsWith('\n\n')).toBe(true);
    }
  });

  it('renders the same bytes whatever the input order', () => {
    const a = renderUnitFiles([versus, coop]);
    const b = renderUnitFiles([coop, versus]);
    expect([...b]).toEqual([...a]);
    expect([...renderLaunchEnvFiles([coop, versus])]).toEqual([...renderLaunchEnvFiles([versus, coop])]);
    expect([...renderLaunchEnvFiles([versus, coop]).keys()]).toEqual([
      '/var/lib/left4me/instances/coop/launch.env',
      '/var/lib/left4me/instances/versus-1/launch.env',
    ]);
  });

  it('refuses an instance listed twice', () => {
    expect(() => renderUnitFiles([coop, coop])).toThrow(/listed twice/);
    expect(() => renderLaunchEnvFiles([coop, coop])).toThrow(/listed twice/);
  });

  it('does not share config objects between callers', () => {
    const a = defaultUnitConfig();
    a.layout.user = 'someone';
    expect(defaultUnitConfig().layout.user).toBe('left4me');
  });
});

// ---------------------------------------------------------------------------
// systemd's own tools, offline (no running manager needed).

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'left4me-units-'));
  scratch.push(dir);
  return dir;
}

// systemd is a test dependency (.ci/run installs it): a missing binary fails, it never skips.
it('has systemd-analyze to verify against', () => expect(hasAnalyze).toBe(true));

describe('systemd-analyze on the rendered files', () => {
  it.each(SERVER_SANDBOXES)('verifies every unit without a warning (server sandbox %s)', (sandbox) => {
    const cfg = resolveUnitConfig({ server: { sandbox } });
    // verify resolves the dependency tree, so the alternate root needs the distribution's units (targets, slices).
    const paths = spawnSync('systemd-analyze', ['unit-paths']).stdout.toString().split('\n');
    const vendor = paths.find((p) => p !== '' && existsSync(join(p, 'sysinit.target')));
    expect(vendor, 'a unit directory with sysinit.target').toBeDefined();
    const root = scratchDir();
    const unitDir = join(root, 'etc/systemd/system');
    mkdirSync(unitDir, { recursive: true });
    cpSync(vendor as string, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    for (const [name, text] of renderUnitFiles([versus, coop], cfg)) writeFileSync(join(unitDir, name), text);
    // verify checks that ExecStart= is executable; the merged overlay would provide it.
    for (const name of ['versus-1', 'coop']) {
      const srcds = join(root, `var/lib/left4me/runtime/${name}/srcds_run`);
      mkdirSync(join(srcds, '..'), { recursive: true });
      writeFileSync(srcds, '#!/bin/sh\n');
      chmodSync(srcds, 0o755);
    }
    const units = [
      serverUnitName('versus-1'),
      serverUnitName('coop'),
      ...[...renderUnitFiles([versus, coop], cfg).keys()].filter((n) => !n.endsWith('@.service')),
    ];
    const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...units], { env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
    expect({ status: r.status, stderr: r.stderr.toString(), stdout: r.stdout.toString() }).toEqual({ status: 0, stderr: '', stdout: '' });
  });

  /** `systemd-analyze security --offline` of a template as one instance's unit: the overall figure and the settings that count against it. */
  function offlineExposure(text: string): { score: number; exposed: string[] } {
    const dir = scratchDir();
    const file = join(dir, serverUnitName('versus-1'));
    writeFileSync(file, text);
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--json=short', file], {
      env: { ...process.env, SYSTEMD_ANALYZE_DEBUG: '1' },
    });
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout.toString()) as Array<{ name: string; weight?: number; badness?: number; range?: number }>;
    let badness = 0;
    let weight = 0;
    const exposed: string[] = [];
    for (const row of rows) {
      if (row.badness === undefined || row.badness === null || row.weight === undefined || row.range === undefined) continue;
      badness += Math.ceil((row.badness * row.weight) / row.range);
      weight += row.weight;
      if (row.badness > 0) exposed.push(row.name);
    }
    // systemd prints ceil(100 * badness / weight) tenths.
    return { score: Math.ceil((badness * 100) / weight) / 10, exposed: exposed.sort() };
  }

  it('scores the compat server at exposure 2.0 or better, exposed only where it lacks strict\'s settings', () => {
    const { score, exposed } = offlineExposure(renderServerTemplate(resolveUnitConfig({ server: { sandbox: 'compat' } })));
    console.log(`systemd-analyze security --offline, compat server template: ${score}`);
    expect(score).toBeLessThanOrEqual(2.0);
    const strict = offlineExposure(renderServerTemplate()).exposed;
    // Beyond strict's (which already counts its x86 ABI, and whose @clock ProtectClock= covers): no
    // PrivateMounts= stated, and the @resources group (setpriority(), setrlimit()…) allowed.
    expect(exposed.filter((e) => !strict.includes(e))).toEqual(['PrivateMounts=', 'SystemCallFilter=~@resources']);
    expect(strict.filter((e) => !exposed.includes(e))).toEqual([]);
  });

  it('scores the server at exposure 1.2 or better (previous deployment: 1.7)', () => {
    const { score, exposed } = offlineExposure(renderServerTemplate());
    expect(score).toBeLessThanOrEqual(1.2);
    // What is left is what a 32-bit internet game server needs (see the template's comments).
    expect(exposed).toEqual([
      'DeviceAllow=', // ProtectClock= itself allows char-rtc reads
      'IPAddressDeny=',
      'MemoryDenyWriteExecute=',
      'PrivateNetwork=',
      'ProcSubset=',
      'RestrictAddressFamilies=~AF_(INET|INET6)',
      'RestrictAddressFamilies=~AF_UNIX',
      'RootDirectory=/RootImage=',
      'SystemCallArchitectures=',
      'UMask=', // 0027: group-readable, and the group of a writable layer is the web service's (setgid upper/)
    ]);
  });
});
