import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { OverlaySource } from '../documents/kinds.js';
import { BuildStepError, type BuildContext } from './source.js';

/** A build that cannot be made; the overlay's status shows the message. */
export class BuildError extends Error {
  override name = 'BuildError';
}

/**
 * The `files` step for inline content (downloads come with the download
 * step). Paths were validated by the schema; they are checked again here
 * because a build writes as root.
 */
export async function inlineFilesStep(source: OverlaySource, ctx: BuildContext): Promise<void> {
  if (!('files' in source)) throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step} is not a files step`);
  for (const f of source.files) {
    if (f.content === undefined) throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step}: ${f.path} is a download, which this controller cannot build yet`);
    if (f.path.startsWith('/') || f.path.split('/').some((s) => s === '..' || s === '.' || s === '')) {
      throw new BuildStepError(`overlay ${ctx.overlay}: step ${ctx.step}: refusing unsafe path ${JSON.stringify(f.path)}`);
    }
    const path = join(ctx.dir, f.path);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const mode = parseInt(f.mode, 8) & 0o777;
    await writeFile(path, f.content, { mode });
    await chmod(path, mode);
    ctx.log(`wrote ${f.path} (${f.content.length} bytes, mode ${mode.toString(8)})`);
  }
}
