// What a host holds, read from outside it for before/after comparisons: its
// files' hashes through /proc/PID/root and its units' properties as
// `systemctl show` reports them.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecResult } from '../../controller/demo/private-host/private-host.js';

/** sha256 and mode of every file under the given host paths (below `root`, the host's /proc/PID/root); links by their target. */
export function fileHashes(root: string, paths: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    const st = lstatSync(join(root, p));
    if (st.isDirectory()) for (const e of readdirSync(join(root, p))) walk(`${p}/${e}`);
    else out.set(p, `${st.isSymbolicLink() ? `-> ${readlinkSync(join(root, p))}` : createHash('sha256').update(readFileSync(join(root, p))).digest('hex')}:${st.mode.toString(8)}`);
  };
  for (const p of paths) walk(p);
  return out;
}

/** A unit's properties on a host, by name, as `systemctl show -p` prints them. */
export async function unitProperties(host: { exec(cmd: string, args: string[]): Promise<ExecResult> }, unit: string, properties: string[]): Promise<Record<string, string>> {
  const r = await host.exec('systemctl', ['show', unit, '-p', properties.join(',')]);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}
