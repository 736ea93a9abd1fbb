import { join } from 'node:path';
import type { ControllerConfig } from '../config.js';
import { installationOf } from '../documents/dependencies.js';
import { shownFile } from '../documents/problems.js';
import { parseDuration } from '../documents/duration.js';
import type { Document } from '../documents/kinds.js';
import type { DesiredState } from '../documents/loader.js';
import type { Lease } from '../status/leases.js';
import { renderUserDropIn } from '../systemd/server-accounts.js';
import { instancePaths, renderInstanceMount, renderLaunchEnv, serverTemplateStamp, UnitRenderError, type InstanceUnitSpec, type OverlayBuildRef } from '../systemd/units.js';
import { renderConfigLayer, type ConfigLayer } from './config-layer.js';
import type { InstanceIntent } from './plan.js';

/** An instance fully resolved against its blueprint, overlays, installation and lease. */
export interface ResolvedInstance {
  doc: Document<'Instance'>;
  blueprint: Document<'Blueprint'>;
  overlays: Document<'Overlay'>[];
  installation: Document<'Installation'>;
  installationDir: string;
  unitSpec: InstanceUnitSpec;
  configLayer: ConfigLayer;
  intent: InstanceIntent;
  mountUnit: string;
  /** The uid leased to this instance's server. */
  uid: number;
}

/** The builds instances may use: the newest that succeeded, per overlay and per Steam installation. */
export interface ReadyBuilds {
  ready(overlay: string): string | undefined;
  /** Why an overlay has no ready build, if its build failed. */
  failure(overlay: string): string | undefined;
  /** The ready build of a Steam installation, and why there is none. */
  installation(name: string): { ready?: string; failure?: string };
}

/**
 * Why an instance cannot be resolved: a document it needs is invalid or
 * missing, a build is not ready, or (`Invalid`) its documents are valid one
 * by one but cannot run together on this host's layout.
 */
export interface Blocked {
  blocked: true;
  reason: 'DependencyInvalid' | 'DependencyMissing' | 'Building' | 'BuildFailed' | 'Invalid';
  message: string;
  /** With `Invalid`: the document to fix. */
  source?: { file: string; line: number };
}

// Build ids are 16 hex digits (specHash); a stand-in of that length lets the
// unit files be rendered, and measured, before any build exists.
const PLACEHOLDER_BUILD = '0'.repeat(16);

/**
 * Renders an instance's mount unit and launch.env, or says which document
 * makes that impossible. The schemas bound every value alone; what they
 * cannot bound is the sum (the overlayfs options of a whole stack, on this
 * host's paths and this instance's name, against the kernel's one page), so
 * that is found here, where the layout is known, and blamed on the blueprint.
 */
function renderUnits(spec: InstanceUnitSpec, blueprint: Document<'Blueprint'>, cfg: ControllerConfig): { mount: { fileName: string; text: string }; launchEnv: string } | Blocked {
  try {
    return { mount: renderInstanceMount(spec, cfg.units), launchEnv: renderLaunchEnv(spec, cfg.units) };
  } catch (err) {
    if (!(err instanceof UnitRenderError)) throw err;
    const { line } = blueprint.source;
    const file = shownFile(blueprint.source);
    return {
      blocked: true,
      reason: 'Invalid',
      message: `blueprint ${blueprint.metadata.name} (${file}:${line}) cannot run as instance ${spec.name} on this host: ${err.message}`,
      source: { file, line },
    };
  }
}

/** The installation tree of an Installation document on this host: its path, or the ready Steam build. */
export function installationDir(inst: Document<'Installation'>, cfg: ControllerConfig, builds: ReadyBuilds): string | Blocked {
  if (inst.spec.source === 'directory') return inst.spec.path!;
  const b = builds.installation(inst.metadata.name);
  if (b.ready) return join(cfg.units.layout.installationDir, inst.metadata.name, b.ready);
  return b.failure
    ? { blocked: true, reason: 'BuildFailed', message: `installation ${inst.metadata.name} is not installed: ${b.failure}` }
    : { blocked: true, reason: 'Building', message: `waiting for steamcmd to install installation ${inst.metadata.name}` };
}

/** Why a document an instance needs cannot be used: written but invalid, or not written at all. */
function unusable(state: DesiredState, kind: 'blueprint' | 'overlay' | 'installation', name: string): Blocked {
  const invalid = state.invalid.get(`${kind}/${name}`);
  return invalid
    ? { blocked: true, reason: 'DependencyInvalid', message: `${kind} ${name} is invalid (${shownFile(invalid)}:${invalid.line})` }
    : { blocked: true, reason: 'DependencyMissing', message: `${kind} ${name} does not exist` };
}

/** Finds what an instance needs, or says which document blocks it. Pure. */
export function findDependencies(
  state: DesiredState,
  doc: Document<'Instance'>,
): { blueprint: Document<'Blueprint'>; overlays: Document<'Overlay'>[]; installation: Document<'Installation'> } | Blocked {
  const bpName = doc.spec.blueprint;
  const blueprint = state.blueprints.get(bpName);
  if (!blueprint) return unusable(state, 'blueprint', bpName);
  const overlays: Document<'Overlay'>[] = [];
  for (const name of blueprint.spec.overlays) {
    const o = state.overlays.get(name);
    if (!o) return unusable(state, 'overlay', name);
    overlays.push(o);
  }
  const installName = installationOf(blueprint, state);
  const installation = installName !== undefined ? state.installations.get(installName) : undefined;
  if (!installation) return unusable(state, 'installation', installName ?? '(none named)');
  return { blueprint, overlays, installation };
}

/** Resolves an instance into its intent: config layer, unit files (mount, User= drop-in) and launch line. Pure. */
export function resolveInstance(
  state: DesiredState,
  doc: Document<'Instance'>,
  lease: Lease,
  rconPassword: string,
  cfg: ControllerConfig,
  builds: ReadyBuilds,
  uid: number,
): ResolvedInstance | Blocked {
  const deps = findDependencies(state, doc);
  if ('blocked' in deps) return deps;
  const { blueprint, overlays, installation } = deps;
  const launch = {
    port: lease.port,
    clientPort: lease.clientPort,
    map: blueprint.spec.map,
    maxPlayers: blueprint.spec.maxPlayers,
    tickrate: blueprint.spec.tickrate === 30 ? null : blueprint.spec.tickrate,
    extraArgs: blueprint.spec.launchArgs ?? [],
  };
  // A stack that can never be mounted is reported before waiting for builds, not after every overlay is built;
  // when every build is ready, the real render below finds it (one render per pass, not two).
  const unbuilt = (): Blocked | undefined => {
    const preview = renderUnits(
      {
        name: doc.metadata.name,
        overlays: overlays.map((o) => ({ overlay: o.metadata.name, build: PLACEHOLDER_BUILD })),
        configBuild: PLACEHOLDER_BUILD,
        installationDir: installation.spec.source === 'directory' ? installation.spec.path! : join(cfg.units.layout.installationDir, installation.metadata.name, PLACEHOLDER_BUILD),
        launch,
      },
      blueprint,
      cfg,
    );
    return 'blocked' in preview ? preview : undefined;
  };
  const refs: OverlayBuildRef[] = [];
  for (const o of overlays) {
    const ready = builds.ready(o.metadata.name);
    if (ready) {
      refs.push({ overlay: o.metadata.name, build: ready });
      continue;
    }
    const failed = builds.failure(o.metadata.name);
    return (
      unbuilt() ??
      (failed
        ? { blocked: true, reason: 'BuildFailed', message: `overlay ${o.metadata.name} has no build yet: ${failed}` }
        : { blocked: true, reason: 'Building', message: `waiting for the first build of overlay ${o.metadata.name}` })
    );
  }
  const dir = installationDir(installation, cfg, builds);
  if (typeof dir !== 'string') return unbuilt() ?? dir;
  const configLayer = renderConfigLayer({ instance: doc, blueprint, overlays, rconPassword });
  const unitSpec: InstanceUnitSpec = {
    name: doc.metadata.name,
    overlays: refs,
    configBuild: configLayer.build,
    installationDir: dir,
    launch,
  };
  const rendered = renderUnits(unitSpec, blueprint, cfg);
  if ('blocked' in rendered) return rendered;
  const { mount } = rendered;
  const user = renderUserDropIn(cfg.unitDir, doc.metadata.name, uid, serverTemplateStamp(cfg.units));
  const files = new Map<string, string>([
    [join(cfg.unitDir, mount.fileName), mount.text],
    [user.path, user.text],
    [instancePaths(doc.metadata.name, cfg.units.layout).launchEnv, rendered.launchEnv],
  ]);
  const annotations = doc.metadata.annotations ?? {};
  return {
    doc,
    blueprint,
    overlays,
    installation,
    installationDir: dir,
    unitSpec,
    configLayer,
    mountUnit: mount.fileName,
    uid,
    intent: {
      name: doc.metadata.name,
      state: doc.spec.state,
      updatePolicy: doc.spec.updatePolicy,
      maxUpdateDelayMs: parseDuration(doc.spec.maxUpdateDelay),
      emptyPollMs: cfg.emptyPollMs,
      ...(annotations['left4me/restartedAt'] !== undefined ? { restartedAt: annotations['left4me/restartedAt'] } : {}),
      ...(annotations['left4me/resetAt'] !== undefined ? { resetAt: annotations['left4me/resetAt'] } : {}),
      files,
    },
  };
}

/** Whether this host runs an instance: it names no node, or names this one. */
export function runsHere(doc: Document<'Instance'>, cfg: ControllerConfig): boolean {
  return doc.spec.node === undefined || doc.spec.node === cfg.node;
}
