/**
 * Game: talking to an instance's server on loopback. RCON (one console
 * command per request, rate-limited per user, every command in the audit
 * log) and the player list (A2S_PLAYER, SteamIDs from RCON `status`,
 * persona names from the Steam Web API). Both only for the instance's owner
 * or an admin. Owns the rate limiter, the Steam name cache and the audit
 * log; the routes live in routes/rcon.ts and routes/players.ts.
 */
import { appendFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { Document } from '../../documents/kinds.js';
import { readRconPassword } from '../../secrets.js';
import type { WebPlugin } from '../app.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import { playersRoutes } from '../routes/players.js';
import { rconRoutes } from '../routes/rcon.js';
import { SteamNames } from '../steam-names.js';

/** Where and how to reach one instance's server. */
export interface GameTarget {
  host: string;
  port: number;
}

/** What the game routes share. */
export interface GameServices {
  /** The instance's game port on loopback, from its status; 409 when it has none (not running yet). */
  target(doc: Document<'Instance'>): Promise<GameTarget>;
  /** The instance's RCON password; 503 when the web account cannot read the file, 409 when none was made yet. Never in an answer or log. */
  password(name: string): Promise<string>;
  /** Counts a command against the user's budget; 429 with Retry-After when it is spent. */
  spend(user: string): void;
  /** One audit line: who ran what where, and how it went (never the output or a password). */
  audit(entry: { user: string; instance: string; command: string; ok: boolean; error?: string }): void;
  steamNames: SteamNames;
}

// The audit file in the web data dir: a megabyte, then one older generation.
const AUDIT_FILE = 'rcon-audit.log';
const AUDIT_MAX_BYTES = 1 << 20;

export const gamePlugin: WebPlugin = (app, ctx) => {
  const services = gameServices(ctx);
  rconRoutes(app, ctx, services);
  playersRoutes(app, ctx, services);
};

function gameServices(ctx: WebContext): GameServices {
  const log: Logger = ctx.opts.auditLog ?? pino({ base: { service: 'left4me-web' } });
  const rate = ctx.opts.rconRate ?? { max: 10, windowMs: 10_000 };
  const spent = new Map<string, number[]>();
  let auditWrites: Promise<unknown> = Promise.resolve();
  const auditFile = join(ctx.opts.webDataDir, AUDIT_FILE);
  return {
    async target(doc) {
      const st = await ctx.status.read('Instance', doc.metadata.name);
      if (st?.port === undefined) throw new ApiError(409, `instance "${doc.metadata.name}" has no game port yet; it is not running`);
      return { host: ctx.opts.gameHost ?? '127.0.0.1', port: st.port };
    },
    async password(name) {
      let password: string | undefined;
      try {
        password = await readRconPassword(ctx.layout.secretsDir, name);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // A read error names the file and the errno; a parse error the file. Neither quotes its content.
        throw new ApiError(503, `the web account cannot read RCON passwords: ${e.code ?? e.message}${e.code ? ` (${join(ctx.layout.secretsDir, 'rcon.json')}; the controller makes it readable by the group ${ctx.layout.webGroup} when that group exists)` : ''}`);
      }
      if (password === undefined) throw new ApiError(409, `instance "${name}" has no RCON password yet; the controller makes one when it first starts the server`);
      return password;
    },
    spend(user) {
      const now = Date.now();
      const recent = (spent.get(user) ?? []).filter((t) => now - t < rate.windowMs);
      if (recent.length >= rate.max) {
        const retry = Math.max(1, Math.ceil((recent[0]! + rate.windowMs - now) / 1000));
        spent.set(user, recent);
        throw new ApiError(429, `at most ${rate.max} RCON commands per ${rate.windowMs / 1000} s; try again in ${retry} s`, { retryAfter: retry });
      }
      recent.push(now);
      spent.set(user, recent);
      // Forget idle users so the map stays as small as the active set.
      if (spent.size > 1000) for (const [u, ts] of spent) if (ts.every((t) => now - t >= rate.windowMs)) spent.delete(u);
    },
    audit(entry) {
      log.info({ audit: 'rcon', ...entry }, 'rcon command');
      const line = `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`;
      auditWrites = auditWrites
        .then(async () => {
          const size = await stat(auditFile).then((s) => s.size, () => 0);
          if (size + line.length > AUDIT_MAX_BYTES) await rename(auditFile, `${auditFile}.1`);
          await appendFile(auditFile, line, { mode: 0o600 });
        })
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not write the RCON audit file'));
    },
    steamNames: new SteamNames({
      ...(ctx.opts.steamWebApiKey !== undefined ? { key: ctx.opts.steamWebApiKey } : {}),
      ...(ctx.opts.steamApiBase !== undefined ? { apiBase: ctx.opts.steamApiBase } : {}),
      ...(ctx.opts.steamAvatarHosts !== undefined ? { avatarHosts: ctx.opts.steamAvatarHosts } : {}),
      warn: (message) => log.warn(message),
    }),
  };
}
