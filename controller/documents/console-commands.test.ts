import { describe, expect, it } from 'vitest';
import { consoleCommandProblem, consoleTextCommands } from './console-commands.js';

describe('console text: commands a server.cfg fragment or alias body would run', () => {
  it('finds commands on every line and after every ;, quoted or in any case, and skips comments', () => {
    const text = ['sv_cheats 0', 'hostname "x"; EXEC evil.cfg', '"plugin_load" addons/x.so', '  // exec commented.cfg', 'sm_cvar a 1 // trailing', 'echo "a;quit"'].join('\n');
    expect(consoleTextCommands(text).map((c) => [c.line, c.command])).toEqual([
      [2, 'EXEC'],
      [3, 'plugin_load'],
      [5, 'sm_cvar'],
      [6, 'echo'],
      [6, 'quit'],
    ]);
  });

  it('lets plain settings through, CRLF line ends included', () => {
    expect(consoleTextCommands('sv_alltalk 1\r\nsv_minrate 100000\r\nsm_forcematch zonemod\r\n\r\n')).toEqual([]);
  });

  it('says why, in the words the cvar check uses', () => {
    expect(consoleTextCommands('exec x.cfg')[0]!.why).toBe(consoleCommandProblem('exec'));
  });
});
