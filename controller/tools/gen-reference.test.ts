import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { packageRoot } from '../package-root.js';
import {
  END_MARKER,
  START_MARKER,
  extractSection,
  readSchemaFiles,
  main,
  renderReference,
  renderSchemas,
  replaceSection,
  updateReadme,
  type SchemaSet,
} from './gen-reference.js';

const root = packageRoot();
const schemasDir = join(root, 'schemas');

type Obj = Record<string, unknown>;

function clone(set: SchemaSet): SchemaSet {
  return new Map([...set].map(([id, s]) => [id, structuredClone(s)]));
}

function schemaOf(set: SchemaSet, file: string): Obj {
  const found = [...set].find(([id]) => id.endsWith(`/${file}`));
  if (!found) throw new Error(`no ${file} in the schema set`);
  return found[1];
}

/** Field paths from the first column of every table row. */
function fieldPaths(markdown: string): string[] {
  return [...markdown.matchAll(/^\| (`+)(.+?)\1 \|/gm)].map((m) => m[2]!);
}

function lastSegment(path: string): string {
  const m = /(?:\.|^)([A-Za-z_][A-Za-z0-9_]*)(?:\[\])?$|\["([^"]+)"\](?:\[\])?$/.exec(path);
  return m?.[1] ?? m?.[2] ?? path;
}

/** Every key of every `properties` object anywhere in a schema. */
function propertyNames(node: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(node)) for (const x of node) propertyNames(x, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) for (const name of Object.keys(v)) out.add(name);
      propertyNames(v, out);
    }
  }
  return out;
}

function rowOf(markdown: string, path: string): string {
  const row = markdown.split('\n').find((line) => line.startsWith(`| \`${path}\` |`));
  if (!row) throw new Error(`no row for ${path}`);
  return row;
}

describe('README reference section', () => {
  it('matches the schemas (run `npm run docs` when this fails)', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    expect(extractSection(readme), 'README.md is stale: run `npm run docs`').toBe(await renderReference());
    expect(await updateReadme(true)).toBe(false);
  });

  it('goes stale when a schema description changes', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const set = clone(await readSchemaFiles(schemasDir));
    const spec = (schemaOf(set, 'instance.schema.json').properties as Obj).spec as Obj;
    (((spec.properties as Obj).port as Obj).description as string) += ' Changed.';
    expect(replaceSection(readme, renderSchemas(set))).not.toBe(readme);
  });
});

describe('renderReference', () => {
  it('lists every field of every schema', async () => {
    const out = await renderReference();
    const segments = new Set(fieldPaths(out).map(lastSegment));
    const set = await readSchemaFiles(schemasDir);
    const missing: string[] = [];
    for (const [id, schema] of set) {
      for (const name of propertyNames(schema)) if (!segments.has(name)) missing.push(`${id}: ${name}`);
    }
    expect(missing).toEqual([]);
  });

  it('presents the kinds in order, then metadata once, then shared types, then the controller configuration', async () => {
    const out = await renderReference();
    const headings = [...out.matchAll(/^### (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(['Installation', 'Overlay', 'Blueprint', 'Instance', 'Metadata', 'Shared types', 'Controller configuration']);
    for (const kind of ['Installation', 'Overlay', 'Blueprint', 'Instance']) {
      const section = out.split(`### ${kind}\n`)[1]!.split('\n### ')[0]!;
      expect(rowOf(section, 'metadata')).toContain('[metadata](#metadata)');
      expect(fieldPaths(section).some((p) => p.startsWith('metadata.'))).toBe(false);
    }
    expect(fieldPaths(out).filter((p) => p === 'metadata.name')).toHaveLength(1);
  });

  it('follows $refs into common.schema.json and local $defs', async () => {
    const out = await renderReference();
    // Local $defs (overlay.schema.json#/$defs/archive) and a shared def behind them.
    expect(rowOf(out, 'spec.sources[].archive.sha256')).toContain('64 lowercase hex digits');
    expect(rowOf(out, 'spec.sources[].archive.sha256')).toContain('[sha256](#shared-types)');
    expect(rowOf(out, 'spec.sources[].archive.stripComponents')).toContain('default `0`');
    expect(rowOf(out, 'spec.sources[].files[].path')).toContain('[relativePath](#shared-types)');
    // A sibling description beside a $ref wins over the target's.
    expect(rowOf(out, 'spec.sources[].archive.url')).toContain('Where to download the archive.');
    // A sibling default beside a $ref is kept.
    expect(rowOf(out, 'spec.sources[].script.timeout')).toContain('default `1h`');
    // The metadata def from common.schema.json, including its nested keys.
    expect(rowOf(out, 'metadata.annotations["left4me/restartedAt"]')).toContain('format date-time');
    expect(rowOf(out, 'name')).toContain('pattern');
    expect(out).toMatch(/\| `cvars` \| map of \[cvarName\]\(#shared-types\)/);
  });

  it('renders the controller configuration with its own types inline and its sources per item', async () => {
    const out = await renderReference();
    const section = out.split('### Controller configuration\n')[1]!;
    expect(section).toContain('holds no secrets');
    expect(rowOf(section, 'stateDir')).toContain('`--state`');
    expect(rowOf(section, 'sources[].interval')).toContain('[duration](#shared-types)');
    expect(rowOf(section, 'sources[].interval')).toContain('default `1m`');
    expect(rowOf(section, 'sources[].name')).toContain('| required |');
    expect(rowOf(section, 'maxArchiveBytes')).toContain('integer/string');
    // Its $defs are its own, not shared document types.
    const shared = out.split('### Shared types\n')[1]!.split('\n### ')[0]!;
    expect(shared).not.toContain('`absolutePath`');
  });

  it('shows one-of sets and conditional requirements', async () => {
    const out = await renderReference();
    for (const key of ['files', 'archive', 'workshop', 'script']) {
      expect(rowOf(out, `spec.sources[].${key}`)).toContain('exactly one of `files`, `archive`, `workshop`, `script`');
    }
    expect(rowOf(out, 'spec.sources[].files[].url')).toContain('either `content` or `url` + `sha256`');
    expect(rowOf(out, 'spec.sources[].files[].path')).toContain('| required |');
    expect(rowOf(out, 'spec.sources[].workshop.items')).toContain('at least one of `items`, `collections`');
    expect(rowOf(out, 'spec.path')).toContain('required when `source` is `directory`; not allowed when `source` is `steam`');
    expect(rowOf(out, 'spec.steam')).toContain('not allowed when `source` is `directory`');
  });

  it('is deterministic and independent of the order schemas were loaded in', async () => {
    const set = await readSchemaFiles(schemasDir);
    const reversed: SchemaSet = new Map([...set].reverse());
    const a = renderSchemas(set);
    expect(renderSchemas(clone(set))).toBe(a);
    expect(renderSchemas(reversed)).toBe(a);
    expect(await renderReference()).toBe(await renderReference());
  });

  it('stops at recursive and circular $refs', async () => {
    const set = clone(await readSchemaFiles(schemasDir));
    const instance = schemaOf(set, 'instance.schema.json');
    instance.$defs = {
      tree: { type: 'object', description: 'A node.', properties: { child: { $ref: '#/$defs/tree' }, label: { type: 'string' } } },
      loopA: { $ref: '#/$defs/loopB' },
      loopB: { $ref: '#/$defs/loopA' },
    };
    const props = ((instance.properties as Obj).spec as Obj).properties as Obj;
    props.tree = { $ref: '#/$defs/tree' };
    props.loop = { $ref: '#/$defs/loopA' };
    const out = renderSchemas(set);
    expect(rowOf(out, 'spec.tree.child')).toContain('Recursive: the same shape as `spec.tree`');
    expect(fieldPaths(out)).toContain('spec.tree.label');
    expect(fieldPaths(out)).not.toContain('spec.tree.child.child');
    expect(rowOf(out, 'spec.loop')).toContain('circular');
  });

  it('names a $ref it cannot resolve', async () => {
    const set = clone(await readSchemaFiles(schemasDir));
    const props = ((schemaOf(set, 'instance.schema.json').properties as Obj).spec as Obj).properties as Obj;
    props.broken = { $ref: 'nowhere.schema.json#/$defs/x' };
    expect(() => renderSchemas(set)).toThrow(/nowhere\.schema\.json/);
  });
});

describe('updateReadme and the CLI', () => {
  let dir: string | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function staleReadme(): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), 'left4me-readme-'));
    const path = join(dir, 'README.md');
    await writeFile(path, `# Title\n\nBefore.\n\n${START_MARKER}\nold text\n${END_MARKER}\n\nAfter.\n`);
    return path;
  }

  it('check mode reports a stale section without writing; write mode replaces only the section', async () => {
    const path = await staleReadme();
    const before = await readFile(path, 'utf8');
    expect(await updateReadme(true, path)).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(before);

    expect(await updateReadme(false, path)).toBe(true);
    const after = await readFile(path, 'utf8');
    expect(after.startsWith(`# Title\n\nBefore.\n\n${START_MARKER}\n## Document reference\n`)).toBe(true);
    expect(after.endsWith(`\n${END_MARKER}\n\nAfter.\n`)).toBe(true);
    expect(extractSection(after)).toBe(await renderReference());
    expect(await updateReadme(true, path)).toBe(false);
  });

  it('--check exits 1 and says to run npm run docs', async () => {
    const path = await staleReadme();
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((msg: unknown) => void errors.push(String(msg)));
    expect(await main(['--check'], path)).toBe(1);
    expect(errors.join('\n')).toContain('npm run docs');
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    expect(await main([], path)).toBe(0);
    expect(await main(['--check'], path)).toBe(0);
    expect(await main(['--bogus'], path)).toBe(2);
  });

  it('refuses a README without markers', () => {
    expect(() => replaceSection('# nothing here\n', 'x')).toThrow(/reference:start/);
  });
});
