// <l4m-servers> in real Chromium against a fake API (list, history, actions and a live SSE stream): the columns, failed and stalled rows, filter, sort with aria-sort, live updates and new servers from the feed.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, openElementPage, type ElementPage } from './support/element-page.js';

/** Polls wait generously: the machine may be busy; a deadline is a failure, never a measurement. */
const POLL = { timeout: 15_000 };

const ENTRY = `
import { ContextProvider } from '@lit/context';
import { Api } from './ui/services/api.ts';
import { apiContext, feedContext } from './ui/services/context.ts';
import { StatusFeed } from './ui/services/status-feed.ts';
import './ui/elements/l4m-servers.ts';
const api = new Api();
api.csrfToken = 'csrf-of-the-session';
const feed = new StatusFeed();
const host = document.createElement('div');
new ContextProvider(host, { context: apiContext, initialValue: api });
new ContextProvider(host, { context: feedContext, initialValue: feed });
document.body.append(host);
feed.start();
(window as unknown as { show: () => void }).show = () => host.replaceChildren(document.createElement('l4m-servers'));
`;

const MIN = 60_000;
interface Item { name: string; owner: string; blueprint: string; state: string; ready: string; reason?: string; message?: string; port?: number; players?: number; maxPlayers?: number; unit?: string }
const items: Item[] = [
  { name: 'demo-2', owner: 'alice', blueprint: 'demo-versus', state: 'stopped', ready: 'False', reason: 'Stopped', message: 'stopped (state: stopped)', port: 27016, unit: 'inactive' },
  { name: 'demo-1', owner: 'system', blueprint: 'demo-coop', state: 'running', ready: 'True', reason: 'Succeeded', message: 'the server runs the current documents', port: 27015, players: 2, maxPlayers: 8, unit: 'active' },
  { name: 'broken', owner: 'alice', blueprint: 'demo-coop', state: 'running', ready: 'False', reason: 'Failed', message: 'the server is failed (exit-code)', port: 27017, unit: 'failed' },
  { name: 'stuck', owner: 'bob', blueprint: 'demo-coop', state: 'running', ready: 'False', reason: 'PortConflict', message: 'port 27015 is taken by demo-1' },
];
const summary = (i: Item) => ({ kind: 'Instance', name: i.name, ready: i.ready, reason: i.reason, message: i.message, port: i.port, players: i.players, maxPlayers: i.maxPlayers, unit: i.unit });
const streams: ServerResponse[] = [];
const historyAsked: string[] = [];
let ui: ElementPage;

/** Sends one SSE event to every open stream. */
function push(event: string, data: unknown): void {
  for (const s of streams) s.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

beforeAll(async () => {
  ui = await openElementPage(ENTRY, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/api/v1/instances') return json(res, 200, { items });
    if (req.method === 'GET' && url.pathname === '/api/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(`event: snapshot\ndata: ${JSON.stringify({ items: items.map(summary) })}\n\n`);
      streams.push(res);
      // The response's close, not the request's: a request closes as soon as its (empty) body has been read.
      res.on('close', () => streams.splice(streams.indexOf(res), 1));
      return true;
    }
    const h = /^\/api\/v1\/instances\/([^/]+)\/history$/.exec(url.pathname);
    if (req.method === 'GET' && h) {
      historyAsked.push(`${h[1]}?${url.searchParams}`);
      const now = Date.now();
      if (h[1] === 'demo-1') {
        const points = [0, 1, 2, 3].map((k) => ({ t: now - (3 - k) * 15 * MIN, players: [0, 4, 8, 2][k]!, cpu: [0.1, 0.2, 0.3, 0.25][k]!, memory: [400, 450, 500, 512][k]! * 1024 ** 2 }));
        return json(res, 200, { name: 'demo-1', since: now - 1440 * MIN, step: 15 * MIN, sampleStep: MIN, points });
      }
      // demo-2 stopped a day ago: its last figures are too old to show as now.
      if (h[1] === 'demo-2') return json(res, 200, { name: 'demo-2', since: now - 1440 * MIN, step: 15 * MIN, sampleStep: MIN, points: [{ t: now - 20 * 60 * MIN, players: 1, cpu: 0.5, memory: 300 * 1024 ** 2 }] });
      return json(res, 404, { error: `no history of ${h[1]}` });
    }
    return false;
  });
  await ui.page.evaluate(() => (window as unknown as { show: () => void }).show());
  await ui.page.getByRole('table', { name: 'Servers' }).waitFor();
});

afterAll(async () => {
  for (const s of streams) s.end();
  await ui?.close();
});

const table = () => ui.page.getByRole('table', { name: 'Servers' });
const row = (name: string) => ui.page.locator(`tr[data-name="${name}"]`);
const cell = (name: string, col: string) => row(name).locator(`td[data-col="${col}"]`);
const order = () => ui.page.locator('tr[data-name]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));

describe('<l4m-servers>', () => {
  it('shows one row per server, by name, with Ready, reason (message as title), state, players, port, blueprint, owner', async () => {
    expect(await order()).toEqual(['broken', 'demo-1', 'demo-2', 'stuck']);
    expect(await cell('demo-1', 'ready').innerText()).toBe('Ready');
    expect(await cell('demo-2', 'ready').innerText()).toBe('Not ready');
    expect(await cell('demo-1', 'reason').innerText()).toBe('Succeeded');
    expect(await cell('stuck', 'reason').getAttribute('title')).toBe('port 27015 is taken by demo-1');
    expect(await cell('demo-1', 'players').innerText()).toBe('2/8');
    expect(await cell('demo-2', 'players').innerText()).toBe('–');
    expect(await cell('demo-1', 'port').innerText()).toBe('27015');
    expect(await cell('demo-1', 'blueprint').innerText()).toBe('demo-coop');
    expect(await cell('demo-2', 'owner').innerText()).toBe('alice');
    expect(await cell('demo-2', 'state').innerText()).toBe('stopped (inactive)');
    expect(await row('demo-1').getByRole('link', { name: 'demo-1' }).getAttribute('href')).toBe('#/servers/demo-1');
    expect(ui.errors).toEqual([]);
  });

  it('shows the last day of players as a sparkline and the newest CPU and memory, but not figures from long ago', async () => {
    await expect.poll(() => cell('demo-1', 'cpu').innerText(), POLL).toBe('25%');
    expect(await cell('demo-1', 'memory').innerText()).toBe('512 MiB');
    expect(await cell('demo-1', 'history').getByRole('img').getAttribute('aria-label')).toBe('Players of demo-1 over 24 h: now 2, highest 8');
    await expect.poll(() => cell('demo-2', 'history').getByRole('img').count(), POLL).toBe(1);
    expect(await cell('demo-2', 'cpu').innerText()).toBe('–');
    expect(await cell('demo-2', 'memory').innerText()).toBe('–');
    // A server without history (404) has no sparkline and no figures.
    expect(await cell('broken', 'history').getByRole('img').count()).toBe(0);
    expect(historyAsked).toContain('demo-1?since=24h&step=15m');
  });

  it('makes failed and stalled servers stand out, in class and in words', async () => {
    expect(await row('broken').getAttribute('class')).toBe('failed');
    expect(await cell('broken', 'state').innerText()).toContain('Failed');
    expect(await row('stuck').getAttribute('class')).toBe('stalled');
    expect(await cell('stuck', 'state').innerText()).toContain('Stalled');
    expect(await row('demo-2').getAttribute('class')).toBe('');
    expect(await ui.page.getByRole('status').filter({ hasText: 'servers' }).innerText()).toBe('4 servers, 2 need attention');
  });

  it('filters by every word typed, across name, owner, blueprint, state and reason', async () => {
    const filter = ui.page.getByRole('searchbox', { name: 'Filter servers' });
    await filter.fill('alice');
    expect(await order()).toEqual(['broken', 'demo-2']);
    await filter.fill('alice versus');
    expect(await order()).toEqual(['demo-2']);
    expect(await ui.page.getByRole('status').filter({ hasText: 'servers' }).innerText()).toBe('1 of 4 servers, 2 need attention');
    await filter.fill('portconflict');
    expect(await order()).toEqual(['stuck']);
    await filter.fill('nothing-like-this');
    expect(await order()).toEqual([]);
    expect(await table().innerText()).toContain('No server matches the filter.');
    await filter.fill('');
    expect(await order()).toEqual(['broken', 'demo-1', 'demo-2', 'stuck']);
  });

  it('sorts by a column when its header is clicked, and says so with aria-sort; again reverses', async () => {
    const header = (label: string) => table().locator('th', { has: ui.page.getByRole('button', { name: label, exact: true }) });
    expect(await header('Name').getAttribute('aria-sort')).toBe('ascending');
    await table().getByRole('button', { name: 'Port', exact: true }).click();
    expect(await header('Port').getAttribute('aria-sort')).toBe('ascending');
    expect(await header('Name').getAttribute('aria-sort')).toBe('none');
    // No port goes last either way.
    expect(await order()).toEqual(['demo-1', 'demo-2', 'broken', 'stuck']);
    await table().getByRole('button', { name: 'Port', exact: true }).click();
    expect(await header('Port').getAttribute('aria-sort')).toBe('descending');
    expect(await order()).toEqual(['broken', 'demo-2', 'demo-1', 'stuck']);
    // From the keyboard: Ready puts the servers that are not ready first.
    await table().getByRole('button', { name: 'Ready', exact: true }).focus();
    await ui.page.keyboard.press('Enter');
    expect(await header('Ready').getAttribute('aria-sort')).toBe('ascending');
    expect(await order()).toEqual(['broken', 'demo-2', 'stuck', 'demo-1']);
    await table().getByRole('button', { name: 'Name', exact: true }).click();
    expect(await order()).toEqual(['broken', 'demo-1', 'demo-2', 'stuck']);
  });

  it('follows the status feed: a status event changes its row', async () => {
    push('status', { kind: 'Instance', name: 'demo-2', ready: 'True', reason: 'Succeeded', message: 'the server runs the current documents', port: 27016, players: 5, maxPlayers: 8, unit: 'active' });
    await expect.poll(() => cell('demo-2', 'ready').innerText(), POLL).toBe('Ready');
    expect(await cell('demo-2', 'players').innerText()).toBe('5/8');
    push('status', { kind: 'Instance', name: 'demo-1', ready: 'False', reason: 'Failed', message: 'the server is failed (signal)', port: 27015, unit: 'failed' });
    await expect.poll(() => row('demo-1').getAttribute('class'), POLL).toBe('failed');
    expect(await cell('demo-1', 'ready').innerText()).toBe('Not ready');
  });

  it('reads the list again when the feed names a server it does not have', async () => {
    const fresh: Item = { name: 'fresh', owner: 'alice', blueprint: 'demo-coop', state: 'running', ready: 'Unknown', reason: 'Progressing', message: 'Mounted not yet known' };
    items.push(fresh);
    push('status', summary(fresh));
    await expect.poll(() => cell('fresh', 'ready').innerText(), POLL).toBe('Unknown');
    expect(await cell('fresh', 'owner').innerText()).toBe('alice');
    expect(await order()).toEqual(['broken', 'demo-1', 'demo-2', 'fresh', 'stuck']);
  });

  it('reads the list again when the feed says a server it has was deleted', async () => {
    items.splice(items.findIndex((i) => i.name === 'fresh'), 1);
    push('deleted', { kind: 'Instance', name: 'fresh' });
    await expect.poll(order, POLL).toEqual(['broken', 'demo-1', 'demo-2', 'stuck']);
  });

  it("gives each row its actions, whose question knows the row's players", async () => {
    await row('demo-2').getByRole('button', { name: 'Stop demo-2', exact: true }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Confirm' });
    expect(await dialog.innerText()).toContain('The 5 players connected now are disconnected.');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(ui.errors).toEqual([]);
  });
});
