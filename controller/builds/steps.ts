import type { OverlaySource } from '../documents/kinds.js';
import type { RemoteFingerprint, StepRunner } from './pipeline.js';
import { BuildStepError } from './source.js';
import { buildArchive } from './archive.js';
import { buildFiles } from './files.js';
import { buildScript } from './script.js';
import { buildWorkshop, resolveWorkshop, workshopFingerprint } from './workshop.js';

/** Build steps by source kind: what the production controller registers. */
export const PRODUCTION_STEPS: Partial<Record<string, StepRunner>> = {
  files: async (source: OverlaySource, ctx) => {
    if (!('files' in source)) throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step} is not a files step`);
    await buildFiles(source.files, ctx);
  },
  archive: async (source: OverlaySource, ctx) => {
    if (!('archive' in source)) throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step} is not an archive step`);
    await buildArchive(source.archive, ctx);
  },
  script: async (source: OverlaySource, ctx) => {
    if (!('script' in source)) throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step} is not a script step`);
    await buildScript(source.script, ctx);
  },
  workshop: async (source: OverlaySource, ctx) => {
    if (!('workshop' in source)) throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step} is not a workshop step`);
    await buildWorkshop(source.workshop, ctx);
  },
};

/** Remote fingerprints by source kind: a workshop item's new revision makes a new build. */
export const PRODUCTION_FINGERPRINTS: Partial<Record<string, RemoteFingerprint>> = {
  workshop: async (source, ctx) => {
    if (!('workshop' in source)) return '';
    return workshopFingerprint(await resolveWorkshop(source.workshop, ctx));
  },
};
