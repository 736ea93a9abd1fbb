// <l4m-players> in a real Chromium under the dashboard's CSP: who plays, their Steam profile, no images.
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

  it('says when nobody plays, with its note', async () => {
    await mount(ui.page, 'l4m-players', { players: [], note: 'The server does not answer (is it running?).' });
    expect(await ui.page.getByRole('table', { name: 'Players' }).textContent()).toContain('Nobody is playing.');
    expect(await ui.page.locator('l4m-players [role=status]').textContent()).toBe('The server does not answer (is it running?).');
  });
});
