// systemd names unit objects /org/freedesktop/systemd1/unit/<label>, where
// <label> is the unit name with every byte that is not [A-Za-z0-9] (and a
// leading digit) written as _xx (sd-bus bus_label_escape). The mapping is
// reversible, so signals on unit paths can be turned back into unit names
// without a lookup call.

/** Object path prefix of every unit object. */
export const UNIT_PATH_PREFIX = '/org/freedesktop/systemd1/unit/';

/** Returns the object path systemd uses for a unit name; pure. */
export function unitObjectPath(name: string): string {
  return UNIT_PATH_PREFIX + escapeLabel(name);
}

/** Returns the unit name of a unit object path, or null when the path is not a unit object; pure. */
export function unitNameFromPath(path: string): string | null {
  if (!path.startsWith(UNIT_PATH_PREFIX)) return null;
  const label = path.slice(UNIT_PATH_PREFIX.length);
  if (label === '' || label.includes('/')) return null;
  return unescapeLabel(label);
}

function escapeLabel(s: string): string {
  if (s === '') return '_';
  const bytes = Buffer.from(s, 'utf8');
  let out = '';
  bytes.forEach((b, i) => {
    const alpha = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
    const digit = b >= 0x30 && b <= 0x39;
    out += alpha || (digit && i > 0) ? String.fromCharCode(b) : '_' + b.toString(16).padStart(2, '0');
  });
  return out;
}

function unescapeLabel(label: string): string {
  if (label === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    if (c === 0x5f && i + 2 < label.length && /^[0-9a-fA-F]{2}$/.test(label.slice(i + 1, i + 3))) {
      bytes.push(parseInt(label.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
