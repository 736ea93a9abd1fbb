// The Server page (<l4m-server>) in a real Chromium, under the dashboard's CSP, against a
// loopback stand-in of the web API: what it loads, what it shows, live Ready from the
// status feed, the connect string, and the 404 and not-yours cases.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json } from './support/element-page.js';
import { openServerPage, POLL, sse, type ServerPage, type SseStream } from './support/server-fakes.js';

let ui: ServerPage;
let log: SseStream | undefined;
let feed: SseStream | undefined;

const CONDITIONS = [
  { type: 'Ready', status: 'True', reason: 'Ready', message: 'answers A2S on port 27015', observedGeneration: 'g1', lastTransitionTime: '2026-11-30T10:00:00Z' },
  { type: 'Running', status: 'True', reason: 'Active', message: 'left4me-server@alpha.service is active', observedGeneration: 'g1', lastTransitionTime: '2026-11-30T09:59:00Z' },
];
const EVENTS = [{ time: '2026-11-30T09:59:00Z', type: 'Normal', reason: 'Started', message: 'left4me-server@alpha.service started' }];

function instance(name: string, owner: string, ready = 'True') {
  return {
    valid: true,
    etag: '"e1"',
    document: { apiVersion: 'left4me/v1', kind: 'Instance', metadata: { name, owner }, spec: { blueprint: 'coop', state: 'running' } },
    status: { ready, reason: 'Ready', message: 'answers A2S on port 27015', upToDate: true, conditions: CONDITIONS, events: EVENTS, port: 27015, players: 1, maxPlayers: 8, unit: 'active' },
  };
}

beforeAll(async () => {
  ui = await openServerPage();
}, 60_000);
afterAll(() => ui?.close());
beforeEach(async () => {
  await ui.reset();
  log = undefined;
  feed = undefined;
  let readyNow = 'True';
  ui.routes.set('GET /api/v1/instances/alpha', (_req, res) => json(res, 200, instance('alpha', 'alice', readyNow)));
  ui.routes.set('GET /api/v1/instances/sys', (_req, res) => json(res, 200, instance('sys', 'system')));
  ui.routes.set('GET /api/v1/instances/alpha/log', (req, res) => {
    log = sse(res);
    return true;
  });
  ui.routes.set('GET /api/v1/instances/alpha/players', (_req, res) => json(res, 200, { items: [{ name: 'Zoey', score: 4, durationSeconds: 61, steamId: '76561197960267732' }], steamIds: true, personas: false }));
  ui.routes.set('GET /api/v1/instances/alpha/history', (req, res) => {
    const t = Date.UTC(2026, 10, 30, 10);
    return json(res, 200, {
      name: 'alpha',
      since: t - 86_400_000,
      step: 60_000,
      sampleStep: 60_000,
      points: [
        { t, players: 0, cpu: 0.1, memory: 300e6 },
        { t: t + 60_000, players: 1, cpu: 0.2, memory: 310e6 },
        { t: t + 120_000, players: null, cpu: null, memory: null },
        { t: t + 180_000, players: 1, cpu: 0.3, memory: 320e6 },
        { t: t + 240_000, players: 2, cpu: 0.25, memory: 330e6 },
      ],
    });
  });
  ui.routes.set('GET /api/v1/events', (req, res) => {
    feed = sse(res);
    feed.send('snapshot', { items: [{ kind: 'Instance', name: 'alpha', ready: 'True', reason: 'Ready', message: 'answers', port: 27015, players: 1, maxPlayers: 8, unit: 'active' }] }, 'r-1');
    return true;
  });
  // What GET alpha answers after the feed said it crashed.
  ui.routes.set('POST /test/crash', (_req, res) => ((readyNow = 'False'), json(res, 200, {})));
});
afterEach(async () => {
  await ui.page.evaluate(() => (window as unknown as { l4mTest: { feed: { stop(): void } } }).l4mTest.feed.stop());
  expect(ui.errors).toEqual([]);
});

async function show(name: string): Promise<void> {
  await ui.page.evaluate((name) => {
    document.body.replaceChildren();
    const el = document.createElement('l4m-server') as HTMLElement & { name: string };
    el.name = name;
    document.body.append(el);
  }, name);
}

describe('<l4m-server>', () => {
  it("shows the server's heading, conditions, events, players, charts, live log and console", async () => {
    await show('alpha');
    const page = ui.page;
    await page.getByRole('heading', { level: 1, name: 'alpha' }).waitFor();
    await page.getByRole('table', { name: 'Conditions' }).waitFor();
    expect(await page.getByRole('table', { name: 'Conditions' }).locator('tbody tr').count()).toBe(2);
    expect(await page.getByRole('list', { name: 'Events' }).textContent()).toContain('left4me-server@alpha.service started');
    await expect.poll(() => page.getByRole('table', { name: 'Players' }).locator('tbody tr').allTextContents(), POLL).toEqual([expect.stringContaining('Zoey')]);
    expect(await page.locator('.connect code').textContent()).toBe('connect 127.0.0.1:27015');
    // The charts: a gap where the history says unknown.
    for (const label of ['Players over time', 'CPU over time', 'Memory over time']) {
      await expect.poll(() => page.getByRole('img', { name: label }).locator('polyline').count(), POLL).toBe(2);
    }
    // The log follows the last 200 lines; the console sends to this instance.
    await expect.poll(() => log !== undefined, POLL).toBe(true);
    log!.send('line', { time: '2026-11-30T10:00:00.000Z', message: 'Zoey connected' }, 'cursor-1');
    await expect.poll(() => page.getByRole('log', { name: 'Server log' }).textContent(), POLL).toContain('Zoey connected');
    await page.getByRole('textbox', { name: 'Console command' }).waitFor();
    await page.getByRole('searchbox', { name: 'Search log' }).waitFor();
    for (const name of ['Pause', 'Jump to newest', 'Send', 'Copy connect string']) expect(await page.getByRole('button', { name, exact: true }).count()).toBe(1);
    expect(ui.requests).toEqual(
      expect.arrayContaining(['GET /api/v1/instances/alpha', 'GET /api/v1/instances/alpha/players', 'GET /api/v1/instances/alpha/history?since=24h', 'GET /api/v1/instances/alpha/log?follow=1&tail=200']),
    );
    for (const action of ['Start', 'Stop', 'Restart', 'Reset']) expect(await page.getByRole('button', { name: `${action} alpha`, exact: true }).count()).toBe(1);
  });

  it('confirms an action, posts it, and reads the document again (its state is not in the feed)', async () => {
    let state = 'running';
    ui.routes.set('GET /api/v1/instances/alpha', (_req, res) => {
      const a = instance('alpha', 'alice');
      a.document.spec.state = state;
      return json(res, 200, a);
    });
    ui.routes.set('POST /api/v1/instances/alpha/stop', (_req, res) => ((state = 'stopped'), json(res, 202, { action: 'stop', outcome: 'stops' })));
    await show('alpha');
    const head = ui.page.locator('l4m-server .head');
    await expect.poll(() => head.textContent(), POLL).toContain('State: running');
    await ui.page.getByRole('button', { name: 'Stop alpha', exact: true }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Confirm' });
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => head.textContent(), POLL).toContain('State: stopped');
    expect(ui.requests).toContain('POST /api/v1/instances/alpha/stop');
  });

  it('shows Ready live from the status feed and reads the conditions again when it changes', async () => {
    await ui.page.evaluate(() => (window as unknown as { l4mTest: { feed: { start(): void } } }).l4mTest.feed.start());
    await show('alpha');
    const ready = ui.page.locator('l4m-server .ready');
    await expect.poll(() => ready.textContent(), POLL).toMatch(/^Ready/);
    await expect.poll(() => feed !== undefined, POLL).toBe(true);
    const loads = () => ui.requests.filter((a) => a === 'GET /api/v1/instances/alpha').length;
    const before = loads();
    await fetch(`${ui.origin}/test/crash`, { method: 'POST' });
    feed!.send('status', { kind: 'Instance', name: 'alpha', ready: 'False', reason: 'Crashed', message: 'exit code 139', port: 27015, unit: 'failed' }, 'r-2');
    await expect.poll(() => ready.textContent(), POLL).toMatch(/^Not ready\s*\(Crashed\)/);
    await expect.poll(loads, POLL).toBeGreaterThan(before);
  });

  it('copies the connect string, or selects it when the clipboard refuses', async () => {
    await ui.page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ui.origin });
    await show('alpha');
    await ui.page.getByRole('button', { name: 'Copy connect string' }).click();
    await expect.poll(() => ui.page.locator('.connect [role=status]').textContent(), POLL).toBe('Copied.');
    expect(await ui.page.evaluate(() => navigator.clipboard.readText())).toBe('connect 127.0.0.1:27015');
    await ui.page.evaluate(() => {
      navigator.clipboard.writeText = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
    });
    await ui.page.getByRole('button', { name: 'Copy connect string' }).click();
    await expect.poll(() => ui.page.locator('.connect [role=status]').textContent(), POLL).toBe('Selected: press Ctrl+C to copy.');
    expect(await ui.page.evaluate(() => String(window.getSelection()))).toBe('connect 127.0.0.1:27015');
  });

  it('says so plainly when there is no such server', async () => {
    await show('ghost');
    await expect.poll(() => ui.page.getByRole('alert').textContent(), POLL).toBe('There is no server named “ghost”, or it is not yours to see.');
    expect(await ui.page.getByRole('heading', { level: 1 }).textContent()).toBe('ghost');
  });

  it("shows a server the user may see but not manage without its log, console or players (the API would say 403)", async () => {
    await show('sys');
    await ui.page.getByRole('table', { name: 'Conditions' }).waitFor();
    const text = await ui.page.locator('l4m-server').evaluate((el) => el.shadowRoot!.textContent!);
    expect(text).toContain('Only the owner (system) and admins can see who is playing.');
    expect(text).toContain("Only the owner and admins can read the server's log.");
    expect(text).toContain("Only the owner and admins can use the server's console.");
    expect(await ui.page.getByRole('log').count()).toBe(0);
    // History is for anyone who sees the server; nothing else is asked (it would be a 403).
    await expect.poll(() => ui.requests.filter((a) => a.startsWith('GET /api/v1/instances/sys')), POLL).toEqual(['GET /api/v1/instances/sys', 'GET /api/v1/instances/sys/history?since=24h']);
  });

  it("shows an admin the log, console and players of a server it does not own", async () => {
    ui.routes.set('GET /api/v1/instances/sys/log', (req, res) => {
      sse(res);
      return true;
    });
    ui.routes.set('GET /api/v1/instances/sys/players', (_req, res) => json(res, 200, { items: [], steamIds: true, personas: false }));
    ui.routes.set('GET /api/v1/instances/sys/history', (_req, res) => json(res, 200, { name: 'sys', since: 0, step: 60_000, sampleStep: 60_000, points: [] }));
    await ui.page.evaluate(() => ((window as unknown as { l4mTest: { api: { user: unknown } } }).l4mTest.api.user = { name: 'root', role: 'admin' }));
    await show('sys');
    await ui.page.getByRole('log', { name: 'Server log' }).waitFor();
    await ui.page.getByRole('log', { name: 'Console output' }).waitFor();
    await ui.page.getByRole('table', { name: 'Players' }).waitFor();
    await expect.poll(() => ui.requests.filter((a) => a.startsWith('GET /api/v1/instances/sys/')).sort(), POLL).toEqual(['GET /api/v1/instances/sys/history?since=24h', 'GET /api/v1/instances/sys/log?follow=1&tail=200', 'GET /api/v1/instances/sys/players']);
  });
});
