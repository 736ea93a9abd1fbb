/**
 * The load options of a CLI verb that reads the host's desired state: the
 * controller's judgement (host-options.ts) and the git sources in force on
 * that host, read now, so `get`, `describe`, `apply` and the rest see what the
 * controller sees and refuse what a repository owns.
 */
import type { LoadOptions } from '../documents/loader.js';
import { DEFAULT_DATA_DIR, hostLayout, type HostLayout } from '../host/layout.js';
import { readActiveSources } from '../sources/active.js';
import { loadControllerConfigFile } from '../config-file.js';
import { UsageError } from './args.js';
import { configPath, documentOptions } from './host-options.js';
import { resolveTarget } from './target.js';

type Values = Parameters<typeof documentOptions>[0] & Parameters<typeof resolveTarget>[0] & { config?: string };

/** The host layout a verb targets (the demo host's, or --data-dir's), and how this process reaches it. */
export function targetLayout(values: Values): { layout: HostLayout; fsRoot: string } {
  const demo = resolveTarget(values).demo;
  return { layout: hostLayout(values['data-dir'] ?? demo?.dataDir ?? DEFAULT_DATA_DIR), fsRoot: demo?.fsRoot ?? '/' };
}

/**
 * documentOptions with the host's configuration file (its port ranges and
 * installation roots judge documents as the controller will), plus the host's
 * active git sources (and the ones that cannot be read, as problems). A file
 * the controller would refuse is refused here too, before any document is read.
 */
export async function documentOptionsWithSources(values: Values): Promise<LoadOptions> {
  const path = configPath(values);
  // --config names a file that must exist; the default path is optional, as for the controller.
  const file = await loadControllerConfigFile(path, { optional: values.config === undefined });
  if (file.problems.length > 0) {
    throw new UsageError(`${path} has ${file.problems.length} problem${file.problems.length === 1 ? '' : 's'}, and the controller refuses to start with it (check it with \`left4me config check ${path}\`)`);
  }
  const opts = documentOptions(values, file.found ? file.options.settings : {});
  const { layout, fsRoot } = targetLayout(values);
  const active = await readActiveSources(layout, fsRoot);
  return { ...opts, sources: active.roots, sourceProblems: active.problems };
}
