// The Server page as `npm run build` bundles it, served by the real web app (its CSP,
// session login, routes and answers), in a real Chromium: the page reads what the API
// really answers. No game server runs: the log comes from a journalctl stand-in, the
// status from a status file, and players and the console meet a port nobody listens on.
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../controller/package-root.js';
import { StatusStore } from '../../controller/status/store.js';
import { buildWebApp } from '../../controller/web/app.js';
import { UserStore } from '../../controller/web/users.js';
import { openChromium } from './support/element-page.js';
import { POLL } from './support/server-fakes.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-ui-api-'));
const stateDir = join(root, 'state');
const dataDir = join(root, 'data');
const entries = join(root, 'journal.jsonl');
let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let browser: Awaited<ReturnType<typeof openChromium>>;

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'instances', 'alice-1.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: alice-1, owner: alice}\nspec: {blueprint: demo-coop}\n');
  mkdirSync(join(root, 'journalctl-runs'));
  writeFileSync(entries, '');
  for (let i = 1; i <= 3; i++) {
    appendFileSync(entries, `${JSON.stringify({ __CURSOR: `s=abc;i=${i};b=def`, __REALTIME_TIMESTAMP: String(1_700_000_000_000_000 + i * 1_000_000), _SYSTEMD_UNIT: 'left4me-server@alice-1.service', MESSAGE: `alice line ${i}` })}\n`);
  }
  const now = new Date().toISOString();
  await new StatusStore(join(dataDir, 'status')).write({
    kind: 'Instance',
    name: 'alice-1',
    // Port 1: nothing listens there on loopback, so A2S and RCON get no answer.
    port: 1,
    conditions: [{ type: 'Ready', status: 'False', reason: 'NotResponding', message: 'no A2S answer on port 1', observedGeneration: 'g', lastTransitionTime: now }],
    events: [{ time: now, type: 'Warning', reason: 'NotResponding', message: 'the server stopped answering' }],
  });
  const users = new UserStore(join(root, 'web'));
  await users.add('alice', 'alice password 1', 'user');
  app = await buildWebApp({
    stateDir,
    dataDir,
    webDataDir: join(root, 'web'),
    live: { journalctl: [process.execPath, join(packageRoot(), 'test', 'support', 'journalctl-stand-in.mjs'), entries, join(root, 'journalctl-runs')] },
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await openChromium();
  const { page } = browser;
  await page.goto(`${base}/`);
  await page.getByLabel('Name').fill('alice');
  await page.getByLabel('Password').fill('alice password 1');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('table', { name: 'Servers' }).waitFor();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

afterEach(() => {
  expect(browser.errors).toEqual([]);
});

describe('the Server page against the real web API', () => {
  it("shows its owner the status, events, log, an honest players note, the connect string and the console's refusal", async () => {
    const { page } = browser;
    await page.goto(`${base}/#/servers/alice-1`);
    await page.getByRole('heading', { level: 1, name: 'alice-1' }).waitFor();
    const conditions = page.getByRole('table', { name: 'Conditions' });
    await expect.poll(() => conditions.locator('tbody tr').allTextContents(), POLL).toEqual([expect.stringMatching(/Ready\s*False\s*NotResponding/)]);
    expect(await page.getByRole('list', { name: 'Events' }).textContent()).toContain('the server stopped answering');
    await expect.poll(() => page.getByRole('log', { name: 'Server log' }).textContent(), POLL).toContain('alice line 3');
    expect(await page.locator('l4m-server .connect code').textContent()).toBe('connect 127.0.0.1:1');
    await expect.poll(() => page.locator('l4m-players [role=status]').textContent(), POLL).toBe('The server does not answer (is it running?).');
    // No history yet: three charts with nothing drawn, and no error.
    for (const label of ['Players over time', 'CPU over time', 'Memory over time']) {
      await expect.poll(() => page.getByRole('img', { name: label }).locator('title').textContent(), POLL).toBe(`${label}: no data`);
    }
    await page.getByRole('textbox', { name: 'Console command' }).fill('status');
    await page.getByRole('button', { name: 'Send' }).click();
    const out = page.getByRole('log', { name: 'Console output' });
    await expect.poll(() => out.textContent(), POLL).toContain('> status');
    // The controller never started it, so it has no RCON password: the API's own words show.
    await expect.poll(() => out.locator('.err').textContent(), POLL).toContain('has no RCON password yet');
  });

  it('keeps the log, console and players of a system server to admins, and says so', async () => {
    const { page } = browser;
    await page.goto(`${base}/#/servers/demo-1`);
    await page.getByRole('heading', { level: 1, name: 'demo-1' }).waitFor();
    await page.getByRole('table', { name: 'Conditions' }).waitFor();
    expect(await page.locator('l4m-server').evaluate((el) => el.shadowRoot!.textContent!)).toContain('Only the owner (system) and admins can see who is playing.');
    expect(await page.getByRole('log').count()).toBe(0);
  });

  it('says plainly that a server does not exist', async () => {
    const { page } = browser;
    await page.goto(`${base}/#/servers/nope`);
    await expect.poll(() => page.locator('l4m-server [role=alert]').textContent(), POLL).toBe('There is no server named “nope”, or it is not yours to see.');
  });
});
