/**
 * What every plugin of the web service shares: its options, where it reaches
 * the host's files, and the stores it reads. Built once per app and
 * decorated on it as `app.l4m`; plugins take what they need from here and
 * keep nothing global.
 */
import type { Logger } from 'pino';
import type { LoadOptions } from '../documents/loader.js';
import { hostLayout, type HostLayout } from '../host/layout.js';
import { CachedStatusReader, type StatusStore } from '../status/store.js';
import { loginLimiters, type LimitOptions, type LoginLimiters } from './rate-limit.js';
import { DEFAULT_SESSION_LIMITS, SessionStore, type SessionLimits } from './sessions.js';
import type { LiveOptions } from './live-options.js';
import { StateView } from './state-view.js';
import { UserStore } from './users.js';

/** How `left4me web` is set up. Paths as this process reaches them. */
export interface WebOptions {
  stateDir: string;
  /** The controller's data directory (status, logs, builds, writable layers, history). */
  dataDir: string;
  /** The controller's configuration directory (default /etc/left4me). */
  configDir?: string;
  /** The web service's own data directory (accounts, sessions). */
  webDataDir: string;
  load?: LoadOptions;
  /** Largest request body, in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Mark session cookies `Secure`: served over TLS, or behind a TLS-terminating proxy. */
  secureCookies?: boolean;
  /** The built dashboard (default dist/ui of the package). */
  uiDir?: string;
  /** Where game ports are reached (default 127.0.0.1). */
  gameHost?: string;
  /** Session lifetimes (default: 8 h idle, 7 days at most). */
  sessionLimits?: SessionLimits;
  /** Failed-login limits per address and per name (default: 10 per 15 minutes each). */
  loginLimits?: LimitOptions;
  /** A file holding the bearer token a Prometheus scraper sends to /metrics (not world-readable; ≥ 32 characters). */
  metricsTokenFile?: string;
  /** Steam Web API key for persona names in player lists (read from --steam-web-api-key-file at start); never logged or answered. */
  steamWebApiKey?: string;
  /** Base URL of the Steam Web API (default https://api.steampowered.com/; tests point it at a fixture). */
  steamApiBase?: string;
  /** Hosts Steam avatars are fetched from (default Steam's avatar CDNs; tests name a fixture). */
  steamAvatarHosts?: readonly string[];
  /** RCON commands one user may send per window (default 10 per 10 s). */
  rconRate?: { max: number; windowMs: number };
  /** The audit log (RCON commands); default JSON lines on stdout, the service's journal. */
  auditLog?: Logger;
  /** Events and logs: intervals, limits, how the journal is read. */
  live?: LiveOptions;
}

/** The shared services of one web app. */
export interface WebContext {
  opts: WebOptions;
  /** The host's paths (from dataDir and configDir). */
  layout: HostLayout;
  users: UserStore;
  status: StatusStore;
  /** The desired state with the host's git sources, reloaded when the state directory changes or a source flips. */
  state: StateView;
  /** Browser sessions (cookie logins). */
  sessions: SessionStore;
  /** Failed logins, by address and by name. */
  loginLimits: LoginLimiters;
}

export function webContext(opts: WebOptions): WebContext {
  const layout = hostLayout(opts.dataDir, opts.configDir);
  const users = new UserStore(opts.webDataDir);
  return {
    opts,
    layout,
    users,
    status: new CachedStatusReader(layout.statusDir),
    state: new StateView(opts.stateDir, opts.load ?? {}, { layout }),
    sessions: new SessionStore(opts.webDataDir, users, opts.sessionLimits ?? DEFAULT_SESSION_LIMITS),
    loginLimits: loginLimiters(opts.loginLimits),
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    l4m: WebContext;
  }
}
