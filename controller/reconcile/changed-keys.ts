import { installationOf } from '../documents/dependencies.js';
import type { DesiredState } from '../documents/loader.js';

/**
 * Keys whose inputs differ between two loads of the documents: changed,
 * added, removed or newly invalid documents, and the instances that depend
 * on a changed blueprint, overlay or installation. Pure. (Periodic resyncs
 * enqueue everything regardless; this only keeps an edit from waiting
 * behind a hundred no-op reconciles.)
 */
export function changedKeys(prev: DesiredState | undefined, next: DesiredState): Set<string> {
  const keys = new Set<string>();
  if (!prev) return keys;
  const diff = <T extends { generation: string; metadata: { annotations?: Record<string, string> } }>(kind: string, a: Map<string, T>, b: Map<string, T>) => {
    const out = new Set<string>();
    for (const [name, doc] of b) {
      const old = a.get(name);
      if (!old || old.generation !== doc.generation || JSON.stringify(old.metadata.annotations ?? {}) !== JSON.stringify(doc.metadata.annotations ?? {})) out.add(name);
    }
    for (const name of a.keys()) if (!b.has(name)) out.add(name);
    for (const name of out) keys.add(`${kind}/${name}`);
    return out;
  };
  const installations = diff('installation', prev.installations, next.installations);
  const overlays = diff('overlay', prev.overlays, next.overlays);
  const blueprints = diff('blueprint', prev.blueprints, next.blueprints);
  diff('instance', prev.instances, next.instances);
  for (const key of new Set([...prev.invalid.keys(), ...next.invalid.keys()])) {
    if (prev.invalid.has(key) !== next.invalid.has(key) || JSON.stringify(prev.invalid.get(key)) !== JSON.stringify(next.invalid.get(key))) keys.add(key);
  }
  // Invalid dependencies count as changed too: their dependents must report it.
  for (const key of keys) {
    const [kind, name] = key.split('/') as [string, string];
    if (kind === 'overlay') overlays.add(name);
    if (kind === 'blueprint') blueprints.add(name);
    if (kind === 'installation') installations.add(name);
  }
  // The same rule as resolve (installationOf): a blueprint that names no installation runs on the only one.
  for (const bp of next.blueprints.values()) {
    const runsOn = installationOf(bp, next);
    const before = prev.blueprints.get(bp.metadata.name);
    const movedInstallation = before !== undefined && installationOf(before, prev) !== runsOn;
    if (bp.spec.overlays.some((o) => overlays.has(o)) || (runsOn !== undefined && installations.has(runsOn)) || movedInstallation) blueprints.add(bp.metadata.name);
  }
  for (const inst of next.instances.values()) if (blueprints.has(inst.spec.blueprint)) keys.add(`instance/${inst.metadata.name}`);
  for (const inst of prev.instances.values()) if (blueprints.has(inst.spec.blueprint)) keys.add(`instance/${inst.metadata.name}`);
  return keys;
}
