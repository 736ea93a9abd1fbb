// The Documents pages of the real dashboard (dist/ui, as `npm run build`
// wrote it) in Chromium, served by `left4me web` over a real state tree (the
// demo's documents) with its strict CSP: a user creates an instance with the
// form, breaks it in the YAML editor and sees the problem at its line, fixes
// it, previews the change and what the controller would do, saves; an edit
// made meanwhile by someone else is a conflict the user resolves either way;
// and the document is deleted. Every step is checked in the files on disk.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebApp } from '../../controller/web/app.js';
import { PASSWORDS, webFixture } from '../support/web-client.js';
import { axeCheck } from '../support/chromium.js';
import { openBrowser, type TestBrowser } from './support/documents-browser.js';

/** expect.poll to a deadline a loaded machine meets (two cores shared by many workers); never a timing assertion. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000, interval: 50 });

let fx: Awaited<ReturnType<typeof webFixture>>;
let app: Awaited<ReturnType<typeof buildWebApp>> | undefined;
let base = '';
let browser: TestBrowser;
let aliceToken = '';

beforeAll(async () => {
  fx = await webFixture('left4me-ui-documents-');
  aliceToken = await fx.users.createToken('alice');
  // An invalid document of alice's: listed (marked) and opened with its problem at its line.
  writeFileSync(join(fx.stateDir, 'instances', 'alice-broken.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: alice-broken\n  owner: alice\nspec:\n  blueprint: demo-coop\n  staet: running\n');
  app = await buildWebApp({ stateDir: fx.stateDir, dataDir: fx.dataDir, webDataDir: fx.webDataDir });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await openBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

const file = (rel: string) => readFileSync(join(fx.stateDir, rel), 'utf8');

/** axe-core's serious and critical findings on what the page shows now. */
async function seriousAxe(): Promise<string[]> {
  const found = await axeCheck(browser.page);
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} ${v.targets.join(' ')}`);
}

/** Another client (alice's script, with her token) changes the document behind the page's back. */
async function editElsewhere(name: string, edit: (yaml: string) => string): Promise<void> {
  const got = await fetch(`${base}/api/v1/instances/${name}`, { headers: { authorization: `Bearer ${aliceToken}`, accept: 'application/json' } });
  const etag = got.headers.get('etag')!;
  const { stringify } = await import('yaml');
  const put = await fetch(`${base}/api/v1/instances/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/yaml', 'if-match': etag },
    body: edit(stringify(((await got.json()) as { document: unknown }).document)),
  });
  expect(put.status).toBe(200);
}

/** The YAML editor's text (its lines, without the trailing empty one). */
const yamlShown = () => browser.page.locator('.cm-content').innerText().then((t) => t.replace(/\n+$/, ''));

/** Replaces the whole text of the YAML editor, as a paste would. */
async function typeYaml(text: string): Promise<void> {
  const { page } = browser;
  const editor = page.getByRole('textbox', { name: 'YAML editor' });
  await poll(() => editor.evaluate((el) => el.classList.contains('cm-content'))).toBe(true);
  await editor.click();
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Backspace');
  await page.keyboard.insertText(text);
}

describe('the Documents pages', { timeout: 180_000 }, () => {
  it('lists each kind with its status and offers "New …" only where the user may create', async () => {
    const { page } = browser;
    await page.goto(`${base}/`);
    await page.getByLabel('Name').fill('alice');
    await page.getByLabel('Password').fill(PASSWORDS.alice);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Documents' }).click();
    const table = page.getByRole('table', { name: 'Documents' });
    await poll(() => table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')))).toEqual(['alice-broken', 'demo-1', 'demo-2', 'demo-3']);
    expect(await table.locator('tr[data-name="demo-1"] td').nth(1).textContent()).toContain('Unknown');
    expect(await table.locator('tr[data-name="alice-broken"]').getAttribute('class')).toBe('bad');
    expect((await table.locator('tr[data-name="alice-broken"] td').nth(0).textContent())?.replace(/\s+/g, ' ').trim()).toBe('alice-broken (invalid)');
    expect((await table.locator('tr[data-name="alice-broken"] td').nth(1).textContent())?.replace(/\s+/g, ' ').trim()).toBe('Not ready Invalid');
    expect(await page.getByRole('link', { name: 'New instance' }).count()).toBe(1);
    await page.getByRole('navigation', { name: 'Kinds' }).getByRole('link', { name: 'Installations' }).click();
    await poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(await page.getByRole('link', { name: /^New / }).count()).toBe(0);
    expect(await seriousAxe()).toEqual([]);
    expect(browser.errors).toEqual([]);
  });

  it('opens an invalid document as written, with its problem at its line', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: 'Instances' }).click();
    await page.getByRole('link', { name: 'alice-broken' }).click();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance alice-broken');
    const problems = page.getByRole('list', { name: 'Problems' }).getByRole('listitem');
    await poll(() => problems.allTextContents()).toEqual([expect.stringMatching(/^line 8: .*staet/)]);
    expect(await yamlShown()).toContain('  staet: running');
    expect(await page.getByRole('combobox', { name: 'Blueprint' }).inputValue()).toBe('demo-coop');
  });

  it('creates an instance with the form: the YAML follows, the preview says what changes, Save writes it', async () => {
    const { page } = browser;
    await page.goto(`${base}/#/documents/instances`);
    await page.getByRole('link', { name: 'New instance' }).click();
    await page.getByLabel('Name', { exact: true }).fill('alice-web');
    await page.getByLabel('Name', { exact: true }).press('Tab');
    const blueprint = page.getByRole('combobox', { name: 'Blueprint' });
    expect(await blueprint.locator('option').allTextContents()).toEqual(['(choose)', 'demo-coop']);
    await blueprint.selectOption('demo-coop');
    await page.getByRole('combobox', { name: 'State' }).selectOption('stopped');
    await poll(yamlShown).toBe('apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: alice-web\nspec:\n  blueprint: demo-coop\n  state: stopped');
    await page.getByRole('button', { name: 'Preview' }).click();
    const changes = page.getByRole('region', { name: 'Changes' }).getByRole('listitem');
    await poll(() => changes.allTextContents()).toEqual(expect.arrayContaining(['added /spec: {"blueprint":"demo-coop","state":"stopped"}']));
    await poll(() => page.getByRole('list', { name: 'Effects' }).getByRole('listitem').allTextContents()).toEqual(['alice-web: is set up and stays stopped (state: stopped)']);
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.evaluate(() => location.hash)).toBe('#/documents/instances/alice-web');
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance alice-web');
    expect(file('instances/alice-web.yaml')).toMatch(/owner"?: "?alice[\s\S]*blueprint: demo-coop[\s\S]*state: stopped/);
    expect(browser.errors).toEqual([]);
  });

  it('shows a typo in the YAML at its line, and saves once it is fixed', async () => {
    const { page } = browser;
    const typo = 'apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: alice-web\n  owner: alice\nspec:\n  blueprint: demo-coop\n  staet: running\n';
    await typeYaml(typo);
    const problems = page.getByRole('list', { name: 'Problems' }).getByRole('listitem');
    await poll(() => problems.allTextContents()).toEqual([expect.stringMatching(/^line 8: .*staet/)]);
    await poll(() => page.locator('.cm-line', { has: page.locator('.cm-lintRange-error') }).allTextContents()).toEqual(['  staet: running']);
    expect(await seriousAxe()).toEqual([]);
    // Saving anyway is refused (422) with the problem at the same line.
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.getByRole('alert').textContent()).toBeTruthy();
    expect(await problems.allTextContents()).toEqual([expect.stringMatching(/^line 8: .*staet/)]);
    expect(file('instances/alice-web.yaml')).not.toContain('staet');

    await typeYaml(typo.replace('staet', 'state').replace('  owner: alice\n', '  owner: alice\n  # mine, with a comment\n'));
    await poll(() => page.getByRole('list', { name: 'Problems' }).count()).toBe(0);
    // The form follows the YAML, and a form edit keeps the comment typed in the YAML.
    expect(await page.getByRole('combobox', { name: 'State' }).inputValue()).toBe('running');
    await page.getByRole('combobox', { name: 'Update policy' }).selectOption('immediate');
    await poll(() => yamlShown()).toContain('# mine, with a comment');
    expect(await yamlShown()).toContain('updatePolicy: immediate');
    await page.getByRole('button', { name: 'Preview' }).click();
    await poll(() => page.getByRole('region', { name: 'Changes' }).getByRole('listitem').allTextContents()).toEqual(
      expect.arrayContaining(['changed /spec/state: "stopped" → "running"', 'changed /spec/updatePolicy: "whenEmpty" → "immediate"']),
    );
    await poll(() => page.getByRole('list', { name: 'Effects' }).getByRole('listitem').allTextContents()).toEqual([expect.stringMatching(/^alice-web: starts/)]);
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.getByRole('status').textContent()).toMatch(/Saved/);
    expect(file('instances/alice-web.yaml')).toMatch(/state: running[\s\S]*updatePolicy: immediate/);
    expect(browser.errors).toEqual([]);
  });

  it('a change made meanwhile elsewhere is a conflict: "Keep mine" puts mine over theirs after a confirmation', async () => {
    const { page } = browser;
    await editElsewhere('alice-web', (y) => y.replace('state: running', 'state: stopped'));
    await page.getByRole('combobox', { name: 'Update policy' }).selectOption('manual');
    await page.getByRole('button', { name: 'Save' }).click();
    const conflict = page.getByRole('region', { name: 'Conflict' });
    await poll(() => conflict.count()).toBe(1);
    expect(await seriousAxe()).toEqual([]);
    // Theirs against mine: they stopped it, I still have it running with a manual policy.
    expect(await conflict.getByRole('listitem').allTextContents()).toEqual(expect.arrayContaining(['changed /spec/state: "stopped" → "running"', 'changed /spec/updatePolicy: "immediate" → "manual"']));
    expect(file('instances/alice-web.yaml')).toContain('state: stopped');
    await conflict.getByRole('button', { name: 'Keep mine' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm' });
    await poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await poll(() => page.getByRole('status').textContent()).toMatch(/Saved/);
    expect(await conflict.count()).toBe(0);
    expect(file('instances/alice-web.yaml')).toMatch(/state: running[\s\S]*updatePolicy: manual/);
    expect(browser.errors).toEqual([]);
  });

  it('"Use theirs" drops my edit and loads their version', async () => {
    const { page } = browser;
    await editElsewhere('alice-web', (y) => y.replace('blueprint: demo-coop', 'blueprint: demo-coop\n  port: 27099'));
    await page.getByRole('combobox', { name: 'State' }).selectOption('stopped');
    await page.getByRole('button', { name: 'Save' }).click();
    const conflict = page.getByRole('region', { name: 'Conflict' });
    await conflict.getByRole('button', { name: 'Use theirs' }).click();
    await poll(() => conflict.count()).toBe(0);
    await poll(() => yamlShown()).toContain('port: 27099');
    expect(await page.getByRole('combobox', { name: 'State' }).inputValue()).toBe('running');
    expect(await page.getByLabel('Port', { exact: true }).inputValue()).toBe('27099');
    expect(file('instances/alice-web.yaml')).toMatch(/port: 27099[\s\S]*state: running/);
  });

  it('deletes the document after a confirmation (Cancel keeps it)', async () => {
    const { page } = browser;
    const dialog = page.getByRole('dialog', { name: 'Confirm' });
    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await poll(() => dialog.isVisible()).toBe(false);
    expect(existsSync(join(fx.stateDir, 'instances', 'alice-web.yaml'))).toBe(true);
    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await poll(() => page.evaluate(() => location.hash)).toBe('#/documents/instances');
    expect(existsSync(join(fx.stateDir, 'instances', 'alice-web.yaml'))).toBe(false);
    await poll(() => page.getByRole('table', { name: 'Documents' }).locator('tbody tr').count()).toBe(4);
    expect(browser.errors).toEqual([]);
  });

  it('opens a document named "new" as itself; "New instance" creates one at its own address', async () => {
    const { page } = browser;
    writeFileSync(join(fx.stateDir, 'instances', 'new.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: new\n  owner: alice\nspec:\n  blueprint: demo-coop\n  state: stopped\n');
    // The web's view of the state directory follows it through a watcher: the list is asked once that saw the file.
    await poll(async () => (await fetch(`${base}/api/v1/instances/new`, { headers: { authorization: `Bearer ${aliceToken}` } })).status).toBe(200);
    await page.getByRole('navigation', { name: 'Kinds' }).getByRole('link', { name: 'Blueprints' }).click();
    await page.getByRole('navigation', { name: 'Kinds' }).getByRole('link', { name: 'Instances' }).click();
    const table = page.getByRole('table', { name: 'Documents' });
    await poll(() => table.locator('tr[data-name="new"]').count()).toBe(1);
    await table.getByRole('link', { name: 'new', exact: true }).click();
    await poll(() => page.evaluate(() => location.hash)).toBe('#/documents/instances/new');
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance new');
    await poll(yamlShown).toContain('  name: new');
    expect(await page.getByRole('button', { name: 'Delete' }).count()).toBe(1);
    await page.getByRole('link', { name: '← instances' }).click();
    await page.getByRole('link', { name: 'New instance' }).click();
    await poll(() => page.evaluate(() => location.hash)).toBe('#/documents/instances/+new');
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('New instance');
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('');
    expect(browser.errors).toEqual([]);
  });

  it('asks before leaving unsaved changes: Cancel stays with the edit, Confirm leaves; a saved edit leaves freely', async () => {
    const { page } = browser;
    await page.goto(`${base}/#/documents/instances/new`);
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance new');
    const dialog = page.getByRole('dialog', { name: 'Confirm' });
    // Untouched: the navigation goes at once.
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Servers' }).click();
    await poll(() => page.getByRole('table', { name: 'Servers' }).count()).toBe(1);
    await page.goBack();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance new');

    await page.getByRole('combobox', { name: 'State' }).selectOption('running');
    await poll(yamlShown).toContain('state: running');
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Servers' }).click();
    await poll(() => dialog.isVisible()).toBe(true);
    expect(await dialog.textContent()).toContain('Leave without saving?');
    // While asking, the address is the editor's again; Cancel keeps the editor and the edit.
    expect(await page.evaluate(() => location.hash)).toBe('#/documents/instances/new');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await poll(() => dialog.isVisible()).toBe(false);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance new');
    expect(await yamlShown()).toContain('state: running');
    expect(await page.evaluate(() => location.hash)).toBe('#/documents/instances/new');
    expect(await seriousAxe()).toEqual([]);
    // Logging out asks too; Cancel stays logged in, with the edit.
    await page.getByRole('button', { name: 'Log out' }).click();
    await poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await poll(() => dialog.isVisible()).toBe(false);
    expect(await page.getByRole('button', { name: 'Log out' }).count()).toBe(1);
    expect(await yamlShown()).toContain('state: running');

    // The back button asks too (Cancel left no extra entry: back is the page before the editor); Confirm leaves, the edit unwritten.
    await page.goBack();
    await poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await poll(() => page.evaluate(() => location.hash)).toBe('#/documents/instances/+new');
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('New instance');
    expect(file('instances/new.yaml')).toContain('state: stopped');

    // Saved: nothing to ask.
    await page.goto(`${base}/#/documents/instances/new`);
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance new');
    await page.getByRole('combobox', { name: 'State' }).selectOption('running');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.getByRole('status').textContent()).toMatch(/Saved/);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Documents' }).click();
    await poll(() => page.getByRole('table', { name: 'Documents' }).count()).toBe(1);
    expect(await dialog.count()).toBe(0);
    expect(browser.errors).toEqual([]);
  });

  it("a reload or closed tab with unsaved changes gets the browser's own question", async () => {
    const other = await browser.page.context().newPage();
    try {
      await other.goto(`${base}/#/documents/instances/new`);
      await poll(() => other.getByRole('heading', { level: 1 }).textContent()).toBe('Instance new');
      // Typed, not set by script: the browser asks only on a page the person has interacted with.
      await poll(() => other.locator('.cm-content').count()).toBe(1);
      await other.locator('.cm-content').click();
      await other.keyboard.press('Control+End');
      await other.keyboard.type('\n# a note');
      await poll(() => other.locator('.cm-content').innerText()).toContain('# a note');
      const asked = other.waitForEvent('dialog');
      await other.close({ runBeforeUnload: true });
      const question = await asked;
      expect(question.type()).toBe('beforeunload');
      await question.accept();
    } finally {
      if (!other.isClosed()) await other.close();
    }
    rmSync(join(fx.stateDir, 'instances', 'new.yaml'));
  });

  it("edits an overlay's sources with the form, in sync with the YAML and its comments, and saves it", async () => {
    const { page } = browser;
    await page.goto(`${base}/#/documents/overlays/+new`);
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('New overlay');
    await page.getByLabel('Name', { exact: true }).fill('alice-maps');
    await page.getByLabel('Name', { exact: true }).press('Tab');
    await page.getByLabel('New source').selectOption('archive');
    await page.getByRole('button', { name: 'Add source' }).click();
    await poll(yamlShown).toContain('spec:\n  sources:\n    - archive:\n        url: ""\n        sha256: ""');
    const sha = 'a'.repeat(64);
    await typeYaml(`apiVersion: left4me/v1\nkind: Overlay\nmetadata:\n  name: alice-maps\nspec:\n  sources:\n    # the map pack\n    - archive:\n        url: https://example.org/maps.7z # a mirror\n        sha256: ${sha}\n`);
    const archive = page.getByRole('group', { name: 'Source 1: archive' });
    await poll(() => archive.getByLabel('Url', { exact: true }).inputValue()).toBe('https://example.org/maps.7z');
    await archive.getByLabel('Url', { exact: true }).fill('https://example.org/maps-v2.7z');
    await archive.getByLabel('Url', { exact: true }).press('Tab');
    await poll(yamlShown).toContain('    # the map pack\n    - archive:\n        url: https://example.org/maps-v2.7z # a mirror');
    // A second source added and removed again through the form; the comments stay throughout.
    await page.getByLabel('New source').selectOption('workshop');
    await page.getByRole('button', { name: 'Add source' }).click();
    const workshop = page.getByRole('group', { name: 'Source 2: workshop' });
    await workshop.getByLabel('Items', { exact: true }).fill('123456');
    await workshop.getByLabel('Items', { exact: true }).press('Tab');
    await poll(yamlShown).toContain('    - workshop:\n        items:\n          - 123456');
    await page.getByRole('button', { name: 'Remove source 2' }).click();
    await poll(yamlShown).not.toContain('workshop');
    expect(await yamlShown()).toContain('# the map pack');
    await poll(() => page.getByRole('list', { name: 'Problems' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.evaluate(() => location.hash)).toBe('#/documents/overlays/alice-maps');
    expect(file('overlays/alice-maps.yaml')).toMatch(/url: https:\/\/example\.org\/maps-v2\.7z/);
    // Gone again, so the admin's overlay list below is the demo's.
    const dialog = page.getByRole('dialog', { name: 'Confirm' });
    await poll(() => page.getByRole('button', { name: 'Delete' }).count()).toBe(1);
    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await poll(() => existsSync(join(fx.stateDir, 'overlays', 'alice-maps.yaml'))).toBe(false);
    expect(browser.errors).toEqual([]);
  });

  it("an admin edits a blueprint's overlays with the form and sees which servers it would restart", async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill(PASSWORDS.admin);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.goto(`${base}/#/documents/installations`);
    await poll(() => page.getByRole('link', { name: 'New installation' }).count()).toBe(1);
    await page.goto(`${base}/#/documents/blueprints/demo-coop`);
    const overlays = page.getByRole('listbox', { name: 'Overlays' });
    await poll(() => overlays.locator('option').allTextContents()).toEqual(['demo-base', 'demo-rates', 'demo-config']);
    await overlays.selectOption(['demo-base', 'demo-config']);
    await poll(() => yamlShown()).toContain('overlays:\n    - demo-base\n    - demo-config\n  map');
    await page.getByRole('button', { name: 'Preview' }).click();
    await poll(() => page.getByRole('region', { name: 'Changes' }).getByRole('listitem').count()).toBeGreaterThan(0);
    const effects = page.getByRole('list', { name: 'Effects' }).getByRole('listitem');
    await poll(() => effects.allTextContents()).toEqual([expect.stringMatching(/^demo-1: /), expect.stringMatching(/^demo-2: /), expect.stringMatching(/^demo-3: /)]);
    // Previewed, not saved: leaving asks, and the blueprint stays as it was.
    await page.getByRole('link', { name: '← blueprints' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm' });
    await poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await poll(() => page.getByRole('table', { name: 'Documents' }).locator('tr[data-name="demo-coop"]').count()).toBe(1);
    expect(file('blueprints/demo-coop.yaml')).not.toMatch(/overlays:\s*\n\s*- demo-base\s*\n\s*- demo-config/);
    expect(browser.errors).toEqual([]);
  });

  it('fits a phone: the editor stacks the form over the YAML and nothing scrolls sideways', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#/documents/blueprints/demo-coop`);
    await poll(() => page.locator('.cm-content').count()).toBe(1);
    const form = await page.getByRole('region', { name: 'Form' }).boundingBox();
    const yaml = await page.getByRole('region', { name: 'YAML' }).boundingBox();
    expect(yaml!.y).toBeGreaterThanOrEqual(form!.y + form!.height);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.goto(`${base}/#/documents/instances`);
    await poll(() => page.getByRole('table', { name: 'Documents' }).locator('tbody tr').count()).toBe(4);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });
});
