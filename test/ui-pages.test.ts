// The Builds and Users pages in Chromium against `left4me web` in this
// process (no systemd: the controller's side is status files, build logs and
// trees written by the test, as the controller would write them). Builds:
// status with a Steam install's progress, a finished build's log, a running
// build's log followed live until it ends, the ready build's files and a
// server's writable layer, downloads included. Users: add, reset a password,
// remove; a token created (shown once, and it works), then revoked (and it no
// longer works); a user who is not admin sees no Users page. axe-core checks
// each page.
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatusStore, type DocumentStatus } from '../controller/status/store.js';
import { buildWebApp } from '../controller/web/app.js';
import { waitFor } from './support/demo-host.js';
import { axeCheck, launchChromium, screenshot, type Chromium } from './support/chromium.js';
import { Browser, PASSWORDS, webFixture } from './support/web-client.js';

let app: Awaited<ReturnType<typeof buildWebApp>>;
let base = '';
let root = '';
let dataDir = '';
let status: StatusStore;
let chromium: Chromium;
let page: Page;
const now = () => new Date().toISOString();

function overlayStatus(name: string, extra: Partial<DocumentStatus> = {}): DocumentStatus {
  return {
    kind: 'Overlay',
    name,
    conditions: [{ type: 'Ready', status: 'True', reason: 'Built', message: 'the build is ready', observedGeneration: 'g', lastTransitionTime: now() }],
    events: [],
    build: { ready: 'b-1', wanted: 'b-1', generation: 'g', checkedAt: now(), result: 'Succeeded', log: `logs/overlays/${name}/b-1.log` },
    ...extra,
  };
}

beforeAll(async () => {
  const fx = await webFixture('left4me-ui-pages-');
  root = fx.root;
  dataDir = fx.dataDir;
  status = new StatusStore(join(dataDir, 'status'));
  // demo-base: built, with a tree and a log. demo-config: about to build.
  const tree = join(dataDir, 'overlays', 'demo-base', 'b-1', 'left4dead2');
  await mkdir(join(tree, 'cfg'), { recursive: true });
  await writeFile(join(tree, 'motd.txt'), 'Welcome to the left4me demo.\n');
  await writeFile(join(tree, 'cfg', 'demo.cfg'), 'sv_tags "demo"\n');
  // A name a URL must escape (and markup must not interpret).
  await writeFile(join(tree, '<i>odd #?%.txt'), 'odd\n');
  await mkdir(join(dataDir, 'logs', 'overlays', 'demo-base'), { recursive: true });
  await mkdir(join(dataDir, 'logs', 'overlays', 'demo-config'), { recursive: true });
  await writeFile(join(dataDir, 'logs', 'overlays', 'demo-base', 'b-1.log'), 'step 1/2: files\nstep 2/2: config layer\nbuild b-1 succeeded\n');
  await status.write(overlayStatus('demo-base'));
  await status.write(overlayStatus('demo-config'));
  await writeFile(join(dataDir, 'logs', 'overlays', 'demo-config', 'b-1.log'), 'an older build\n');
  await status.write({
    kind: 'Installation',
    name: 'demo',
    conditions: [{ type: 'Ready', status: 'False', reason: 'Building', message: 'waiting for steamcmd', observedGeneration: 'g', lastTransitionTime: now() }],
    events: [],
    progress: { pass: 1, passes: 2, platform: 'linux', state: 'downloading', percent: 42.5 },
  });
  // A server's writable layer: what it wrote while it ran.
  await mkdir(join(dataDir, 'instances', 'demo-1', 'upper', 'left4dead2', 'logs'), { recursive: true });
  await writeFile(join(dataDir, 'instances', 'demo-1', 'upper', 'left4dead2', 'logs', 'L0101.log'), 'L 01/01/2026 - server started\n');

  app = await buildWebApp({ stateDir: fx.stateDir, dataDir, webDataDir: fx.webDataDir });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  chromium = await launchChromium();
  page = chromium.page;
  page.setDefaultTimeout(10_000);
}, 60_000);

afterAll(async () => {
  await chromium?.close();
  await app?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function text(what: string, locator: Locator, pattern: RegExp): Promise<string> {
  return waitFor(what, async () => {
    const t = ((await locator.first().textContent({ timeout: 1000 })) ?? '').replace(/\s+/g, ' ').trim();
    return pattern.test(t) ? t : undefined;
  }, 10_000);
}

async function seriousAxe(name: string): Promise<string[]> {
  await screenshot(page, `pages-${name}`);
  const found = await axeCheck(page);
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${name}: ${v.id} ${v.targets.join(' ')} ${v.help}`);
}

async function logIn(name: string, password: string): Promise<void> {
  await page.goto(base);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

describe('the Builds page', () => {
  it('lists overlays and installations with their build status and a running install’s progress', async () => {
    await logIn('admin', PASSWORDS.admin);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Builds' }).click();
    const overlays = page.getByRole('table', { name: 'Overlays' });
    await text('demo-base built', overlays.locator('tr[data-name="demo-base"]'), /demo-base Ready Built Succeeded/);
    const progress = page.getByRole('progressbar', { name: 'Progress of demo' });
    expect(await progress.getAttribute('value')).toBe('42.5');
    await text('the progress text', page.getByRole('table', { name: 'Installations' }).locator('tr[data-name="demo"]'), /pass 1\/2 · downloading · 43%/);
    // The feed moves the bar: steamcmd reports more.
    const st = (await status.read('Installation', 'demo'))!;
    await status.write({ ...st, progress: { ...st.progress!, pass: 2, percent: 90 } });
    await waitFor('the bar at 90', async () => (await progress.getAttribute('value')) === '90');
    expect(await seriousAxe('builds')).toEqual([]);
  });

  it("shows a finished build's log and browses its files, downloads included", async () => {
    await page.getByRole('link', { name: 'demo-base', exact: true }).click();
    await text('the build log', page.getByRole('log', { name: 'Build log' }), /step 1\/2: files step 2\/2: config layer build b-1 succeeded/);
    const files = page.getByRole('table', { name: 'Files of overlay demo-base' });
    await page.getByRole('button', { name: 'Open folder left4dead2' }).click();
    await text('the folder listed', files, /motd\.txt/);
    const link = page.getByRole('link', { name: 'Download motd.txt' });
    const href = await link.getAttribute('href');
    expect(href).toBe('/api/v1/overlays/demo-base/files/left4dead2/motd.txt');
    // The download as the page would get it: with the session cookie.
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const { readFile } = await import('node:fs/promises');
    expect(await readFile((await download.path())!, 'utf8')).toBe('Welcome to the left4me demo.\n');
    const odd = page.getByRole('link', { name: 'Download <i>odd #?%.txt' });
    expect(await odd.getAttribute('href')).toBe('/api/v1/overlays/demo-base/files/left4dead2/%3Ci%3Eodd%20%23%3F%25.txt');
    const [oddDownload] = await Promise.all([page.waitForEvent('download'), odd.click()]);
    expect(await readFile((await oddDownload.path())!, 'utf8')).toBe('odd\n');
    expect(await files.locator('i').count()).toBe(0);
    await page.getByRole('button', { name: 'Open folder cfg' }).click();
    await text('the cfg folder', files, /demo\.cfg/);
    await page.getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'root' }).click();
    await text('back at the root', files, /left4dead2\//);
    expect(await seriousAxe('overlay')).toEqual([]);
  });

  it('has a running build and an install’s progress in the GET answers too, never the log’s path', async () => {
    const admin = new Browser(base);
    await admin.login('admin', PASSWORDS.admin);
    const inst = (await (await admin.request('GET', '/api/v1/installations/demo')).json()) as { status: { progress?: unknown } };
    expect(inst.status.progress).toEqual({ pass: 2, passes: 2, platform: 'linux', state: 'downloading', percent: 90 });
    const step = { step: 2, steps: 3, kind: 'archive', label: 'download maps.7z', bytes: 1000, totalBytes: 4000 };
    await status.write(overlayStatus('demo-rates', { building: { build: 'b-9', log: 'logs/overlays/demo-rates/b-9.log', since: '2026-01-01T00:00:00.000Z', step } }));
    const ov = (await (await admin.request('GET', '/api/v1/overlays/demo-rates')).json()) as { status: { building?: unknown } };
    expect(ov.status.building).toEqual({ build: 'b-9', since: '2026-01-01T00:00:00.000Z', step });
    // The Builds page shows where the build is, from the feed.
    await page.goto(`${base}/#/builds`);
    const bar = page.getByRole('progressbar', { name: 'Progress of demo-rates' });
    await waitFor('the step of demo-rates', async () => (await bar.count()) === 1 && (await bar.getAttribute('value')) === '25');
    await text('the step text', page.getByRole('table', { name: 'Overlays' }).locator('tr[data-name="demo-rates"]'), /step 2 of 3 · download maps\.7z · 25% \(1000 bytes of 3\.9 KiB\)/);
  });

  it("follows a running build's log as it is written, until the build ends", async () => {
    await page.goto(`${base}/#/builds/overlays/demo-config`);
    await text('the older log', page.getByRole('log', { name: 'Build log' }), /an older build/);
    const log = join(dataDir, 'logs', 'overlays', 'demo-config', 'b-2.log');
    await writeFile(log, 'step 1/3: files\n');
    await status.write(overlayStatus('demo-config', { building: { build: 'b-2', log: 'logs/overlays/demo-config/b-2.log', since: now() } }));
    await text('the first line, followed', page.getByRole('log', { name: 'Build log' }), /^step 1\/3: files$/);
    await appendFile(log, 'step 2/3: archive\n');
    await text('a line written later', page.getByRole('log', { name: 'Build log' }), /step 1\/3: files step 2\/3: archive$/);
    await appendFile(log, 'build b-2 succeeded\n');
    const done = overlayStatus('demo-config');
    await status.write({ ...done, build: { ...done.build!, ready: 'b-2', wanted: 'b-2', log: 'logs/overlays/demo-config/b-2.log' } });
    await text('the whole new log', page.getByRole('log', { name: 'Build log' }), /step 1\/3: files step 2\/3: archive build b-2 succeeded$/);
  });

  it("browses a server's writable layer", async () => {
    await page.goto(`${base}/#/builds`);
    await page.getByRole('link', { name: 'Files of demo-1' }).click();
    const files = page.getByRole('table', { name: 'Files of server demo-1' });
    await page.getByRole('button', { name: 'Open folder left4dead2' }).click();
    await page.getByRole('button', { name: 'Open folder logs' }).click();
    await text('the server log file', files, /L0101\.log/);
    expect(await page.getByRole('link', { name: 'Download L0101.log' }).getAttribute('href')).toBe('/api/v1/instances/demo-1/files/left4dead2/logs/L0101.log');
    expect(await seriousAxe('writable-layer')).toEqual([]);
  });
});

describe('the Users page', () => {
  const users = () => page.getByRole('table', { name: 'Users' });
  const confirm = async (password?: string) => {
    const dialog = page.getByRole('dialog', { name: 'Confirm' });
    await dialog.waitFor();
    if (password !== undefined) await dialog.getByLabel('New password').fill(password);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'detached' });
  };

  it('adds an account, resets its password, and removes it', async () => {
    await page.goto(`${base}/#/users`);
    await text('admin listed', users(), /admin/);
    const add = page.getByRole('form', { name: 'Add user' });
    await add.getByLabel('Name').fill('carol');
    await add.getByLabel('Password').fill('carol first password');
    await add.getByRole('button', { name: 'Add user' }).click();
    await text('carol listed', users().locator('tr[data-name="carol"]'), /carol user/);
    expect((await new Browser(base).login('carol', 'carol first password')).status).toBe(200);

    await page.getByRole('button', { name: 'Reset password of carol' }).click();
    await screenshot(page, 'pages-users-reset');
    await confirm('carol second password');
    expect((await new Browser(base).login('carol', 'carol first password')).status).toBe(401);
    expect((await new Browser(base).login('carol', 'carol second password')).status).toBe(200);
    expect(await seriousAxe('users')).toEqual([]);

    await page.getByRole('button', { name: 'Remove carol' }).click();
    await confirm();
    await waitFor('carol gone from the table', async () => (await users().locator('tr[data-name="carol"]').count()) === 0);
    expect((await new Browser(base).login('carol', 'carol second password')).status).toBe(401);
    // No one removes themselves from here.
    expect(await page.getByRole('button', { name: 'Remove admin' }).count()).toBe(0);
  });

  it('creates a token shown once, which works, and revokes it, after which it does not', async () => {
    const create = page.getByRole('form', { name: 'Create token' });
    await create.getByLabel('For').selectOption('alice');
    await create.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('region', { name: 'New token' });
    const token = (await shown.locator('.token').textContent())!.trim();
    expect(token.length).toBeGreaterThan(20);
    const asAlice = () => fetch(`${base}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } });
    expect((await asAlice()).status).toBe(200);
    const id = await waitFor('the token listed', async () => page.getByRole('table', { name: 'Tokens' }).locator('tr[data-id]').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-id'), r.textContent ?? ''] as const).find(([, t]) => t.includes('alice'))?.[0]));
    expect(token.startsWith(`l4m_${id}_`)).toBe(true);
    // Shown once: a reload lists it without its secret.
    await page.reload();
    await page.getByRole('table', { name: 'Tokens' }).waitFor();
    expect(await page.getByRole('region', { name: 'New token' }).count()).toBe(0);
    expect(await page.getByRole('main').textContent()).not.toContain(token.slice(`l4m_${id}_`.length));

    await page.getByRole('button', { name: `Revoke token ${id}` }).click();
    await confirm();
    await waitFor('the token gone from the table', async () => (await page.locator(`tr[data-id="${id}"]`).count()) === 0);
    expect((await asAlice()).status).toBe(401);
  });

  it('is not offered to a user who is not admin', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await logIn('alice', PASSWORDS.alice);
    const nav = page.getByRole('navigation', { name: 'Pages' });
    await nav.getByRole('link', { name: 'Builds' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    // Builds without installations (admins only).
    await nav.getByRole('link', { name: 'Builds' }).click();
    await page.getByRole('table', { name: 'Overlays' }).waitFor();
    expect(await page.getByRole('table', { name: 'Installations' }).count()).toBe(0);
  });
});
