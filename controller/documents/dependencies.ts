/**
 * What uses what, answered in one place (like changesets' dependents graph):
 * which installation a blueprint runs on, and which blueprints and instances
 * use an overlay, an installation or a blueprint. Resolve, changed-keys and
 * the build side all ask here, so they cannot disagree. Pure: reads a
 * DesiredState, owns nothing.
 */
import type { Document } from './kinds.js';
import type { DesiredState } from './loader.js';

/** A document an instance can depend on, as a kind word and a name. */
export type Dependency = { kind: 'blueprint' | 'overlay' | 'installation'; name: string };

/**
 * The installation a blueprint runs on: the one it names, or — when it names
 * none — the only Installation written, valid or not (so an invalid one is
 * named as the culprit). Undefined when it names none and zero or several
 * are written.
 */
export function installationOf(blueprint: Document<'Blueprint'>, state: Pick<DesiredState, 'installations' | 'invalid'>): string | undefined {
  if (blueprint.spec.installation !== undefined) return blueprint.spec.installation;
  const written = new Set(state.installations.keys());
  for (const key of state.invalid.keys()) if (key.startsWith('installation/')) written.add(key.slice('installation/'.length));
  return written.size === 1 ? [...written][0] : undefined;
}

/** Whether a blueprint uses a document: itself, one of its overlays, or the installation it runs on. */
export function blueprintUses(blueprint: Document<'Blueprint'>, dep: Dependency, state: Pick<DesiredState, 'installations' | 'invalid'>): boolean {
  switch (dep.kind) {
    case 'blueprint':
      return blueprint.metadata.name === dep.name;
    case 'overlay':
      return blueprint.spec.overlays.includes(dep.name);
    case 'installation':
      return installationOf(blueprint, state) === dep.name;
  }
}

/** Names of the instances whose blueprint uses the dependency (directly or through an overlay or installation), sorted. */
export function instancesUsing(state: Pick<DesiredState, 'installations' | 'invalid' | 'blueprints' | 'instances'>, dep: Dependency): string[] {
  const out: string[] = [];
  for (const inst of state.instances.values()) {
    const bp = state.blueprints.get(inst.spec.blueprint);
    if (dep.kind === 'blueprint' ? inst.spec.blueprint === dep.name : bp !== undefined && blueprintUses(bp, dep, state)) out.push(inst.metadata.name);
  }
  return out.sort();
}
