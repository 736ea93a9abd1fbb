// <l4m-builds> in real Chromium against a fake API and a live SSE stream: a
// running overlay build shows its step (N of M, what it does) and, while it
// downloads, a labelled progress bar that the feed moves; a download of
// unknown size shows its bytes and a bar without a value; when the build ends
// the row shows its outcome again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, openElementPage } from './support/element-page.js';
import { mount, POLL, sse, type SseStream } from './support/server-fakes.js';

const ENTRY = `
import { ContextProvider } from '@lit/context';
import { Api } from './ui/services/api.js';
import { apiContext, feedContext } from './ui/services/context.js';
import { StatusFeed } from './ui/services/status-feed.js';
import './ui/elements/l4m-builds.js';
const api = new Api();
api.csrfToken = 'csrf-test';
api.user = { name: 'alice', role: 'user' };
const feed = new StatusFeed('/api/v1/events');
new ContextProvider(document.body, { context: apiContext, initialValue: api });
new ContextProvider(document.body, { context: feedContext, initialValue: feed });
feed.start();
`;

const MiB = 1 << 20;
const maps = (extra: Record<string, unknown> = {}) => ({ kind: 'Overlay', name: 'maps', ready: 'True', reason: 'Built', message: 'build b-1 is ready', build: 'Succeeded', ...extra });
let feed: SseStream | undefined;
let ui: Awaited<ReturnType<typeof openElementPage>>;

beforeAll(async () => {
  ui = await openElementPage(ENTRY, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/api/v1/overlays') return json(res, 200, { items: [{ name: 'maps', owner: 'alice', ready: 'True' }] });
    if (path === '/api/v1/instances') return json(res, 200, { items: [] });
    if (path === '/api/v1/overlays/maps/build-log' && req.url!.includes('follow=1')) {
      sse(res).send('line', { message: 'step 0: workshop' });
      return true;
    }
    if (path === '/api/v1/overlays/maps/build-log') return json(res, 200, { lines: [] });
    if (path === '/api/v1/overlays/maps/files') return json(res, 200, { entries: [] });
    if (path === '/api/v1/events') {
      feed = sse(res);
      feed.send('snapshot', { items: [maps({ building: 'b-2', buildStep: { step: 2, steps: 3, kind: 'archive', label: 'download maps.7z', bytes: 0, totalBytes: 8 * MiB } })] }, 'e-1');
      return true;
    }
    return false;
  });
}, 60_000);
afterAll(() => ui?.close());

describe('<l4m-builds>: a running overlay build', { timeout: 120_000 }, () => {
  it('shows step N of M with its label and a download bar the feed moves, then the outcome when it ends', async () => {
    const { page } = ui;
    await page.waitForFunction(() => customElements.get('l4m-builds') !== undefined);
    await mount(page, 'l4m-builds', { args: [] });
    const row = page.getByRole('table', { name: 'Overlays' }).locator('tr[data-name="maps"]');
    const bar = row.getByRole('progressbar', { name: 'Progress of maps' });
    await expect.poll(() => row.locator('.step').textContent(), POLL).toBe('step 2 of 3 · download maps.7z · 0% (0 bytes of 8.0 MiB)');
    expect(await bar.getAttribute('value')).toBe('0');
    expect(await bar.getAttribute('max')).toBe('100');

    feed!.send('status', maps({ building: 'b-2', buildStep: { step: 2, steps: 3, kind: 'archive', label: 'download maps.7z', bytes: 3 * MiB, totalBytes: 8 * MiB } }), 'e-2');
    await expect.poll(() => bar.getAttribute('value'), POLL).toBe('37');
    expect(await row.locator('.step').textContent()).toBe('step 2 of 3 · download maps.7z · 37% (3.0 MiB of 8.0 MiB)');

    // The next step is no download: no bar, the label alone.
    feed!.send('status', maps({ building: 'b-2', buildStep: { step: 3, steps: 3, kind: 'script', label: 'script' } }), 'e-3');
    await expect.poll(() => row.locator('.step').textContent(), POLL).toBe('step 3 of 3 · script');
    expect(await bar.count()).toBe(0);

    // A download whose size nobody said: its bytes, and a bar without a value (indeterminate).
    feed!.send('status', maps({ building: 'b-3', buildStep: { step: 1, steps: 1, kind: 'files', label: 'download motd.txt', bytes: 1536 } }), 'e-4');
    await expect.poll(() => row.locator('.step').textContent(), POLL).toBe('step 1 of 1 · download motd.txt · 1.5 KiB');
    expect(await bar.count()).toBe(1);
    expect(await bar.getAttribute('value')).toBeNull();

    feed!.send('status', maps(), 'e-5');
    await expect.poll(() => row.locator('td').nth(2).textContent(), POLL).toBe('Succeeded');
    expect(await bar.count()).toBe(0);
    expect(ui.errors).toEqual([]);
  });

  it('shows the same on the overlay’s own page, live', async () => {
    const { page } = ui;
    await mount(page, 'l4m-builds', { args: ['overlays', 'maps'] });
    feed!.send('status', maps({ building: 'b-4', buildStep: { step: 1, steps: 2, kind: 'workshop', label: 'workshop 123456 (1/2)', bytes: 6 * MiB, totalBytes: 8 * MiB } }), 'e-6');
    const bar = page.getByRole('progressbar', { name: 'Progress of maps' });
    await expect.poll(() => bar.getAttribute('value'), POLL).toBe('75');
    expect(await page.locator('l4m-builds').evaluate((el) => el.shadowRoot!.textContent!.replace(/\s+/g, ' '))).toContain('Building b-4: step 1 of 2 · workshop 123456 (1/2) · 75% (6.0 MiB of 8.0 MiB)');
    expect(ui.errors).toEqual([]);
  });
});
