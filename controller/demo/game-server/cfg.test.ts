import { describe, expect, it } from 'vitest';
import { cvarValue, quoteArg, splitCommands, tokenizeCommand } from './cfg.js';

describe('splitCommands', () => {
  it('splits on newlines and unquoted semicolons, dropping blanks', () => {
    expect(splitCommands('hostname a\n\n  sv_cheats 0 ; mp_gamemode versus;\r\n')).toEqual([
      'hostname a',
      'sv_cheats 0',
      'mp_gamemode versus',
    ]);
  });

  it('drops // comments outside quotes and keeps them inside', () => {
    const text = [
      '// a whole-line comment',
      'sv_tags "a,b" // trailing comment',
      'sv_downloadurl "http://example.org/fastdl"',
      'sv_contact http://example.org',
    ].join('\n');
    expect(splitCommands(text)).toEqual([
      'sv_tags "a,b"',
      'sv_downloadurl "http://example.org/fastdl"',
      'sv_contact http:',
    ]);
  });

  it('keeps semicolons inside quotes', () => {
    expect(splitCommands('hostname "a; b"; echo x')).toEqual(['hostname "a; b"', 'echo x']);
  });

  it('closes an unterminated quote at the end of its line', () => {
    expect(splitCommands('hostname "open\nsv_cheats 1')).toEqual(['hostname "open', 'sv_cheats 1']);
  });
});

describe('tokenizeCommand', () => {
  it('reads quoted and unquoted arguments and keeps the raw rest', () => {
    expect(tokenizeCommand('hostname "My Server" x')).toEqual({
      name: 'hostname',
      args: ['My Server', 'x'],
      argS: '"My Server" x',
    });
  });

  it('reads an empty quoted argument as an empty string', () => {
    expect(tokenizeCommand('rcon_password ""')).toEqual({ name: 'rcon_password', args: [''], argS: '""' });
  });

  it('returns null for whitespace', () => {
    expect(tokenizeCommand('   ')).toBeNull();
  });
});

describe('cvarValue', () => {
  const value = (line: string): string => cvarValue(tokenizeCommand(line)!);

  it('takes a single argument as is, quoted or not', () => {
    expect(value('hostname "My Server"')).toBe('My Server');
    expect(value('sv_maxplayers 12')).toBe('12');
    expect(value('sv_password ""')).toBe('');
  });

  it('keeps several unquoted words together, as Source does', () => {
    expect(value('hostname My Demo Server')).toBe('My Demo Server');
  });
});

describe('quoteArg', () => {
  it('round-trips through splitCommands and tokenizeCommand', () => {
    for (const arg of ['plain', 'two words', 'semi;colon', 'http://x', '']) {
      const line = `echo ${quoteArg(arg)}`;
      const [cmd] = splitCommands(line);
      expect(tokenizeCommand(cmd!)?.args).toEqual([arg]);
    }
  });
});
