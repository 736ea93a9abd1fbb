import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseDuration } from '../documents/duration.js';
import { kindKey } from '../documents/kinds.js';
import { documentsOf, loadState } from '../documents/loader.js';
import { formatProblem } from '../documents/problems.js';
import { DEFAULT_LIMITS, scanStateDir } from '../documents/scan.js';
import { applyDocuments, type InputFile, type WriteResult } from '../documents/writer.js';
import { parse, UsageError } from './args.js';
import type { Io } from './io.js';
import { StatusStore } from '../status/store.js';
import { documentOptionsWithSources } from './document-sources.js';
import { resolveTarget } from './target.js';
import { waitForDocuments } from './wait.js';

/** Io that can also read standard input: tests hand the text in, the launcher leaves it unset and process.stdin is read. */
export interface StdinIo extends Io {
  /** Reads standard input, at most `maxBytes`; null when there is more. */
  readStdin?(maxBytes: number): Promise<string | null>;
}

/** The name standard input is shown under in problems. */
const STDIN_NAME = '<stdin>';

/**
 * `left4me apply -f FILE [-f FILE...] [--dry-run] [--wait [--timeout D]]`:
 * reads YAML files, directories of them, or `-` (standard input), and writes
 * their documents into the state directory when the whole tree stays valid
 * (writer.ts). With --wait, follows their status until each is Ready or has
 * failed (wait.ts); exits non-zero on failure or timeout.
 */
export async function applyCommand(args: string[], io: StdinIo): Promise<number> {
  const { values, positionals } = parse(args, {
    filename: { type: 'string', short: 'f', multiple: true },
    'dry-run': { type: 'boolean' },
    wait: { type: 'boolean' },
    timeout: { type: 'string', default: '5m' },
  });
  if (positionals.length > 0) throw new UsageError(`apply reads its input with -f FILE; "${positionals[0]}" is not an option`);
  const names = values.filename ?? [];
  if (names.length === 0) throw new UsageError('apply needs -f FILE (a YAML file, a directory of YAML files, or - for standard input)');
  if (names.filter((n) => n === '-').length > 1) throw new UsageError('standard input (-f -) can be read only once');
  const target = resolveTarget(values);

  const inputs: InputFile[] = [];
  for (const name of names) {
    const read = await readInput(name, io);
    if (typeof read === 'string') {
      io.err(`${read}\n`);
      return 1;
    }
    inputs.push(...read);
  }
  const dryRun = values['dry-run'] ?? false;
  let timeoutMs = 0;
  if (values.wait) {
    if (dryRun) throw new UsageError('--wait and --dry-run do not go together: a dry run writes nothing to wait for');
    try {
      timeoutMs = parseDuration(values.timeout as string);
    } catch {
      throw new UsageError(`--timeout takes a duration such as 90s, 5m or 1h (got "${values.timeout as string}")`);
    }
  }
  const load = await documentOptionsWithSources(values);
  const result = await applyDocuments(target.stateDir, inputs, { dryRun, ...load });
  const code = report(result, dryRun, target.stateDir, io);
  if (code !== 0 || !values.wait) return code;
  // Wait for the generations now on disk: what the controller will converge on.
  const state = await loadState(target.stateDir, load);
  const awaited = result.outcomes.flatMap((o) => {
    const doc = documentsOf(state, o.kind).get(o.name);
    return doc ? [{ kind: o.kind, name: o.name, generation: doc.generation }] : [];
  });
  return waitForDocuments(new StatusStore(target.statusDir), awaited, timeoutMs, io);
}

/** Prints what apply or delete did, kubectl style (`instance/x created`), or why it refused; returns the exit code. */
export function report(result: WriteResult, dryRun: boolean, stateDir: string, io: Io): number {
  if (result.refused) {
    const { message, problems } = result.refused;
    io.err(`${message}${problems.length > 0 ? ':' : ''}\n`);
    for (const p of problems) io.err(`${formatProblem(p)}\n`);
    return 1;
  }
  for (const o of result.outcomes) io.out(`${kindKey(o.kind)}/${o.name} ${o.outcome}${dryRun ? ' (dry run)' : ''}\n`);
  const n = result.warnings.length;
  if (n > 0) {
    io.err(`warning: ${n} problem${n === 1 ? ' that was' : 's that were'} already in ${stateDir} elsewhere, not caused by this change; see them with: left4me validate ${stateDir}\n`);
  }
  return 0;
}

/** One -f argument as input texts, or what is wrong with it. The same size limit as the loader's applies. */
async function readInput(name: string, io: StdinIo): Promise<InputFile[] | string> {
  const max = DEFAULT_LIMITS.maxFileBytes;
  const tooLarge = (shown: string) => `${shown} is larger than ${max} bytes; refused: split it into several files`;
  if (name === '-') {
    const text = io.readStdin ? await io.readStdin(max) : await readCapped(process.stdin, max);
    return text === null ? tooLarge(STDIN_NAME) : [{ name: STDIN_NAME, text }];
  }
  let isDir: boolean;
  try {
    isDir = (await stat(name)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `cannot read ${name}: ${code === 'ENOENT' ? 'no such file or directory' : code ?? String(err)}`;
  }
  if (isDir) {
    // Same walk as the state tree: hidden entries skipped, links out of the directory refused, limits kept.
    const scan = await scanStateDir(name);
    if (scan.problems.length > 0) return [`cannot read ${name}:`, ...scan.problems.map(formatProblem)].join('\n');
    if (scan.files.length === 0) return `${name} holds no .yaml or .yml files`;
    return scan.files.map((f) => ({ name: f.path, text: f.text }));
  }
  try {
    const text = await readCapped(createReadStream(name), max);
    return text === null ? tooLarge(name) : [{ name, text }];
  } catch (err) {
    return `cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}

/** Reads a stream to its end, or null as soon as it passes `max` bytes. */
async function readCapped(stream: Readable, max: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > max) {
      stream.destroy();
      return null;
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
