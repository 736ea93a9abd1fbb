import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { forgetParses, loadState } from '../../controller/documents/loader.js';
import { loadSchemas } from '../../controller/documents/schema.js';
import type { BenchResult } from './report.js';
import { median } from './report.js';

/** Writes a realistic tree of `count` documents, one file each: 1 installation, then overlays, blueprints, instances. */
async function writeTree(dir: string, count: number): Promise<void> {
  const overlays = Math.floor(count * 0.1);
  const blueprints = Math.floor(count * 0.1);
  const instances = count - 1 - overlays - blueprints;
  const files: Array<[string, string]> = [
    ['installation.yaml', 'apiVersion: left4me/v1\nkind: Installation\nmetadata:\n  name: demo\nspec:\n  source: directory\n  path: /srv/left4me/installations/l4d2\n'],
  ];
  for (let i = 0; i < overlays; i++) {
    files.push([
      `overlays/o${i}.yaml`,
      `apiVersion: left4me/v1\nkind: Overlay\nmetadata:\n  name: o${i}\n  owner: alice\nspec:\n  sources:\n    - files:\n        - path: left4dead2/cfg/o${i}.cfg\n          content: |\n            sv_alltalk 1\n            sm_cvar z_difficulty hard\n    - workshop:\n        items: [${100000 + i}, ${200000 + i}]\n  serverCfg: |\n    sv_minrate 100000\n  aliases:\n    a${i}: sm_forcematch zonemod\n`,
    ]);
  }
  for (let i = 0; i < blueprints; i++) {
    files.push([
      `blueprints/b${i}.yaml`,
      `apiVersion: left4me/v1\nkind: Blueprint\nmetadata:\n  name: b${i}\nspec:\n  overlays: [o${i % overlays}, o${(i + 1) % overlays}]\n  map: c1m1_hotel\n  maxPlayers: 8\n  tickrate: 100\n  gameMode: versus\n  cvars:\n    sv_alltalk: 0\n    mp_roundlimit: 2\n  exec: [a${i % overlays}]\n`,
    ]);
  }
  for (let i = 0; i < instances; i++) {
    files.push([
      `instances/i${i}.yaml`,
      `apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: i${i}\n  labels:\n    region: eu\nspec:\n  blueprint: b${i % blueprints}\n  node: node-${Math.floor(i / 100)}\n  port: ${27015 + (i % 100)}\n  cvars:\n    hostname: "Server ${i}"\n`,
    ]);
  }
  for (const [rel, text] of files) {
    await writeFile(join(dir, rel), text, { flag: 'w' }).catch(async () => {
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(dir, rel, '..'), { recursive: true });
      await writeFile(join(dir, rel), text);
    });
  }
}

/** The floor: read (synchronously, the cheapest way, as the loader does) and YAML-parse the same files, no validation. */
async function parseOnly(dir: string): Promise<number> {
  let docs = 0;
  for (const sub of ['', 'overlays', 'blueprints', 'instances']) {
    const d = join(dir, sub);
    for (const f of (await readdir(d)).filter((n) => n.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(join(d, f), 'utf8'))) if (doc.toJS()) docs++;
    }
  }
  return docs;
}

async function time(fn: () => Promise<unknown>, runs: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

/** Benchmark: `left4me validate` over 1,000 documents vs reading and parsing the same YAML. */
export async function benchValidate(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'left4me-bench-validate-'));
  try {
    await writeTree(dir, 1000);
    loadSchemas(); // compile once, as the controller does at start
    const state = await loadState(dir, { portRanges: { game: { min: 27015, max: 27115 }, client: { min: 26900, max: 27000 } } });
    const documents = state.installations.size + state.overlays.size + state.blueprints.size + state.instances.size;
    if (state.problems.length > 0 || documents !== 1000) throw new Error(`bench tree is not valid: ${state.problems.length} problems, ${documents} docs`);
    // Cold: every file parsed, as `left4me validate` (a new process) and the controller's first load do.
    const cold = () => {
      forgetParses();
      return loadState(dir);
    };
    await time(() => parseOnly(dir), 2); // warm the page cache and the JIT
    await time(cold, 2);
    const baseline = await time(() => parseOnly(dir), 7);
    const loader = await time(cold, 7);
    // Again, unchanged: what a resync or an edit costs the controller (parses of unchanged files are kept).
    await loadState(dir);
    const again = await time(() => loadState(dir), 7);
    return [
      { name: 'validate 1,000 documents (1,000 files), cold', value: loader, unit: 'ms', baseline, baselineName: 'read + YAML parse only' },
      { name: 'reload the same 1,000 documents, unchanged (controller resync)', value: again, unit: 'ms', baseline, baselineName: 'read + YAML parse only' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
