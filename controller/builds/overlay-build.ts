import type { Document } from '../documents/kinds.js';
import { PUBLIC_LAYER, writeLayer } from './layer-writer.js';

/** A build that cannot be made; the overlay's status shows the message. */
export class BuildError extends Error {
  override name = 'BuildError';
}

/** The build id of an overlay: its spec generation (content-addressed: same spec, same build). */
export function overlayBuildId(overlay: Document<'Overlay'>): string {
  return overlay.generation;
}

/**
 * Builds an overlay into `dir` (atomically, once). This version builds
 * `files` sources with inline content; downloads, archives, workshop items
 * and scripts are refused with a BuildError naming the source.
 */
export async function buildOverlay(overlay: Document<'Overlay'>, dir: string): Promise<void> {
  const files = new Map<string, { text: string; mode?: number }>();
  overlay.spec.sources.forEach((source, i) => {
    if (!('files' in source)) {
      throw new BuildError(`overlay ${overlay.metadata.name}: source ${i} (${Object.keys(source)[0]}) cannot be built by this controller yet; only inline files can`);
    }
    for (const f of source.files) {
      if (f.content === undefined) throw new BuildError(`overlay ${overlay.metadata.name}: file ${f.path} is a download; only inline files can be built yet`);
      files.set(f.path, { text: f.content, mode: parseInt(f.mode, 8) & 0o777 });
    }
  });
  await writeLayer(dir, files, PUBLIC_LAYER);
}
