/**
 * The host layout: where everything left4me keeps on a host lives, built
 * from one data directory and one configuration directory, and who owns it.
 * Every room that touches the disk takes its paths from a HostLayout carried
 * in its context (the controller's config, a build context), so `--data-dir`
 * moves all of it at once. Pure data; reads and writes nothing.
 */
import { join } from 'node:path';

/** Where things live on the host and who owns them; every path absolute. */
export interface HostLayout {
  /** `/var/lib/left4me`: everything below is the controller's. */
  dataDir: string;
  /** `/etc/left4me`: desired state and the Steam login; hidden from game servers. */
  configDir: string;
  /** Base game tree, the bottom layer of every instance unless the instance names another. */
  installationDir: string;
  /** Overlay builds: `<overlaysDir>/<overlay>/<build>`. */
  overlaysDir: string;
  /** Per instance: `<instancesDir>/<name>/{upper,work,config/<build>,launch.env}`. */
  instancesDir: string;
  /** Overlay mount points, one per instance: `<runtimeDir>/<name>`. */
  runtimeDir: string;
  /** Controller status store and leases; hidden from game servers. */
  statusDir: string;
  /** Workshop download cache; hidden from game servers. */
  cacheDir: string;
  /** Root-only RCON passwords. */
  secretsDir: string;
  /** Writable layers of deleted or reset instances, kept for a while instead of destroyed. */
  trashDir: string;
  /** Per-instance history rings (players, CPU, memory): `<historyDir>/<name>.ring`; not secret, read by the web account. */
  historyDir: string;
  /** Build and steamcmd logs: `<logsDir>/{overlays,installations}/<name>/<build>.log`. */
  logsDir: string;
  /** Scratch directories of running build sandboxes. */
  buildRunsDir: string;
  /** Git sources: `<sourcesDir>/<name>/{repo.git,checkouts/<commit>,current}` (see sources/types.ts). */
  sourcesDir: string;
  /** Files the web service drops to ask the controller for something now (`git-<source>`: fetch); group-writable by the web. */
  triggersDir: string;
  /** Webhook secrets, one file per source, readable by the web group (never by game servers). */
  webhookSecretsDir: string;
  /** Root-only git credentials: `<gitCredentialsDir>/<name>/{ssh-key,known_hosts}` or `{token,username}`. */
  gitCredentialsDir: string;
  /** steamcmd's own home (its files, logs and login tokens). */
  steamHome: string;
  /** Root-only Steam logins: `{ "<login>": { "username", "password" } }`. */
  steamLoginFile: string;
  /** Unprivileged account whose group reads the config layers; servers run as their own leased uids. */
  user: string;
  group: string;
  /** Account build sandboxes (scripts, archives, steamcmd) run as: no game server's. */
  buildUser: string;
  buildGroup: string;
  /** The web service's account; its group is given read access to what the web serves (RCON passwords, server logs, writable layers). */
  webUser: string;
  webGroup: string;
}

/**
 * Where this process reaches a host path: itself when it runs on the host
 * (`fsRoot` `/`), below `/proc/PID/root` when it drives a private test host
 * from outside.
 */
export function onHostPath(fsRoot: string, path: string): string {
  return fsRoot === '/' ? path : join(fsRoot, path);
}

/** Production data directory (DESIGN.md host layout). */
export const DEFAULT_DATA_DIR = '/var/lib/left4me';
/** Production configuration directory. */
export const DEFAULT_CONFIG_DIR = '/etc/left4me';

/** Every path of the layout, below one data directory and one configuration directory; a fresh object each call. */
export function hostLayout(dataDir: string = DEFAULT_DATA_DIR, configDir: string = DEFAULT_CONFIG_DIR): HostLayout {
  return {
    dataDir,
    configDir,
    installationDir: `${dataDir}/installation`,
    overlaysDir: `${dataDir}/overlays`,
    instancesDir: `${dataDir}/instances`,
    runtimeDir: `${dataDir}/runtime`,
    statusDir: `${dataDir}/status`,
    cacheDir: `${dataDir}/cache`,
    secretsDir: `${dataDir}/secrets`,
    trashDir: `${dataDir}/trash`,
    logsDir: `${dataDir}/logs`,
    historyDir: `${dataDir}/history`,
    buildRunsDir: `${dataDir}/build-runs`,
    sourcesDir: `${dataDir}/sources`,
    triggersDir: `${dataDir}/triggers`,
    webhookSecretsDir: `${dataDir}/secrets/webhooks`,
    gitCredentialsDir: `${configDir}/secrets/git`,
    steamHome: `${dataDir}/steam`,
    steamLoginFile: `${configDir}/secrets/steam.json`,
    user: 'left4me',
    group: 'left4me',
    buildUser: 'left4me-build',
    buildGroup: 'left4me-build',
    webUser: 'left4me-web',
    webGroup: 'left4me-web',
  };
}

/** The layout with every path moved to where this process reaches it (see onHostPath); names of accounts unchanged. */
export function layoutOnHost(layout: HostLayout, fsRoot: string): HostLayout {
  if (fsRoot === '/') return layout;
  const out = { ...layout } as Record<string, string>;
  for (const [k, v] of Object.entries(layout)) if (v.startsWith('/')) out[k] = onHostPath(fsRoot, v);
  return out as unknown as HostLayout;
}
