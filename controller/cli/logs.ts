import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDocumentName } from '../documents/names.js';
import { StatusStore } from '../status/store.js';
import { SERVER_LOG_NAMESPACE } from '../systemd/units.js';
import { parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { parseKind } from './kinds.js';
import { resolveTarget } from './target.js';

/** The journalctl arguments of `left4me logs instance NAME`: the server unit in the servers' journal namespace. */
export function instanceLogArgs(name: string, opts: { follow: boolean; tail?: number }): string[] {
  return [`--namespace=${SERVER_LOG_NAMESPACE}`, '-u', `left4me-server@${name}.service`, '--no-pager', ...(opts.tail !== undefined ? ['-n', String(opts.tail)] : []), ...(opts.follow ? ['--follow'] : [])];
}

/** Runs journalctl on this terminal; its exit code is ours. */
function runJournalctl(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('journalctl', args, { stdio: 'inherit' });
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/**
 * `left4me logs overlay|installation NAME [--build ID] [--tail N]`: the log of the newest build attempt (or a given build).
 * `left4me logs instance NAME [-f] [--tail N]`: the server's log from its journal namespace (journalctl; root, or the web group).
 */
export async function logsCommand(args: string[], io: Io, run: (args: string[]) => Promise<number> = runJournalctl): Promise<number> {
  const { values, positionals } = parse(args, { build: { type: 'string' }, tail: { type: 'string' }, follow: { type: 'boolean', short: 'f' } });
  const kind = parseKind(positionals[0]);
  const name = positionals[1];
  if (!name || positionals.length > 2) throw new UsageError('logs takes KIND and NAME');
  const tail = values.tail !== undefined ? Number(values.tail) : undefined;
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 1)) throw new UsageError('--tail takes a whole number ≥ 1');
  if (kind === 'Instance') {
    if (values.build !== undefined) throw new UsageError('--build is for overlay and installation logs');
    if (!isDocumentName(name)) throw new UsageError(`"${name}" is not an instance name`);
    return run(instanceLogArgs(name, { follow: values.follow === true, tail }));
  }
  if (values.follow) throw new UsageError('-f follows a server log: left4me logs instance NAME -f');
  if (kind !== 'Overlay' && kind !== 'Installation') throw new UsageError('logs are kept for instances (their server) and for overlay and installation builds');
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
  io.out(tail ? `${text.trimEnd().split('\n').slice(-tail).join('\n')}\n` : text);
  return 0;
}
