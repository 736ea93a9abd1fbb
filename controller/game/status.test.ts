import { describe, expect, it } from 'vitest';
import { parseStatus, steamId64 } from './status.js';

describe('parseStatus', () => {
  it('reads the hostname, the map and each client line as L4D2 prints them', () => {
    const text = [
      'hostname: Versus "Night" #1',
      'version : 2.2.4.3 secure',
      'udp/ip  : 0.0.0.0:27015 [ public 1.2.3.4:27015 ]',
      'map     : c2m1_highway at: 0 x, 0 y, 0 z',
      'players : 3 humans, 1 bots (8 max) (not hibernating) (unreserved)',
      '',
      '# userid name uniqueid connected ping loss state rate adr',
      '#  2 1 "Ellis" STEAM_1:0:11101 12:34 40 0 active 30000 1.2.3.4:27005',
      '#  3 "Nick "the gambler"" STEAM_1:1:4242 1:02:03 60 0 active 30000 5.6.7.8:27005',
      '#  4 "Coach" BOT active',
      '#  5 "Newer" [U:1:22202] 00:05 30 0 spawning 30000 9.9.9.9:27005',
      '#  6 "Joining" STEAM_ID_PENDING 00:01 30 0 spawning 30000 9.9.9.8:27005',
      '#end',
    ].join('\r\n');
    expect(parseStatus(text)).toEqual({
      hostname: 'Versus "Night" #1',
      map: 'c2m1_highway',
      players: [
        { userid: 2, name: 'Ellis', steamId: '76561197960287930' },
        { userid: 3, name: 'Nick "the gambler"', steamId: '76561197960274213' },
        { userid: 4, name: 'Coach' },
        { userid: 5, name: 'Newer', steamId: '76561197960287930' },
        { userid: 6, name: 'Joining' },
      ],
    });
  });

  it('skips what it does not know, and reads nothing from nothing', () => {
    expect(parseStatus('')).toEqual({ players: [] });
    expect(parseStatus('# 2 "unterminated STEAM_1:0:1\n#x "a" STEAM_1:0:1\nUnknown command "status"')).toEqual({ players: [] });
  });

  it('converts both SteamID spellings to SteamID64', () => {
    expect(steamId64('STEAM_1:0:11101')).toBe('76561197960287930');
    expect(steamId64('[U:1:22202]')).toBe('76561197960287930');
    expect(steamId64('STEAM_1:2:1')).toBeUndefined();
    expect(steamId64('[U:1:99999999999]')).toBeUndefined();
  });
});
