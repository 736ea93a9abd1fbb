/**
 * What every plugin of the web service shares: its options, where it reaches
 * the host's files, and the stores it reads. Built once per app and
 * decorated on it as `app.l4m`; plugins take what they need from here and
 * keep nothing global.
 */
import type { LoadOptions } from '../documents/loader.js';
import { hostLayout, type HostLayout } from '../host/layout.js';
import { StatusStore } from '../status/store.js';
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
  /** Where game ports are reached (default 127.0.0.1). */
  gameHost?: string;
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
  /** The desired state, reloaded when the state directory changes. */
  state: StateView;
}

export function webContext(opts: WebOptions): WebContext {
  const layout = hostLayout(opts.dataDir, opts.configDir);
  return {
    opts,
    layout,
    users: new UserStore(opts.webDataDir),
    status: new StatusStore(layout.statusDir),
    state: new StateView(opts.stateDir, opts.load ?? {}),
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    l4m: WebContext;
  }
}
