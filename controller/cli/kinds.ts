import { KINDS, type Kind } from '../documents/kinds.js';
import { UsageError } from './args.js';

// A Map: `left4me get constructor` must be an unknown kind, not Object.prototype.constructor.
const ALIASES = new Map<string, Kind>(Object.entries({
  installation: 'Installation', installations: 'Installation', inst: 'Installation',
  overlay: 'Overlay', overlays: 'Overlay', ov: 'Overlay',
  blueprint: 'Blueprint', blueprints: 'Blueprint', bp: 'Blueprint',
  instance: 'Instance', instances: 'Instance', server: 'Instance', servers: 'Instance',
} satisfies Record<string, Kind>));

/** Resolves what people type for a kind (`instances`, `bp`, `Overlay`) to the kind. */
export function parseKind(word: string | undefined): Kind {
  if (!word) throw new UsageError(`missing KIND (one of ${KINDS.map((k) => k.toLowerCase()).join(', ')})`);
  const kind = ALIASES.get(word.toLowerCase());
  if (!kind) throw new UsageError(`unknown kind "${word}" (one of ${KINDS.map((k) => k.toLowerCase()).join(', ')})`);
  return kind;
}
