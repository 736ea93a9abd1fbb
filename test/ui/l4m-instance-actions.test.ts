// <l4m-instance-actions> in real Chromium: four labelled buttons, a confirmation that says what the action does to this server now, the POST (with the CSRF token) only after Confirm, and the l4m-action event with the outcome or the error.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json, openElementPage, type ElementPage } from './support/element-page.js';

/** Polls wait generously: the machine may be busy; a deadline is a failure, never a measurement. */
const POLL = { timeout: 15_000 };

// The API client comes from context, as in the dashboard: a plain element provides it.
const ENTRY = `
import { ContextProvider } from '@lit/context';
import { Api } from './ui/services/api.ts';
import { apiContext } from './ui/services/context.ts';
import './ui/elements/l4m-instance-actions.ts';
const api = new Api();
api.csrfToken = 'csrf-of-the-session';
const host = document.createElement('div');
new ContextProvider(host, { context: apiContext, initialValue: api });
document.body.append(host);
const w = window as unknown as { events: unknown[]; show: (props: Record<string, unknown>) => Promise<unknown> };
w.events = [];
host.addEventListener('l4m-action', (e) => w.events.push((e as CustomEvent).detail));
w.show = (props) => {
  host.replaceChildren();
  const el = document.createElement('l4m-instance-actions') as HTMLElement & { updateComplete: Promise<unknown> };
  Object.assign(el, props);
  host.append(el);
  return el.updateComplete;
};
`;

let ui: ElementPage;
const posts: Array<{ url: string; csrf: string | undefined }> = [];

beforeAll(async () => {
  ui = await openElementPage(ENTRY, (req, res) => {
    const m = /^\/api\/v1\/instances\/([^/]+)\/(start|stop|restart|reset)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return false;
    posts.push({ url: req.url!, csrf: req.headers['x-csrf-token'] as string | undefined });
    if (m[1] === 'system-1') return json(res, 403, { error: 'instance "system-1" belongs to system: only its owner or an admin may change it' });
    return json(res, 202, { action: m[2], outcome: m[2] === 'start' ? 'unchanged' : 'configured', etag: '"abc"' });
  });
});

afterAll(async () => {
  await ui?.close();
});

beforeEach(async () => {
  posts.length = 0;
  await ui.page.evaluate(() => ((window as unknown as { events: unknown[] }).events = []));
});

const show = (props: Record<string, unknown>) => ui.page.evaluate(async (p) => (window as unknown as { show: (p: unknown) => Promise<unknown> }).show(p), props);
const events = () => ui.page.evaluate(() => (window as unknown as { events: unknown[] }).events);
const dialog = () => ui.page.getByRole('dialog', { name: 'Confirm' });

describe('<l4m-instance-actions>', () => {
  it('shows Start, Stop, Restart and Reset labelled with the server name', async () => {
    await show({ name: 'demo-1', state: 'running', unit: 'active', players: 0 });
    for (const a of ['Start', 'Stop', 'Restart', 'Reset']) expect(await ui.page.getByRole('button', { name: `${a} demo-1`, exact: true }).innerText()).toBe(a);
    expect(ui.errors).toEqual([]);
  });

  it('asks first, saying what happens to this server now; Cancel sends nothing', async () => {
    await show({ name: 'demo-1', state: 'running', unit: 'active', players: 3 });
    await ui.page.getByRole('button', { name: 'Stop demo-1' }).click();
    await dialog().waitFor();
    const text = await dialog().innerText();
    expect(text).toContain('Stop demo-1?');
    expect(text).toContain('It stops now (spec.state becomes stopped). The 3 players connected now are disconnected.');
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    await dialog().waitFor({ state: 'hidden' });
    expect(posts).toEqual([]);
    expect(await events()).toEqual([]);
  });

  it('after Confirm, posts the action with the CSRF token, says it was requested and sends l4m-action up', async () => {
    await show({ name: 'demo-1', state: 'running', unit: 'active', players: 0 });
    await ui.page.getByRole('button', { name: 'Stop demo-1' }).click();
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(events, POLL).toEqual([{ name: 'demo-1', action: 'stop', ok: true, outcome: 'configured' }]);
    expect(posts).toEqual([{ url: '/api/v1/instances/demo-1/stop', csrf: 'csrf-of-the-session' }]);
    expect(await ui.page.getByRole('status').innerText()).toBe('Stop requested');
  });

  it('says when the document already said so (outcome unchanged)', async () => {
    await show({ name: 'demo-1', state: 'running', unit: 'active', players: 0 });
    await ui.page.getByRole('button', { name: 'Start demo-1', exact: true }).click();
    expect(await dialog().innerText()).toContain('It already runs: nothing changes.');
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => ui.page.getByRole('status').innerText(), POLL).toBe('Start: nothing to change');
  });

  it('shows a refusal in an alert and reports it in the event', async () => {
    await show({ name: 'system-1', state: 'running', unit: 'active', players: 0 });
    await ui.page.getByRole('button', { name: 'Restart system-1' }).click();
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => ui.page.getByRole('alert').innerText(), POLL).toBe('Restart failed: instance "system-1" belongs to system: only its owner or an admin may change it');
    expect(await events()).toEqual([{ name: 'system-1', action: 'restart', ok: false, error: 'instance "system-1" belongs to system: only its owner or an admin may change it' }]);
  });

  it('tells restart and reset apart by what the server is doing', async () => {
    await show({ name: 'demo-1', state: 'running', unit: 'active', players: 1 });
    await ui.page.getByRole('button', { name: 'Restart demo-1' }).click();
    expect(await dialog().innerText()).toContain('It restarts now, whatever its updatePolicy: an explicit restart does not wait for players to leave');
    expect(await dialog().innerText()).toContain('The player connected now is disconnected.');
    await ui.page.keyboard.press('Escape');
    await show({ name: 'demo-1', state: 'stopped', unit: 'inactive' });
    await ui.page.getByRole('button', { name: 'Reset demo-1' }).click();
    expect(await dialog().innerText()).toContain('is wiped; it stays stopped.');
    await ui.page.keyboard.press('Escape');
    await ui.page.getByRole('button', { name: 'Restart demo-1' }).click();
    expect(await dialog().innerText()).toContain('It is stopped and stays stopped');
    await ui.page.keyboard.press('Escape');
    await dialog().waitFor({ state: 'hidden' });
    expect(posts).toEqual([]);
  });

  it('works from the keyboard: Tab to a button, Enter, Tab to Confirm, Enter', async () => {
    await show({ name: 'demo-1', state: 'stopped', unit: 'inactive' });
    await ui.page.getByRole('button', { name: 'Start demo-1', exact: true }).focus();
    await ui.page.keyboard.press('Tab');
    await ui.page.keyboard.press('Tab');
    await ui.page.keyboard.press('Tab'); // Reset
    await ui.page.keyboard.press('Enter');
    await dialog().waitFor();
    await ui.page.keyboard.press('Tab');
    await ui.page.keyboard.press('Enter');
    await expect.poll(() => posts.map((p) => p.url), POLL).toEqual(['/api/v1/instances/demo-1/reset']);
    await expect.poll(events, POLL).toEqual([{ name: 'demo-1', action: 'reset', ok: true, outcome: 'configured' }]);
    // Focus is back on the button that asked.
    expect(await ui.page.getByRole('button', { name: 'Reset demo-1' }).evaluate((b) => b.matches(':focus'))).toBe(true);
    expect(ui.errors).toEqual([]);
  });
});
