// <l4m-players> in a real Chromium under the dashboard's CSP: who plays, their Steam profile, avatars through the service.
import { describe, expect, it } from 'vitest';
import { serverPageForSuite, mount, recordEvents, seen } from './support/server-fakes.js';

const ui = serverPageForSuite();

describe('<l4m-players>', () => {
  it('lists name, score, time and the Steam profile (persona name where known), and fires l4m-refresh', async () => {
    await recordEvents(ui.page, 'l4m-refresh');
    await mount(ui.page, 'l4m-players', {
      players: [
        { name: 'Zoey', score: 12, durationSeconds: 75, steamId: '76561197960267732', persona: 'zoey_real' },
        { name: 'Ellis', score: 3, durationSeconds: 3725, steamId: '76561197960287930' },
        { name: 'Bot', score: 0, durationSeconds: 5 },
      ],
    });
    const table = ui.page.getByRole('table', { name: 'Players' });
    const rows = await table.locator('tbody tr').evaluateAll((rs) => rs.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent!.replace(/\s+/g, ' ').trim())));
    expect(rows).toEqual([
      ['Zoey', '12', '1:15', 'zoey_real 76561197960267732'],
      ['Ellis', '3', '1:02:05', '76561197960287930'],
      ['Bot', '0', '0:05', 'unknown'],
    ]);
    expect(await table.getByRole('link', { name: 'zoey_real' }).getAttribute('href')).toBe('https://steamcommunity.com/profiles/76561197960267732');
    expect(await table.locator('img').count()).toBe(0);
    await ui.page.getByRole('button', { name: 'Refresh players' }).click();
    expect(await seen(ui.page, 'l4m-refresh')).toHaveLength(1);
  });

  it("shows a Steam avatar the service serves (same origin, allowed by the CSP), and never an image from elsewhere", async () => {
    // A 1x1 GIF, as the service's avatar route would answer.
    const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
    ui.routes.set('GET /api/v1/steam/avatars/76561197960267732', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/gif' }).end(gif);
      return true;
    });
    await mount(ui.page, 'l4m-players', {
      players: [
        { name: 'Zoey', score: 1, durationSeconds: 5, steamId: '76561197960267732', persona: 'zoey_real', avatar: '/api/v1/steam/avatars/76561197960267732' },
        { name: 'Bill', score: 1, durationSeconds: 5, steamId: '76561197960287930', persona: 'bill', avatar: 'https://avatars.steamstatic.com/x.jpg' },
      ],
    });
    const img = ui.page.getByRole('table', { name: 'Players' }).locator('img');
    await expect.poll(() => img.count()).toBe(1);
    await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBe(1);
    expect(await img.getAttribute('alt')).toBe('');
    expect(ui.requests).toContain('GET /api/v1/steam/avatars/76561197960267732');
  });

  it('says when nobody plays, with its note', async () => {
    await mount(ui.page, 'l4m-players', { players: [], note: 'The server does not answer (is it running?).' });
    expect(await ui.page.getByRole('table', { name: 'Players' }).textContent()).toContain('Nobody is playing.');
    expect(await ui.page.locator('l4m-players [role=status]').textContent()).toBe('The server does not answer (is it running?).');
  });
});
