/**
 * The load options of a CLI verb that reads the host's desired state: the
 * controller's judgement (host-options.ts) and the git sources in force on
 * that host, read now, so `get`, `describe`, `apply` and the rest see what the
 * controller sees and refuse what a repository owns.
 */
import type { LoadOptions } from '../documents/loader.js';
import { DEFAULT_DATA_DIR, hostLayout, type HostLayout } from '../host/layout.js';
import { readActiveSources } from '../sources/active.js';
import { documentOptions } from './host-options.js';
import { resolveTarget } from './target.js';

type Values = Parameters<typeof documentOptions>[0] & Parameters<typeof resolveTarget>[0];

/** The host layout a verb targets (the demo host's, or --data-dir's), and how this process reaches it. */
export function targetLayout(values: Values): { layout: HostLayout; fsRoot: string } {
  const demo = resolveTarget(values).demo;
  return { layout: hostLayout(values['data-dir'] ?? demo?.dataDir ?? DEFAULT_DATA_DIR), fsRoot: demo?.fsRoot ?? '/' };
}

/** documentOptions plus the host's active git sources (and the ones that cannot be read, as problems). */
export async function documentOptionsWithSources(values: Values): Promise<LoadOptions> {
  const opts = documentOptions(values);
  const { layout, fsRoot } = targetLayout(values);
  const active = await readActiveSources(layout, fsRoot);
  return { ...opts, sources: active.roots, sourceProblems: active.problems };
}
