import { dirname, join } from 'node:path';
import { RconError, rconCommand } from '../game/rcon.js';
import { readRconPassword } from '../secrets.js';
import { StatusStore } from '../status/store.js';
import { parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { resolveTarget } from './target.js';

/**
 * `left4me rcon NAME COMMAND…`: one console command on an instance's server,
 * as root at a shell (it reads the RCON passwords), its output printed. The
 * port comes from the instance's status; the words are joined with spaces,
 * so quote what srcds should see quoted. Unlike the web's console, root may
 * chain commands with `;`: it could read the password and do so anyway.
 */
export async function rconCommandCli(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { timeout: { type: 'string' } });
  const [name, ...words] = positionals;
  if (!name || words.length === 0) throw new UsageError('rcon takes an instance NAME and a COMMAND');
  const command = words.join(' ');
  if (/[\p{Cc}]/u.test(command)) throw new UsageError('the command must be one line without control characters');
  const timeoutMs = values.timeout !== undefined ? Number(values.timeout) * 1000 : 5000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout takes seconds > 0');
  const target = resolveTarget(values);
  const dataDir = dirname(target.statusDir);
  const status = await new StatusStore(target.statusDir).read('Instance', name);
  if (status?.port === undefined) {
    io.err(`instance ${name} has no game port: it is not running (left4me describe instance ${name})\n`);
    return 1;
  }
  let password: string | undefined;
  try {
    password = await readRconPassword(join(dataDir, 'secrets'), name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    io.err(code === 'EACCES' ? `${join(dataDir, 'secrets', 'rcon.json')} is readable by root and the web service only; run left4me rcon as root\n` : `cannot read the RCON passwords: ${code ?? (err as Error).message}\n`);
    return 1;
  }
  if (password === undefined) {
    io.err(`instance ${name} has no RCON password yet; the controller makes one when it first starts the server\n`);
    return 1;
  }
  try {
    const result = await rconCommand({ port: status.port, password, timeoutMs }, command);
    io.out(result.output.replaceAll(password, '[redacted]'));
    if (result.output !== '' && !result.output.endsWith('\n')) io.out('\n');
    if (result.truncated) io.err('(output cut at 64 KiB)\n');
    return 0;
  } catch (err) {
    io.err(`left4me rcon: ${err instanceof RconError ? err.message : (err as Error).message}\n`);
    return 1;
  }
}
