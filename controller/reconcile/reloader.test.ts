import { describe, expect, it } from 'vitest';
import { Reloader } from './reloader.js';

describe('Reloader', () => {
  it('serves everyone who asked during a reload with one more reload', async () => {
    const gates: Array<() => void> = [];
    const r = new Reloader(() => new Promise<void>((res) => gates.push(res)));
    const first = r.reload();
    await new Promise((res) => setTimeout(res, 20)); // past the gathering window: the first reload is running
    const waiting = [r.reload(), r.reload(), r.reload()];
    expect(r.count).toBe(1);
    gates.shift()!();
    await first;
    await new Promise((res) => setImmediate(res));
    expect(r.count).toBe(2);
    gates.shift()!();
    await Promise.all(waiting);
    expect(r.count).toBe(2);
  });

  it('callers within the gathering window share the first reload', async () => {
    const r = new Reloader(async () => undefined, 10);
    await Promise.all([r.reload(), r.reload(), r.reload()]);
    expect(r.count).toBe(1);
  });

  it('a failed reload rejects its callers but does not wedge the next', async () => {
    let fail = true;
    const r = new Reloader(async () => {
      if (fail) throw new Error('bus gone');
    });
    await expect(r.reload()).rejects.toThrow('bus gone');
    fail = false;
    await expect(r.reload()).resolves.toBeUndefined();
  });
});
