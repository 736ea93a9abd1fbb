import type { OverlaySource } from '../documents/kinds.js';
import type { RemoteFingerprint, StepRunner } from './pipeline.js';
import { BuildStepError, type BuildContext } from './source.js';
import { buildArchive } from './archive.js';
import { buildFiles } from './files.js';
import { buildScript } from './script.js';
import { buildWorkshop, resolveWorkshop, workshopFingerprint } from './workshop.js';

type SourceKind = 'files' | 'archive' | 'workshop' | 'script';
type SpecOf<K extends SourceKind> = Extract<OverlaySource, Record<K, unknown>>[K];

/** A StepRunner for one source kind, handed that kind's spec (the pipeline dispatches by the source's one key). */
function step<K extends SourceKind>(kind: K, run: (spec: SpecOf<K>, ctx: BuildContext) => Promise<unknown>): StepRunner {
  return async (source, ctx) => {
    const spec = (source as Partial<Record<SourceKind, unknown>>)[kind];
    if (spec === undefined) throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step} is not a ${kind} step`);
    await run(spec as SpecOf<K>, ctx);
  };
}

/** Build steps by source kind: what the production controller registers. */
export const PRODUCTION_STEPS: Partial<Record<string, StepRunner>> = {
  files: step('files', buildFiles),
  archive: step('archive', buildArchive),
  script: step('script', buildScript),
  workshop: step('workshop', buildWorkshop),
};

/** Remote fingerprints by source kind: a workshop item's new revision makes a new build. */
export const PRODUCTION_FINGERPRINTS: Partial<Record<string, RemoteFingerprint>> = {
  workshop: async (source, ctx) => {
    if (!('workshop' in source)) return '';
    return workshopFingerprint(await resolveWorkshop(source.workshop, ctx));
  },
};
