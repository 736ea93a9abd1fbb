import { describe, expect, it } from 'vitest';
import { LaunchArgsError, parseLaunchArgs } from './args.js';

describe('parseLaunchArgs', () => {
  it('reads the command line left4me generates', () => {
    const opts = parseLaunchArgs([
      '-game', 'left4dead2', '-port', '27016', '+clientport', '27006', '-ip', '0.0.0.0',
      '+map', 'c2m1_highway', '-strictportbind', '-norestart', '-tickrate', '100', '+maxplayers', '12',
    ]);
    expect(opts).toMatchObject({
      game: 'left4dead2',
      port: 27016,
      clientPort: 27006,
      ip: '0.0.0.0',
      map: 'c2m1_highway',
      strictPortBind: true,
      noRestart: true,
      tickrate: 100,
      maxPlayers: 12,
      consoleCommands: [],
      ignored: [],
    });
  });

  it('uses srcds defaults when options are absent', () => {
    expect(parseLaunchArgs([])).toMatchObject({
      game: 'left4dead2', port: 27015, clientPort: 27005, ip: '0.0.0.0', map: null,
      strictPortBind: false, noRestart: false, insecure: false, tickrate: null, maxPlayers: null,
    });
  });

  it('turns other + arguments into console lines, in order, quoting values that need it', () => {
    const opts = parseLaunchArgs([
      '+exec', 'match.cfg', '+hostname', 'My Server', '+servercfgfile', 'versus.cfg', '+sv_gravity', '-800',
      '+sv_tags', 'a;b',
    ]);
    expect(opts.consoleCommands).toEqual([
      'exec match.cfg',
      'hostname "My Server"',
      'servercfgfile versus.cfg',
      'sv_gravity -800',
      'sv_tags "a;b"',
    ]);
  });

  it('accepts the + and - spellings of ip and port', () => {
    expect(parseLaunchArgs(['+ip', '127.0.0.1', '+hostport', '27020'])).toMatchObject({ ip: '127.0.0.1', port: 27020 });
  });

  it('ignores unknown options (with the word they own) instead of failing', () => {
    const opts = parseLaunchArgs(['-pidfile', 'x.pid', '-console', '-nohltv', 'stray', '-port', '27015', '-insecure']);
    expect(opts.ignored).toEqual(['-pidfile x.pid', 'stray']);
    expect(opts.port).toBe(27015);
    expect(opts.insecure).toBe(true);
  });

  it('refuses ports srcds could not bind', () => {
    expect(() => parseLaunchArgs(['-port', '70000'])).toThrow(LaunchArgsError);
    expect(() => parseLaunchArgs(['-port', 'abc'])).toThrow(/not a port number/);
    expect(() => parseLaunchArgs(['+clientport'])).toThrow(/needs a value/);
    expect(() => parseLaunchArgs(['-tickrate', '0'])).toThrow(LaunchArgsError);
  });
});
