import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { buildWebApp } from '../web/app.js';
import { DEFAULT_WEB_DATA_DIR } from '../web/users.js';
import { parse, UsageError } from './args.js';
import { documentOptions } from './host-options.js';
import type { Io } from './io.js';
import { resolveTarget } from './target.js';

/** Parses `ADDR:PORT` (IPv6 in brackets); port 0 asks the kernel for a free one. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new UsageError(`--listen must look like 127.0.0.1:8000 or [::1]:8000 (got "${text}")`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/**
 * The Steam Web API key from its file, read once at start: one line of
 * letters and digits. Errors name the file, never its content.
 */
export async function readSteamKey(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the Steam Web API key file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const key = text.trim();
  if (!/^[A-Za-z0-9]{16,128}$/.test(key)) throw new UsageError(`${file} must hold one Steam Web API key (letters and digits, as steamcommunity.com/dev/apikey shows it) and nothing else`);
  return key;
}

/**
 * `left4me web [--listen ADDR:PORT] [--web-data-dir DIR] [--secure-cookies]
 * [--metrics-token-file FILE] [--steam-web-api-key-file FILE]`: the HTTP API,
 * as the unprivileged web account; runs until SIGINT/SIGTERM. Prints its URL.
 * `--secure-cookies`: served over TLS or behind a TLS proxy (Secure session
 * cookies, HSTS).
 */
export async function webCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    listen: { type: 'string', default: '127.0.0.1:8000' },
    'web-data-dir': { type: 'string', default: DEFAULT_WEB_DATA_DIR },
    'installation-root': { type: 'string', multiple: true },
    // The controller's, when it runs with other ranges: documents are judged as it will judge them.
    'port-range': { type: 'string' },
    'client-port-range': { type: 'string' },
    'secure-cookies': { type: 'boolean', default: false },
    'metrics-token-file': { type: 'string' },
    'steam-web-api-key-file': { type: 'string' },
    'steam-api-base': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('web takes no arguments');
  const { host, port } = parseListen(values.listen as string);
  const target = resolveTarget(values);
  const keyFile = values['steam-web-api-key-file'] as string | undefined;
  const steamApiBase = values['steam-api-base'] as string | undefined;
  if (steamApiBase !== undefined && !/^https?:\/\/[^\s]+$/.test(steamApiBase)) throw new UsageError(`--steam-api-base must be an http(s) URL (got "${steamApiBase}")`);
  const app = await buildWebApp({
    stateDir: target.stateDir,
    dataDir: dirname(target.statusDir),
    webDataDir: values['web-data-dir'] as string,
    load: documentOptions(values),
    secureCookies: values['secure-cookies'] === true,
    ...(values['metrics-token-file'] ? { metricsTokenFile: values['metrics-token-file'] as string } : {}),
    ...(keyFile !== undefined ? { steamWebApiKey: await readSteamKey(keyFile) } : {}),
    ...(steamApiBase !== undefined ? { steamApiBase } : {}),
  });
  const address = await app.listen({ host, port });
  io.out(`left4me web listening on ${address}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await app.close();
  return 0;
}
