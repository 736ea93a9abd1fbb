// The servers page against the real `left4me web` (no fakes, no systemd): the built dashboard in Chromium, logged in
// as a user, shows what the API lists with its history; Stop edits the instance's document on disk; a status file the
// controller would write reaches the row through the real event stream; a refused action is shown.
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryStore } from '../../controller/status/history.js';
import { StatusStore, type DocumentStatus } from '../../controller/status/store.js';
import { buildWebApp } from '../../controller/web/app.js';
import { PASSWORDS, webFixture } from '../support/web-client.js';
import { openChromium } from './support/element-page.js';

/** Polls wait generously: the machine may be busy; a deadline is a failure, never a measurement. */
const POLL = { timeout: 15_000 };

const MIN = 60_000;
let fx: Awaited<ReturnType<typeof webFixture>>;
let app: Awaited<ReturnType<typeof buildWebApp>>;
let browser: Awaited<ReturnType<typeof openChromium>>;
let status: StatusStore;

const ready = (name: string, players: number, over: Partial<DocumentStatus> = {}): DocumentStatus => ({
  kind: 'Instance',
  name,
  conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'the server runs the current documents', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
  port: 27020,
  players,
  maxPlayers: 8,
  unit: { activeState: 'active', subState: 'running' },
  events: [],
  ...over,
});

beforeAll(async () => {
  fx = await webFixture('left4me-ui-servers-');
  await writeFile(join(fx.stateDir, 'instances', 'alice-1.yaml'), '# alice\'s server\napiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-1, owner: alice}\nspec:\n  blueprint: demo-coop\n  state: running  # keep this comment\n');
  status = new StatusStore(join(fx.dataDir, 'status'));
  await status.write(ready('alice-1', 3));
  // The last ten minutes as the controller samples them: players 0..9 (capped by the bucket's max), a quarter of a core, memory growing.
  const history = new HistoryStore(join(fx.dataDir, 'history'));
  const minute0 = Math.floor(Date.now() / MIN) * MIN;
  for (let i = 0; i < 10; i++) await history.append('alice-1', { t: minute0 - (9 - i) * MIN + 1000, players: i, maxPlayers: 8, cpuNs: BigInt(i) * 15_000_000_000n, memory: 512 * 1024 ** 2 });
  await history.close();
  app = await buildWebApp({ stateDir: fx.stateDir, dataDir: fx.dataDir, webDataDir: fx.webDataDir });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await openChromium();
  const page = browser.page;
  await page.goto(`${base}/#/servers`);
  await page.getByLabel('Name').fill('alice');
  await page.getByLabel('Password').fill(PASSWORDS.alice);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('table', { name: 'Servers' }).waitFor();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (fx) await rm(fx.root, { recursive: true, force: true });
});

const row = (name: string) => browser.page.locator(`tr[data-name="${name}"]`);
const cell = (name: string, col: string) => row(name).locator(`td[data-col="${col}"]`);

describe('the servers page on left4me web', () => {
  it('lists what alice may see, with live status, history and figures', async () => {
    await expect.poll(() => browser.page.locator('tr[data-name]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name'))), POLL).toEqual(['alice-1', 'demo-1', 'demo-2', 'demo-3']);
    expect(await cell('alice-1', 'ready').innerText()).toBe('Ready');
    expect(await cell('alice-1', 'players').innerText()).toBe('3/8');
    expect(await cell('alice-1', 'port').innerText()).toBe('27020');
    expect(await cell('alice-1', 'owner').innerText()).toBe('alice');
    expect(await cell('demo-1', 'ready').innerText()).toBe('Unknown');
    await expect.poll(() => cell('alice-1', 'cpu').innerText(), POLL).toBe('25%');
    expect(await cell('alice-1', 'memory').innerText()).toBe('512 MiB');
    expect(await cell('alice-1', 'history').getByRole('img').getAttribute('aria-label')).toBe('Players of alice-1 over 24 h: now 9, highest 9');
    expect(browser.errors).toEqual([]);
  });

  it('Stop, confirmed, sets state: stopped in the document on disk, comments kept', async () => {
    await row('alice-1').getByRole('button', { name: 'Stop alice-1', exact: true }).click();
    const dialog = browser.page.getByRole('dialog', { name: 'Confirm' });
    expect(await dialog.innerText()).toContain('The 3 players connected now are disconnected.');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row('alice-1').getByRole('status').innerText(), POLL).toBe('Stop requested');
    const text = readFileSync(join(fx.stateDir, 'instances', 'alice-1.yaml'), 'utf8');
    expect(text).toContain('state: stopped # keep this comment');
    expect(text).toContain("# alice's server");
    // The row shows the new spec.state (the list is read again after an action).
    await expect.poll(() => cell('alice-1', 'state').innerText(), POLL).toMatch(/^stopped/);
  });

  it('follows a status file written by the controller through the event stream: a failed server stands out', async () => {
    await status.write(
      ready('alice-1', 0, {
        conditions: [{ type: 'Ready', status: 'False', reason: 'Failed', message: 'the server is failed (exit-code)', observedGeneration: 'g', lastTransitionTime: new Date().toISOString() }],
        unit: { activeState: 'failed', subState: 'failed' },
      }),
    );
    await expect.poll(() => row('alice-1').getAttribute('class'), POLL).toBe('failed');
    expect(await cell('alice-1', 'ready').innerText()).toBe('Not ready');
    expect(await cell('alice-1', 'state').innerText()).toContain('Failed');
  });

  it("shows the API's refusal when alice restarts a system server", async () => {
    await row('demo-1').getByRole('button', { name: 'Restart demo-1', exact: true }).click();
    await browser.page.getByRole('dialog', { name: 'Confirm' }).getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row('demo-1').getByRole('alert').innerText(), POLL).toMatch(/^Restart failed: .+/);
    expect(readFileSync(join(fx.stateDir, 'instances', 'demo-1.yaml'), 'utf8')).not.toContain('restartedAt');
    expect(browser.errors).toEqual([]);
  });
});
