import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { HistoryStore } from '../status/history.js';
import { StatusStore } from '../status/store.js';
import { main } from './main.js';
import { formatBytes } from './top.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-top-'));
const stateDir = join(root, 'state');
const dataDir = join(root, 'data');

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  const status = new StatusStore(join(dataDir, 'status'));
  const ready = (s: 'True' | 'False', reason: string) => [{ type: 'Ready' as const, status: s, reason, message: 'm', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }];
  await status.write({ kind: 'Instance', name: 'demo-1', conditions: ready('True', 'Succeeded'), port: 27015, players: 1, maxPlayers: 8, unit: { activeState: 'active', subState: 'running' }, events: [] });
  await status.write({ kind: 'Instance', name: 'demo-2', conditions: ready('False', 'Crashing'), port: 27016, events: [] });
  // A server being deleted: a status, no document.
  await status.write({ kind: 'Instance', name: 'old-1', conditions: ready('False', 'Deleting'), events: [] });
  // demo-1 sampled twice, 2 s apart: 0.5 s of CPU (25 % of a core), 96 MiB, 5 of 8 players.
  const history = new HistoryStore(join(dataDir, 'history'), { stepMs: 1000 });
  const now = Date.now();
  await history.append('demo-1', { t: now - 2500, cpuNs: 1_000_000_000n, memory: 90 * 2 ** 20, players: 4, maxPlayers: 8 });
  await history.append('demo-1', { t: now - 500, cpuNs: 1_500_000_000n, memory: 96 * 2 ** 20, players: 5, maxPlayers: 8 });
  await history.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('left4me top', () => {
  it('--once prints one table: state, ready, players, CPU, memory and port per instance', async () => {
    const r = await cli('top', '--once', '--state', stateDir, '--data-dir', dataDir);
    expect(r).toMatchObject({ code: 0, err: '' });
    const lines = r.out.trimEnd().split('\n').map((l) => l.split(/\s{3,}/));
    expect(lines[0]).toEqual(['NAME', 'STATE', 'READY', 'PLAYERS', 'CPU', 'MEMORY', 'PORT']);
    expect(lines.slice(1)).toEqual([
      ['demo-1', 'running', 'True', '5/8', '25.0%', '96.0 MiB', '27015'],
      ['demo-2', 'running', 'False (Crashing)', '-', '-', '-', '27016'],
      ['demo-3', 'running', 'Unknown', '-', '-', '-', '-'],
      ['old-1', 'deleting', 'False (Deleting)', '-', '-', '-', '-'],
    ]);
  });

  it('takes no arguments', async () => {
    expect((await cli('top', 'demo-1', '--once')).code).toBe(2);
  });

  it('says when there is nothing to show', async () => {
    const empty = join(root, 'empty');
    const r = await cli('top', '--once', '--state', empty, '--data-dir', join(root, 'nodata'));
    expect(r.out).toBe('no instances\n');
  });

  it('formats bytes in binary units', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(3 * 2 ** 30)]).toEqual(['512 B', '1.5 KiB', '3.0 GiB']);
  });
});
