import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EscapeError, escapeUnitPath, escapeUnitString, unescapeUnitPath, unescapeUnitString } from './escape.js';
// Deterministic pseudo-random inputs: same seed, same cases, so a failure reproduces.
import { mulberry32 } from '../../test/support/prng.js';

const hasBinary = spawnSync('systemd-escape', ['--version']).status === 0;

/** Runs the real systemd-escape; null when it fails (exit status non-zero), else stdout without the final newline. */
function real(flags: string[], input: string): Buffer | null {
  const r = spawnSync('systemd-escape', [...flags, '--', input]);
  if (r.status !== 0) return null;
  const out = r.stdout;
  return out.subarray(0, out.length - 1);
}

/** Our result in the same shape as real(): null when we throw EscapeError. */
function ours(fn: (s: string) => string, input: string): Buffer | null {
  try {
    return Buffer.from(fn(input), 'utf8');
  } catch (e) {
    if (e instanceof EscapeError) return null;
    throw e;
  }
}


function randomStrings(seed: number, alphabet: readonly string[], count: number, maxLen: number): string[] {
  const next = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const len = Math.floor(next() * (maxLen + 1));
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(next() * alphabet.length)];
    return s;
  });
}

const PATH_ALPHABET = ['/', '/', '/', '.', '.', '-', '\\', ' ', ':', '_', ',', '@', '%', 'a', 'Z', '0', '~', 'ä', '€', '😀', '\t', '\n', '"', "'"];
const ESCAPED_ALPHABET = ['-', '-', '\\x2d', '\\x2e', '\\x2f', '\\x5c', '\\x41', '\\X41', '\\x4', '\\xzz', '\\', 'x', 'a', '.', ':', '_', '\\xc3\\xa4', '\\xff', '\\x00', '\\x20'];

const TRICKY = [
  '',
  '/',
  '//',
  '///',
  '/.',
  '/./',
  '.',
  './',
  './.',
  '..',
  '/..',
  '/a/..',
  '/a/../b',
  'a/..',
  '/...',
  '...',
  '/var/lib/left4me/runtime/versus-1',
  '/var/lib/left4me/runtime/versus-1/',
  '//var//lib///left4me/./runtime/versus-1',
  '/.hidden',
  '/.x/.y',
  '/a/.b',
  '.foo',
  '-',
  '--',
  '-foo',
  '/-a',
  '/a-',
  'a-b\\c',
  '/x\\y',
  '/a b',
  '/ .x',
  '/a:b,c',
  '/a.b',
  '/_:.',
  '/@x',
  '/a@b',
  '/%',
  '/%i',
  '~/x',
  'a/b',
  '/a/b',
  'a//b',
  'a/./b',
  '/ä',
  'ünï',
  '/😀/€',
  '/a\nb',
  '/a\tb',
  '/\u007f',
  `/${'a'.repeat(255)}`,
  `/${'a'.repeat(256)}`,
  `/${'é'.repeat(127)}`,
  `/${'é'.repeat(128)}`,
  '/b'.repeat(2047),
  '/b'.repeat(2048),
];

describe('escaping by hand', () => {
  it('names the mount unit of an instance runtime dir like systemd does', () => {
    expect(escapeUnitPath('/var/lib/left4me/runtime/versus-1')).toBe('var-lib-left4me-runtime-versus\\x2d1');
  });

  it('maps / and empty paths to "-"', () => {
    expect(escapeUnitPath('/')).toBe('-');
    expect(escapeUnitPath('')).toBe('-');
    expect(unescapeUnitPath('-')).toBe('/');
  });

  it('escapes a leading dot but not inner ones', () => {
    expect(escapeUnitString('.a.b')).toBe('\\x2ea.b');
    expect(escapeUnitPath('/.a/.b')).toBe('\\x2ea-.b');
  });

  it('refuses paths systemd cannot name a unit after', () => {
    expect(() => escapeUnitPath('/a/../b')).toThrow(EscapeError);
    expect(() => escapeUnitPath(`/${'a'.repeat(256)}`)).toThrow(/255 bytes/);
    expect(() => escapeUnitPath('/\uD800')).toThrow(/lone surrogate/);
  });

  it('round-trips paths', () => {
    for (const p of ['/var/lib/left4me/runtime/versus-1', '/a b/ä/😀', '/.x/-y/\\z', '/a:b,c%d']) {
      expect(unescapeUnitPath(escapeUnitPath(p))).toBe(p);
    }
  });

  it('refuses escapes that would hide a NUL byte or invalid UTF-8 (systemd-escape truncates or emits raw bytes)', () => {
    expect(() => unescapeUnitString('a\\x00b')).toThrow(/NUL/);
    expect(() => unescapeUnitString('\\xff')).toThrow(/UTF-8/);
    expect(() => unescapeUnitPath('a\\x00b')).toThrow(/NUL/);
  });
});

// systemd is a test dependency (.ci/run installs it): a missing binary fails, it never skips.
it('has the real systemd-escape to compare against', () => expect(hasBinary).toBe(true));

describe('escaping matches the real systemd-escape', () => {
  const pathInputs = [...TRICKY, ...randomStrings(0x1e4d, PATH_ALPHABET, 250, 14)];

  it('escapes strings like `systemd-escape STRING`', () => {
    const mismatches = pathInputs.filter((s) => !Buffer.from(escapeUnitString(s)).equals(real([], s) ?? Buffer.alloc(1, 0xff)));
    expect(mismatches).toEqual([]);
  });

  it('escapes paths like `systemd-escape --path PATH`, failing exactly where it fails', () => {
    const mismatches = pathInputs
      .map((s) => ({ s, ours: ours(escapeUnitPath, s)?.toString('utf8') ?? null, real: real(['--path'], s)?.toString('utf8') ?? null }))
      .filter((r) => r.ours !== r.real);
    expect(mismatches).toEqual([]);
  });

  it('names mount units like `systemd-escape --path --suffix=mount`', () => {
    const p = '/var/lib/left4me/runtime/versus-1';
    const r = spawnSync('systemd-escape', ['--path', '--suffix=mount', p]);
    expect(`${escapeUnitPath(p)}.mount\n`).toBe(r.stdout.toString('utf8'));
  });

  it('unescapes like `systemd-escape --unescape` and `--path --unescape`', () => {
    const escapedInputs = [
      ...pathInputs.map((s) => escapeUnitString(s)),
      ...randomStrings(0x5eed, ESCAPED_ALPHABET, 250, 8),
      '',
      '-',
      'a--b',
      'a-',
      'a-.-b',
      'a-..-b',
      '\\x2fa',
      'a\\x2f',
      'a\\x2f\\x2fb',
      '.a',
      'c'.repeat(255),
      'c'.repeat(256),
    ];
    const mismatches: unknown[] = [];
    for (const s of escapedInputs) {
      for (const [flags, fn] of [
        [['--unescape'], unescapeUnitString],
        [['--path', '--unescape'], unescapeUnitPath],
      ] as const) {
        const want = real([...flags], s);
        const got = ours(fn, s);
        // Documented difference: we refuse what systemd-escape would truncate at a NUL or emit as invalid UTF-8.
        const deliberate = got === null && want !== null && (/\\x00/i.test(s) || !isUtf8(want));
        if (!deliberate && !(got === null ? want === null : want !== null && got.equals(want))) {
          mismatches.push({ flags, s, got: got?.toString('utf8') ?? null, want: want?.toString('utf8') ?? null });
        }
      }
    }
    expect(mismatches).toEqual([]);
  }, 60_000);
});

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

// Keeps the helper honest: if systemd-escape ever changes its CLI, the suite above should fail loudly, not vacuously.
describe('the systemd-escape harness', () => {
  it('reports failures as null and passes leading dashes through', () => {
    expect(real(['--path'], '/a/../b')).toBeNull();
    expect(real([], '-x')?.toString()).toBe('\\x2dx');
    expect(execFileSync('systemd-escape', ['--version']).toString()).toMatch(/^systemd \d+/);
  });
});
