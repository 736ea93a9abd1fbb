// <l4m-chart> in a real Chromium under the dashboard's CSP: a line per run of known values, a gap for unknown.
import { describe, expect, it } from 'vitest';
import { serverPageForSuite, mount, POLL } from './support/server-fakes.js';

const ui = serverPageForSuite();

describe('<l4m-chart>', () => {
  it('draws each run of known values as its own line: a null is a gap, never a zero', async () => {
    await mount(ui.page, 'l4m-chart', { label: 'Players over time', points: [{ t: 0, v: 1 }, { t: 1, v: 2 }, { t: 2, v: null }, { t: 3, v: 3 }, { t: 4, v: 4 }] });
    const chart = ui.page.getByRole('img', { name: 'Players over time' });
    await chart.waitFor();
    const lines = chart.locator('polyline');
    expect(await lines.count()).toBe(2);
    const pts = await lines.evaluateAll((ls) => ls.map((l) => l.getAttribute('points')!.split(' ').map((p) => p.split(',').map(Number))));
    // x runs 2..298 over t 0..4: the null at t=2 (x=150) is nowhere, and the two lines meet no point between t=1 and t=3.
    expect(pts.map((line) => line.map(([x]) => x))).toEqual([[2, 76], [224, 298]]);
    // The scale is 0..4 (bottom 78, top 2): 1 → 59, 4 → 2.
    expect(pts[0]![0]![1]).toBe(59);
    expect(pts[1]![1]![1]).toBe(2);
  });

  it('shows a lone known value between gaps as a dot, and no line at all when nothing is known', async () => {
    await mount(ui.page, 'l4m-chart', { label: 'CPU over time', points: [{ t: 0, v: null }, { t: 1, v: 5 }, { t: 2, v: null }] });
    const chart = ui.page.getByRole('img', { name: 'CPU over time' });
    expect(await chart.locator('polyline').count()).toBe(0);
    expect(await chart.locator('circle').count()).toBe(1);
    await mount(ui.page, 'l4m-chart', { label: 'Memory over time', points: [{ t: 0, v: null }, { t: 1, v: null }] });
    const empty = ui.page.getByRole('img', { name: 'Memory over time' });
    expect(await empty.locator('polyline, circle').count()).toBe(0);
    expect(await empty.locator('title').textContent()).toBe('Memory over time: no data');
  });

  it('redraws when its points change', async () => {
    await mount(ui.page, 'l4m-chart', { label: 'Players over time', points: [{ t: 0, v: 1 }, { t: 1, v: 2 }] });
    const chart = ui.page.getByRole('img', { name: 'Players over time' });
    expect(await chart.locator('polyline').count()).toBe(1);
    await ui.page.evaluate(() => {
      (document.querySelector('l4m-chart') as unknown as { points: unknown }).points = [{ t: 0, v: 1 }, { t: 1, v: null }, { t: 2, v: 3 }, { t: 3, v: 2 }, { t: 4, v: null }, { t: 5, v: 1 }, { t: 6, v: 1 }];
    });
    await expect.poll(() => chart.locator('polyline').count(), POLL).toBe(2);
    expect(await chart.locator('circle').count()).toBe(1);
  });
});
