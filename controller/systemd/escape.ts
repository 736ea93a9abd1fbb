/**
 * systemd's string and path escaping for unit names, byte for byte as
 * `systemd-escape` (systemd 252) does it, so a unit name we compute is the one
 * PID 1 computes from the same path (e.g. for `RequiresMountsFor=`).
 *
 * Two deliberate differences, both where systemd-escape would hand back
 * something other than what was encoded: an escaped NUL byte (`\x00`) and
 * unescaped bytes that are not valid UTF-8 are refused instead of returning a
 * truncated or mangled string.
 */

/** Thrown when a string cannot be escaped or unescaped; the message names the input and the rule it broke. */
export class EscapeError extends Error {
  override name = 'EscapeError';
}

// Longest path systemd accepts (PATH_MAX counts the NUL) and longest component (NAME_MAX), both in bytes.
const PATH_MAX = 4096;
const NAME_MAX = 255;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isUnitChar(byte: number): boolean {
  // systemd's VALID_CHARS minus '-' and '\\', which always get escaped.
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x3a || // :
    byte === 0x5f || // _
    byte === 0x2e // .
  );
}

function hexByte(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

function toBytes(s: string, what: string): Uint8Array {
  // A lone surrogate has no UTF-8 form; TextEncoder would silently turn it into U+FFFD.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) {
    throw new EscapeError(`${what} ${JSON.stringify(s)} is not valid Unicode (lone surrogate)`);
  }
  return utf8.encode(s);
}

/** Escapes a string like `systemd-escape STRING`: '/' becomes '-', everything outside [A-Za-z0-9:_.] becomes \xNN. Pure. */
export function escapeUnitString(s: string): string {
  const bytes = toBytes(s, 'string');
  let out = '';
  bytes.forEach((b, i) => {
    if (b === 0x2f) out += '-';
    // A leading '.' would make a hidden unit file; systemd escapes it even though '.' is otherwise fine.
    else if (isUnitChar(b) && !(i === 0 && b === 0x2e)) out += String.fromCharCode(b);
    else out += hexByte(b);
  });
  return out;
}

/** Reverses escapeUnitString like `systemd-escape --unescape`: '-' becomes '/', \xNN a byte. Pure; throws EscapeError on malformed escapes. */
export function unescapeUnitString(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '-') {
      bytes.push(0x2f);
    } else if (c === '\\') {
      const hex = s.slice(i + 2, i + 4);
      if (s[i + 1] !== 'x' || !/^[0-9a-fA-F]{2}$/.test(hex)) {
        throw new EscapeError(`${JSON.stringify(s)}: bad escape at offset ${i} (expected \\x and two hex digits)`);
      }
      const byte = parseInt(hex, 16);
      if (byte === 0) throw new EscapeError(`${JSON.stringify(s)}: escaped NUL byte at offset ${i}`);
      bytes.push(byte);
      i += 3;
    } else {
      bytes.push(...utf8.encode(c));
    }
  }
  try {
    return strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    throw new EscapeError(`${JSON.stringify(s)}: unescapes to bytes that are not valid UTF-8`);
  }
}

/** Drops empty and '.' components the way systemd's path_simplify() does; a relative path of only dots stays '.'. */
function simplifyPath(path: string): string {
  if (path === '') return '';
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (path.startsWith('/')) return `/${parts.join('/')}`;
  return parts.length > 0 ? parts.join('/') : '.';
}

/** Why systemd would call an already simplified path not normalized, or null if it is fine. */
function pathProblem(simplified: string): string | null {
  if (utf8.encode(simplified).length >= PATH_MAX) return `is longer than ${PATH_MAX - 1} bytes`;
  for (const part of simplified.split('/')) {
    if (part === '.' || part === '..') return `has a '${part}' component`;
    if (utf8.encode(part).length > NAME_MAX) return `has a component longer than ${NAME_MAX} bytes`;
  }
  return null;
}

/**
 * Escapes a path like `systemd-escape --path PATH`: simplified first ('//' and
 * '.' dropped), '/' itself becomes '-'. Pure; throws EscapeError where
 * systemd-escape fails ('..' components, over-long paths). Like systemd it
 * accepts relative paths; unit names for mounts need mountUnitName's stricter check.
 */
export function escapeUnitPath(path: string): string {
  toBytes(path, 'path');
  const p = simplifyPath(path);
  if (p === '' || p === '/') return '-';
  const problem = pathProblem(p);
  if (problem) throw new EscapeError(`path ${JSON.stringify(path)} ${problem}; systemd cannot name a unit after it`);
  return escapeUnitString(p.replace(/^\/+/, ''));
}

/** Reverses escapeUnitPath like `systemd-escape --path --unescape`, giving an absolute, normalized path. Pure; throws EscapeError otherwise. */
export function unescapeUnitPath(s: string): string {
  if (s === '') throw new EscapeError('an empty string is not an escaped path');
  if (s === '-') return '/';
  const inner = unescapeUnitString(s);
  if (inner.startsWith('/') || inner.endsWith('/')) {
    throw new EscapeError(`${JSON.stringify(s)}: escaped path must not start or end with '-' (a slash)`);
  }
  const path = `/${inner}`;
  const problem = path.includes('//') ? "has an empty component ('--')" : pathProblem(path);
  if (problem) throw new EscapeError(`${JSON.stringify(s)} unescapes to ${JSON.stringify(path)}, which ${problem}`);
  return path;
}
