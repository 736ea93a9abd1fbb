import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SystemdAdapter, UnitState } from '../systemd/adapter.js';
import { UnitCache } from './unit-cache.js';

/** An adapter that only lists units, counting the calls. */
function lister() {
  const adapter = { listUnits: async (): Promise<UnitState[]> => [] } as unknown as SystemdAdapter;
  return adapter;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('UnitCache', () => {
  it('serves one listing until it is older than maxAgeMs, counted in real time even when the wall clock is stepped back', async () => {
    const cache = new UnitCache(lister(), ['left4me-server@*.service'], 50);
    await cache.snapshot();
    await cache.snapshot();
    expect(cache.refreshes).toBe(1);
    const stepped = Date.now() - 86_400_000;
    vi.spyOn(Date, 'now').mockImplementation(() => stepped); // NTP steps the clock a day back
    await new Promise((r) => setTimeout(r, 80));
    await cache.snapshot();
    expect(cache.refreshes).toBe(2);
  });
});
