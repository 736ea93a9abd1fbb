/**
 * `left4me get sources [NAME] [-o table|yaml|json|name]`: the git sources of
 * the host as the controller last wrote their status: where they fetch from,
 * the commit in force, when they last fetched, and why the newest tip is not
 * serving. Reads status files only (sources/active.ts); runs no git.
 */
import { formatProblem } from '../documents/problems.js';
import { readSourceStatuses } from '../sources/active.js';
import type { SourceStatus } from '../sources/types.js';
import { targetLayout } from './document-sources.js';
import { age } from './get.js';
import type { Io } from './io.js';
import { printableJson, printableYaml } from './printable.js';
import { renderTable } from './table.js';

export async function getSources(values: Parameters<typeof targetLayout>[0], name: string | undefined, output: string, io: Io): Promise<number> {
  const { layout, fsRoot } = targetLayout(values);
  const statuses = (await readSourceStatuses(layout, fsRoot)).filter((s) => name === undefined || s.name === name);
  if (name !== undefined && statuses.length === 0) {
    io.err(`source/${name} not found\n`);
    return 1;
  }
  if (output === 'json') io.out(`${printableJson(name !== undefined ? statuses[0] : statuses)}\n`);
  else if (output === 'yaml') io.out(statuses.map((s) => printableYaml(s)).join('---\n'));
  else if (output === 'name') io.out(statuses.map((s) => `source/${s.name}\n`).join(''));
  else if (statuses.length === 0) io.err('no sources\n');
  else io.out(renderTable(['NAME', 'URL', 'REF', 'SERVING', 'LAST FETCH', 'ERROR'], statuses.map((s) => sourceRow(s, Date.now()))));
  return 0;
}

function sourceRow(s: SourceStatus, now: number): string[] {
  const ref = 'tag' in s.ref ? `tag ${s.ref.tag}` : `branch ${s.ref.branch}`;
  const fetched = s.lastFetch ? age(now - Date.parse(s.lastFetch.at)) : 'never';
  return [s.name, s.url, s.path === '.' ? ref : `${ref}:${s.path}`, s.serving ? s.serving.commit.slice(0, 7) : 'none', fetched, errorWord(s)];
}

/** The last error in one cell: its reason and message, the commit it concerns, and the first problem when there are some. */
function errorWord(s: SourceStatus): string {
  const e = s.lastError;
  if (!e) return '-';
  const problems = e.problems ?? [];
  const first = problems[0] ? `; ${formatProblem(problems[0]).replace(/ {2,}/g, ' ')}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}` : '';
  return `${e.reason}${e.commit ? ` at ${e.commit.commit.slice(0, 7)}` : ''}: ${e.message}${first}`;
}
