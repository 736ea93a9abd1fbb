/**
 * What the controller would do to each instance if a change were applied, in
 * the words `left4me diff` uses, for the validate dry run. Derived from the
 * documents before and after and from status alone (the web room may not
 * import the reconciler): an instance's config is its own spec and the
 * generations of the blueprint, overlays and installation it runs on, and a
 * running server picks up a new config as its updatePolicy says. Pure.
 */
import { installationOf } from '../documents/dependencies.js';
import { canonicalJson } from '../documents/hash.js';
import type { Document } from '../documents/kinds.js';
import type { DesiredState } from '../documents/loader.js';
import type { DocumentStatus } from '../status/store.js';

/** What would happen to one instance. */
export interface InstanceEffect {
  instance: string;
  effect: 'starts' | 'stops' | 'restarts' | 'restartsWhenEmpty' | 'waitsForManualRestart' | 'resets' | 'removed' | 'leftAlone' | 'created' | 'updatedWhileStopped';
  message: string;
}

const RESTARTED_AT = 'left4me/restartedAt';
const RESET_AT = 'left4me/resetAt';
const UP = new Set(['active', 'reloading', 'activating']);

/** The config a server runs with: everything that, changed, needs a restart to take effect. */
function config(state: DesiredState, inst: Document<'Instance'>): string {
  const { state: _s, updatePolicy: _u, maxUpdateDelay: _m, ...own } = inst.spec;
  const bp = state.blueprints.get(inst.spec.blueprint);
  const installation = bp ? installationOf(bp, state) : undefined;
  return canonicalJson({
    own,
    blueprint: bp?.generation,
    overlays: bp?.spec.overlays.map((o) => state.overlays.get(o)?.generation ?? null),
    installation: installation === undefined ? null : (state.installations.get(installation)?.generation ?? null),
  });
}

/** The effect on every instance that the change touches, sorted by name; instances left as they are are not listed. */
export function instanceEffects(before: DesiredState, after: DesiredState, status: ReadonlyMap<string, DocumentStatus | undefined>): InstanceEffect[] {
  const names = new Set([...before.instances.keys(), ...after.instances.keys()]);
  const out: InstanceEffect[] = [];
  for (const name of [...names].sort()) {
    const b = before.instances.get(name);
    const a = after.instances.get(name);
    const st = status.get(name);
    const say = (effect: InstanceEffect['effect'], message: string) => out.push({ instance: name, effect, message });
    if (!a) {
      if (after.invalid.has(`instance/${name}`)) say('leftAlone', 'left alone: its document would be invalid, so the server keeps running as it is');
      else say('removed', 'stops and is removed (unit files removed, writable layer moved to the trash, ports released)');
      continue;
    }
    const running = st?.unit ? UP.has(st.unit.activeState) : b?.spec.state === 'running';
    if (!b) {
      if (a.spec.state === 'running') say('starts', 'starts (a new server, or one whose document was invalid)');
      else say('created', 'is set up and stays stopped (state: stopped)');
      continue;
    }
    const resetAsked = a.metadata.annotations?.[RESET_AT] !== undefined && a.metadata.annotations[RESET_AT] !== b.metadata.annotations?.[RESET_AT];
    const restartAsked = a.metadata.annotations?.[RESTARTED_AT] !== undefined && a.metadata.annotations[RESTARTED_AT] !== b.metadata.annotations?.[RESTARTED_AT];
    const changed = config(before, b) !== config(after, a);
    if (a.spec.state === 'stopped') {
      if (running) say('stops', `stops${resetAsked ? ' and its writable layer is wiped' : ''}`);
      else if (resetAsked) say('resets', 'its writable layer is wiped; it stays stopped');
      else if (changed) say('updatedWhileStopped', 'the new config is written; the server uses it when it next starts');
      continue;
    }
    if (!running) {
      if (b.spec.state === 'stopped' || changed || resetAsked || restartAsked) say('starts', `starts${resetAsked ? ' with a wiped writable layer' : ''}${changed ? ' with the new config' : ''}`);
      continue;
    }
    if (resetAsked) say('resets', 'restarts now with a wiped writable layer (left4me/resetAt changed)');
    else if (restartAsked) say('restarts', `restarts now (left4me/restartedAt changed)${changed ? ' with the new config' : ''}`);
    else if (!changed) continue;
    else if (a.spec.updatePolicy === 'immediate') say('restarts', 'restarts now with the new config (updatePolicy immediate)');
    else if (a.spec.updatePolicy === 'manual') say('waitsForManualRestart', 'keeps running the old config until left4me/restartedAt is set (updatePolicy manual)');
    else if (st?.players === 0) say('restarts', 'restarts now with the new config: nobody is playing (updatePolicy whenEmpty)');
    else say('restartsWhenEmpty', `restarts with the new config when the last player leaves, or after ${a.spec.maxUpdateDelay} at the latest (updatePolicy whenEmpty)`);
  }
  return out;
}
