import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GameConsole, MAX_EXEC_DEPTH, type GameConsoleOptions } from './console.js';

let root: string;
let cfgDir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'l4m-console-'));
  cfgDir = join(root, 'left4dead2', 'cfg');
  mkdirSync(cfgDir, { recursive: true });
  mkdirSync(join(root, 'left4dead2', 'addons'), { recursive: true });
  mkdirSync(join(root, 'left4dead2', 'maps'), { recursive: true });
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function cfg(name: string, text: string): void {
  const path = join(cfgDir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

function makeConsole(extra: Partial<GameConsoleOptions> = {}): GameConsole {
  return new GameConsole({ root, game: 'left4dead2', ip: '127.0.0.1', port: 27015, ...extra });
}

describe('server.cfg', () => {
  it('runs on map load with comments, quotes, semicolons and nested exec', () => {
    cfg('server.cfg', [
      '// demo config',
      'hostname "Versus #1" // the name',
      'rcon_password s3cret; sv_tags "versus,demo"',
      'exec settings/rates.cfg',
      'sv_maxplayers 12',
    ].join('\n'));
    cfg('settings/rates.cfg', 'sv_minrate 100000\nsv_maxrate "100000"\n');
    const c = makeConsole();
    expect(c.loadMap('c1m1_hotel')).toEqual([]);
    expect(c.map).toBe('c1m1_hotel');
    expect(c.cvar('hostname')).toBe('Versus #1');
    expect(c.cvar('rcon_password')).toBe('s3cret');
    expect(c.cvar('sv_tags')).toBe('versus,demo');
    expect(c.cvar('sv_minrate')).toBe('100000');
    expect(c.maxPlayers()).toBe(12);
    expect(c.execute('demo_cfg')).toEqual([
      'hostname "Versus #1"',
      'rcon_password "s3cret"',
      'sv_tags "versus,demo"',
      'sv_minrate "100000"',
      'sv_maxrate "100000"',
      'sv_maxplayers "12"',
    ]);
  });

  it('uses the servercfgfile cvar when set', () => {
    cfg('server.cfg', 'hostname wrong');
    cfg('versus.cfg', 'hostname right');
    const c = makeConsole();
    c.execute('servercfgfile versus.cfg');
    c.loadMap('c1m1_hotel');
    expect(c.cvar('hostname')).toBe('right');
  });

  it('warns about a missing file like srcds and carries on', () => {
    cfg('server.cfg', 'exec nothere.cfg\nhostname after');
    const c = makeConsole();
    expect(c.loadMap('c1m1_hotel')).toEqual(["exec: couldn't exec nothere.cfg"]);
    expect(c.cvar('hostname')).toBe('after');
  });

  it('loads without any server.cfg', () => {
    const c = makeConsole();
    expect(c.loadMap('c1m1_hotel')).toEqual(["exec: couldn't exec server.cfg"]);
    expect(c.map).toBe('c1m1_hotel');
  });
});

describe('exec', () => {
  it('stops a self-including cfg at the depth limit', () => {
    cfg('loop.cfg', 'echo tick\nexec loop.cfg');
    const out = makeConsole().execute('exec loop');
    expect(out.filter((l) => l === 'tick')).toHaveLength(MAX_EXEC_DEPTH);
    expect(out.at(-1)).toMatch(/^exec loop\.cfg: nested too deeply \(limit 8\)/);
  });

  it('bounds a cfg that includes itself many times', () => {
    cfg('fan.cfg', 'exec fan.cfg\n'.repeat(10));
    const out = makeConsole().execute('exec fan.cfg');
    expect(out.some((l) => /too many files executed by one command/.test(l))).toBe(true);
  });

  it('refuses paths outside cfg/', () => {
    writeFileSync(join(root, 'left4dead2', 'secret.cfg'), 'hostname leaked');
    const c = makeConsole();
    expect(c.execute('exec ../secret.cfg')[0]).toMatch(/not a valid path/);
    expect(c.execute('exec /etc/passwd')[0]).toMatch(/not a valid path/);
    expect(c.cvar('hostname')).toBe('Left 4 Dead 2');
  });

  it('runs aliases, also nested ones, within the same depth limit', () => {
    const c = makeConsole();
    c.execute('alias go "echo one; echo two"');
    expect(c.execute('go')).toEqual(['one', 'two']);
    c.execute('alias spin spin');
    expect(c.execute('spin').at(-1)).toMatch(/nested too deeply/);
  });
});

describe('console commands', () => {
  it('reads and sets cvars, case-insensitively', () => {
    const c = makeConsole();
    expect(c.execute('HOSTNAME "Big Server"')).toEqual([]);
    expect(c.execute('hostname')).toEqual(['"hostname" = "Big Server"']);
    expect(c.execute('my_plugin_cvar 3')).toEqual([]);
    expect(c.execute('my_plugin_cvar')).toEqual(['"my_plugin_cvar" = "3"']);
    expect(c.execute('cvarlist')).toContain(`${'my_plugin_cvar'.padEnd(40)} : 3`);
  });

  it('says Unknown command like srcds', () => {
    expect(makeConsole().execute('frobnicate')).toEqual(['Unknown command "frobnicate"']);
  });

  it('changes level only to known maps, with srcds error text', () => {
    writeFileSync(join(root, 'left4dead2', 'maps', 'my_custom.bsp'), 'VBSP');
    const loaded: string[] = [];
    const c = makeConsole({ onMapLoaded: (m) => loaded.push(m) });
    expect(c.execute('changelevel c9m9_nowhere')).toEqual(['changelevel failed: c9m9_nowhere not found']);
    expect(c.execute('map ../../etc/passwd')).toEqual(['map load failed: ../../etc/passwd not found or invalid']);
    expect(c.map).toBeNull();
    c.execute('changelevel c14m2_lighthouse');
    c.execute('map my_custom');
    expect(c.map).toBe('my_custom');
    expect(loaded).toEqual(['c14m2_lighthouse', 'my_custom']);
  });

  it('simulates players for A2S and status', () => {
    let t = 1_000_000;
    const c = makeConsole({ now: () => t });
    c.loadMap('c1m1_hotel');
    expect(c.execute('demo_players 3')).toEqual(['demo_players: 3 connected']);
    c.execute('demo_players add Zoey the Student');
    t += 65_000;
    expect(c.connectedPlayers().map((p) => p.name)).toEqual(['Player1', 'Player2', 'Player3', 'Zoey the Student']);
    const status = c.execute('status');
    expect(status).toContain('players : 4 humans, 0 bots (8 max) (not hibernating) (unreserved)');
    expect(status.some((l) => l.includes('"Zoey the Student"') && l.includes('01:05'))).toBe(true);
    expect(c.execute('demo_players 1')).toEqual(['demo_players: 1 connected']);
    c.execute('demo_players clear');
    expect(c.connectedPlayers()).toEqual([]);
    expect(c.execute('demo_players lots')[0]).toMatch(/^Usage/);
  });

  it('prints a status block with hostname, address, map and player limit', () => {
    const c = makeConsole();
    c.execute('hostname Demo; maxplayers 4');
    c.loadMap('c2m1_highway');
    expect(c.execute('status').slice(0, 6)).toEqual([
      'hostname: Demo',
      'version : 2.2.4.3 secure',
      'udp/ip  : 127.0.0.1:27015',
      'os      : Linux Dedicated',
      'map     : c2m1_highway',
      'players : 0 humans, 0 bots (4 max) (hibernating) (unreserved)',
    ]);
  });

  it('lists addon vpks sorted, and sees sourcemod', () => {
    const addons = join(root, 'left4dead2', 'addons');
    for (const f of ['zz.vpk', 'aa.vpk', 'readme.txt', 'Mid.VPK']) writeFileSync(join(addons, f), '');
    const c = makeConsole();
    expect(c.execute('demo_addons')).toEqual(['Mid.VPK', 'aa.vpk', 'zz.vpk']);
    expect(c.hasSourceMod()).toBe(false);
    mkdirSync(join(addons, 'sourcemod'));
    expect(c.hasSourceMod()).toBe(true);
  });

  it('reports quit and rcon_password changes to its owner', () => {
    const events: string[] = [];
    const c = makeConsole({ onQuit: () => events.push('quit'), onCvarChanged: (n, v) => events.push(`${n}=${v}`) });
    c.execute('rcon_password abc; rcon_password abc; exit');
    expect(events).toEqual(['rcon_password=abc', 'quit']);
  });

  it('echoes and says', () => {
    const logged: string[] = [];
    const c = makeConsole({ log: (l) => logged.push(l) });
    expect(c.execute('echo hello world')).toEqual(['hello world']);
    expect(c.execute('say "round starts"')).toEqual(['Console: round starts']);
    expect(logged).toContain('Console: round starts');
  });
});

describe('demo_write', () => {
  it('writes one file in the working directory with the mode the umask leaves, and refuses a path', async () => {
    const { readFileSync, statSync } = await import('node:fs');
    const c = makeConsole();
    const old = process.umask(0o027);
    try {
      expect(c.execute('demo_write notes.txt hello from the server')).toEqual(['demo_write: wrote notes.txt (22 bytes)']);
    } finally {
      process.umask(old);
    }
    expect(readFileSync(join(root, 'notes.txt'), 'utf8')).toBe('hello from the server\n');
    expect(statSync(join(root, 'notes.txt')).mode & 0o777).toBe(0o640);
    for (const bad of ['../x', 'a/b', '.hidden', '']) {
      expect(c.execute(`demo_write "${bad}" x`)[0], bad).toMatch(/^demo_write <name> <text>/);
    }
  });
});
