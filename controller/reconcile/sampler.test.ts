import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ControllerCounters, readCounters } from '../status/counters.js';
import { HistoryStore } from '../status/history.js';
import { StatusStore } from '../status/store.js';
import type { SystemdAdapter, UnitAccounting } from '../systemd/adapter.js';
import { Sampler } from './sampler.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-sampler-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('sampler', () => {
  it('samples running servers only, asks systemd once for all of them, and drops the history of deleted instances', async () => {
    const store = new StatusStore(join(root, 'status'));
    const base = { conditions: [], events: [] };
    await store.write({ kind: 'Instance', name: 'up-1', port: 27015, unit: { activeState: 'active', subState: 'running' }, ...base });
    await store.write({ kind: 'Instance', name: 'quiet-1', port: 27016, unit: { activeState: 'active', subState: 'running' }, ...base });
    await store.write({ kind: 'Instance', name: 'down-1', port: 27017, unit: { activeState: 'inactive', subState: 'dead' }, ...base });
    const history = new HistoryStore(join(root, 'history'), { stepMs: 1000 });
    await history.append('gone-1', { t: 1_000_000 }); // its instance was deleted: no status any more
    const asked: string[][] = [];
    const systemd = {
      accounting: async (names: string[]) => {
        asked.push(names);
        return new Map<string, UnitAccounting>([['left4me-server@up-1.service', { cpuNs: 5_000_000n, memoryBytes: 4096 }]]);
      },
    } as unknown as SystemdAdapter;
    // quiet-1 does not answer A2S (and systemd gave nothing for it): a sample with nothing known, not a failure.
    const probe = async (port: number) => (port === 27015 ? { name: 'x', map: 'c1m1_hotel', players: 2, maxPlayers: 8 } : undefined);
    const t = 2_000_000;
    const counters = new ControllerCounters(join(root, 'status', 'metrics.json'));
    const sampler = new Sampler({ systemd, probe, store, history, counters, log: pino({ level: 'silent' }), now: () => t });
    expect(await sampler.sampleOnce()).toBe(2);
    expect(asked).toEqual([['left4me-server@quiet-1.service', 'left4me-server@up-1.service']]);
    expect((await history.read('up-1', t)).samples).toEqual([{ t, cpuNs: 5_000_000n, memory: 4096, players: 2, maxPlayers: 8 }]);
    expect((await history.read('quiet-1', t)).samples).toEqual([{ t }]);
    expect(await history.names()).toEqual(['quiet-1', 'up-1']);
    // stop() writes the counters one last time (once started).
    await sampler.stop();
    expect(readCounters(join(root, 'status', 'metrics.json'))).toBeUndefined();
    sampler.start();
    await sampler.stop();
    expect(readCounters(join(root, 'status', 'metrics.json'))).toMatchObject({ passes: 0 });
  });
});
