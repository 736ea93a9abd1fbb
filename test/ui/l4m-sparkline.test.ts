// <l4m-sparkline> in real Chromium: the line it draws from its values, gaps, the scale and its accessible name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openElementPage, type ElementPage } from './support/element-page.js';

let ui: ElementPage;

beforeAll(async () => {
  ui = await openElementPage(`import './ui/elements/l4m-sparkline.ts';`);
});

afterAll(async () => {
  await ui?.close();
});

/** Puts a fresh sparkline with these properties on the page and waits for it to render. */
async function show(values: Array<number | null>, max?: number, label = 'Players of demo-1 over 24 h'): Promise<void> {
  await ui.page.evaluate(
    async ([values, max, label]) => {
      document.body.replaceChildren();
      const el = document.createElement('l4m-sparkline') as HTMLElement & { values: unknown; max: unknown; label: string; updateComplete: Promise<unknown> };
      el.values = values;
      el.max = max;
      el.label = label as string;
      document.body.append(el);
      await el.updateComplete;
    },
    [values, max ?? null, label] as const,
  );
}

const lines = () => ui.page.locator('l4m-sparkline polyline').evaluateAll((els) => els.map((e) => e.getAttribute('points')));

describe('<l4m-sparkline>', () => {
  it('draws one line across the box, scaled to max, and names itself with its last and highest values', async () => {
    await show([0, 4, 8, 2], 8);
    expect(await lines()).toEqual(['0,23 33.33,12 66.67,1 100,17.5']);
    const img = ui.page.getByRole('img', { name: 'Players of demo-1 over 24 h: now 2, highest 8' });
    await expect(img.count()).resolves.toBe(1);
    expect(ui.errors).toEqual([]);
  });

  it('scales to the highest value when no max is given', async () => {
    await show([1, 2]);
    expect(await lines()).toEqual(['0,12 100,1']);
  });

  it('breaks the line where nothing was measured and marks a lone point with a dot', async () => {
    await show([1, 1, null, 2, null, null, 3], 4);
    expect(await lines()).toEqual(['0,17.5 16.67,17.5', '50,12', '100,6.5']);
    expect(await ui.page.locator('l4m-sparkline circle').count()).toBe(2);
  });

  it('says "no data" for an empty or unmeasured series and draws no line', async () => {
    await show([], 8);
    expect(await lines()).toEqual([]);
    await show([null, null], 8, 'Players of x over 24 h');
    expect(await lines()).toEqual([]);
    expect(await ui.page.getByRole('img', { name: 'Players of x over 24 h: no data' }).count()).toBe(1);
  });

  it('redraws when its values change', async () => {
    await show([0, 0], 8);
    await ui.page.evaluate(async () => {
      const el = document.querySelector('l4m-sparkline') as HTMLElement & { values: unknown; updateComplete: Promise<unknown> };
      el.values = [8, 8];
      await el.updateComplete;
    });
    expect(await lines()).toEqual(['0,1 100,1']);
    expect(ui.errors).toEqual([]);
  });
});
