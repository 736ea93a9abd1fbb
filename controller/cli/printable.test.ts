import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { printable, printableJson, printableJsonLines, printableLine, printableYaml } from './printable.js';

const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** Every code point a terminal may act on, and the bidi controls. */
const ALL_CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  0x061c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
].map((c) => String.fromCodePoint(c)).join('');

describe('printable', () => {
  it('keeps line breaks and tabs, escapes every other control visibly', () => {
    expect(printable('a\tb\nc\r\nd')).toBe('a\tb\nc\r\nd');
    expect(printable('progress 10%\rprogress 99%')).toBe('progress 10%\\rprogress 99%');
    expect(printable('\x1b[2J\x1b]52;c;ZXZpbA==\x07\b\x9b\u202e\u2069ok')).toBe('\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\x08\\x9b\\u202e\\u2069ok');
    expect(printable(ALL_CONTROLS).replace(/[\n\t]/g, '')).not.toMatch(UNSAFE);
    expect(printable('plain text, ünïcödé, 日本語, emoji 🎮')).toBe('plain text, ünïcödé, 日本語, emoji 🎮');
  });

  it('printableLine makes one line of anything', () => {
    expect(printableLine('a\tb\nc\r\nd')).toBe('a\\tb\\nc\\r\\nd');
    expect(printableLine(ALL_CONTROLS)).not.toMatch(/[\n\t]|[\x00-\x1f]/);
  });

  it('JSON and YAML come back as the same data, with no raw control', () => {
    const value = { name: `x${ALL_CONTROLS}y`, [`key${ALL_CONTROLS}`]: ['multi\nline\ttext', 'bidi \u202e', 42] };
    const json = printableJson(value);
    expect(json).not.toMatch(UNSAFE);
    expect(JSON.parse(json)).toEqual(value);
    const yaml = printableYaml(value);
    expect(yaml).not.toMatch(UNSAFE);
    expect(parseYaml(yaml)).toEqual(value);
    // Honest text keeps its usual YAML form.
    expect(printableYaml({ serverCfg: 'sv_cheats 0\nmotd "hi"\n' })).toBe('serverCfg: |\n  sv_cheats 0\n  motd "hi"\n');
  });

  it('the controller log (pino JSON lines) carries no raw control and loses nothing', () => {
    const lines: string[] = [];
    const log = pino({ base: {} }, printableJsonLines({ write: (t: string) => lines.push(t) }));
    const hostile = `answers A2S: "${ALL_CONTROLS}"`;
    log.warn({ server: hostile }, hostile);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.replace(/\n$/, '')).not.toMatch(UNSAFE);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: hostile, server: hostile });
  });
});
