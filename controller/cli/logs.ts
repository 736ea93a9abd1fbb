import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StatusStore } from '../status/store.js';
import { parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { parseKind } from './kinds.js';
import { resolveTarget } from './target.js';

/** `left4me logs overlay|installation NAME [--build ID]`: the log of the newest build attempt (or a given build). */
export async function logsCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { build: { type: 'string' }, tail: { type: 'string' } });
  const kind = parseKind(positionals[0]);
  const name = positionals[1];
  if (!name || positionals.length > 2) throw new UsageError('logs takes KIND and NAME');
  if (kind !== 'Overlay' && kind !== 'Installation') {
    throw new UsageError(`logs are kept for overlay and installation builds; for a server use journalctl -u left4me-server@${name}.service`);
  }
  const target = resolveTarget(values);
  const dataDir = dirname(target.statusDir);
  const status = await new StatusStore(target.statusDir).read(kind, name);
  const build = values.build;
  if (build !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(build)) throw new UsageError('--build must be a build id');
  const rel = build !== undefined ? join('logs', kind === 'Overlay' ? 'overlays' : 'installations', name, `${build}.log`) : status?.build?.log;
  if (!rel) {
    io.err(`${kind.toLowerCase()}/${name} has not been built yet\n`);
    return 1;
  }
  let text: string;
  try {
    text = await readFile(join(dataDir, rel), 'utf8');
  } catch (err) {
    // Installation logs name the Steam account, so they are root's alone.
    const denied = (err as NodeJS.ErrnoException).code === 'EACCES';
    io.err(denied ? `${join(dataDir, rel)} is readable by root only; run left4me logs as root\n` : `no log at ${join(dataDir, rel)}\n`);
    return 1;
  }
  const tail = values.tail !== undefined ? Number(values.tail) : undefined;
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 1)) throw new UsageError('--tail takes a whole number ≥ 1');
  io.out(tail ? `${text.trimEnd().split('\n').slice(-tail).join('\n')}\n` : text);
  return 0;
}
