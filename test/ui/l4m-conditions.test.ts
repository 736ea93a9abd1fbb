// <l4m-conditions> in a real Chromium under the dashboard's CSP: the conditions table and the events list.
import { describe, expect, it } from 'vitest';
import { serverPageForSuite, mount } from './support/server-fakes.js';

const ui = serverPageForSuite();

describe('<l4m-conditions>', () => {
  it('lists the conditions in a table and the events newest first', async () => {
    await mount(ui.page, 'l4m-conditions', {
      conditions: [
        { type: 'Ready', status: 'False', reason: 'NotRunning', message: 'the server is stopped', lastTransitionTime: '2026-11-30T10:00:00Z' },
        { type: 'Stalled', status: 'True', reason: 'CrashLoop', message: 'restarted 5 times', lastTransitionTime: '2026-11-30T10:00:00Z' },
        { type: 'Valid', status: 'True', reason: 'Valid', message: '', lastTransitionTime: '2026-11-30T09:00:00Z' },
      ],
      events: [
        { time: '2026-11-30T09:00:00Z', type: 'Normal', reason: 'Started', message: 'left4me-server@alpha started' },
        { time: '2026-11-30T10:00:00Z', type: 'Warning', reason: 'Crashed', message: 'exit code 139' },
      ],
    });
    const table = ui.page.getByRole('table', { name: 'Conditions' });
    const rows = await table.locator('tbody tr').evaluateAll((rs) => rs.map((r) => Array.from(r.querySelectorAll('td')).slice(0, 4).map((td) => td.textContent!.trim())));
    expect(rows).toEqual([
      ['Ready', 'False', 'NotRunning', 'the server is stopped'],
      ['Stalled', 'True', 'CrashLoop', 'restarted 5 times'],
      ['Valid', 'True', 'Valid', ''],
    ]);
    // Stalled True is bad news, Valid True good.
    expect(await table.locator('tr[data-type=Stalled] td').nth(1).getAttribute('class')).toBe('bad');
    expect(await table.locator('tr[data-type=Valid] td').nth(1).getAttribute('class')).toBe('good');
    const items = await ui.page.getByRole('list', { name: 'Events' }).getByRole('listitem').allTextContents();
    expect(items).toHaveLength(2);
    expect(items[0]).toContain('Crashed');
    expect(items[1]).toContain('Started');
  });

  it('says when there is nothing yet', async () => {
    await mount(ui.page, 'l4m-conditions');
    expect(await ui.page.getByRole('table', { name: 'Conditions' }).textContent()).toContain('No conditions reported yet.');
    expect(await ui.page.getByRole('list', { name: 'Events' }).textContent()).toContain('No events yet.');
  });
});
