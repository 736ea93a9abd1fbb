// Documents a git source serves, in the real dashboard (dist/ui, as `npm run
// build` wrote it) served by `left4me web` with its CSP, over the demo's state
// tree and a source's layout made by hand (as the sync leaves it): the list
// says where each document comes from, and a managed document opens read-only
// (a note naming the source and commit, Save and Delete disabled, the YAML
// editor and the form not editable) while a local one stays editable.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostLayout } from '../../controller/host/layout.js';
import { buildWebApp } from '../../controller/web/app.js';
import { axeCheck } from '../support/chromium.js';
import { writeSource } from '../support/source-layout.js';
import { PASSWORDS, webFixture } from '../support/web-client.js';
import { openBrowser, type TestBrowser } from './support/documents-browser.js';

/** expect.poll to a deadline a loaded machine meets (two cores shared by many workers); never a timing assertion. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000, interval: 50 });

let fx: Awaited<ReturnType<typeof webFixture>>;
let app: Awaited<ReturnType<typeof buildWebApp>> | undefined;
let base = '';
let browser: TestBrowser;
let commit = '';

beforeAll(async () => {
  fx = await webFixture('left4me-ui-managed-');
  commit = writeSource(hostLayout(fx.dataDir), 'fleet', {
    files: { 'servers/eu-1.yaml': 'apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: eu-1\nspec:\n  blueprint: demo-coop\n  port: 27050\n' },
    path: 'servers',
  });
  app = await buildWebApp({ stateDir: fx.stateDir, dataDir: fx.dataDir, webDataDir: fx.webDataDir });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await openBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

/** Every file of the state tree with its text. */
function tree(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(fx.stateDir, { recursive: true, withFileTypes: true })) if (e.isFile()) out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name), 'utf8');
  return out;
}

describe('documents from a git source in the dashboard', { timeout: 180_000 }, () => {
  it('the list shows each document\'s source', async () => {
    const { page } = browser;
    await page.goto(`${base}/`);
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill(PASSWORDS.admin);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Documents' }).click();
    const table = page.getByRole('table', { name: 'Documents' });
    await poll(() => table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')))).toEqual(['demo-1', 'demo-2', 'demo-3', 'eu-1']);
    expect(await table.locator('thead th').last().textContent()).toBe('Source');
    expect(await table.locator('tr[data-name="eu-1"] td').last().textContent()).toBe(`fleet@${commit.slice(0, 7)}`);
    expect(await table.locator('tr[data-name="demo-1"] td').last().textContent()).toBe('local');
    expect(browser.errors).toEqual([]);
  });

  it('opens a managed document read-only: the note, Save and Delete disabled, editor and form not editable', async () => {
    const { page } = browser;
    const before = tree();
    await page.getByRole('link', { name: 'eu-1' }).click();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance eu-1');
    const note = page.getByRole('note');
    await poll(() => note.textContent()).toBe(`Managed by git source fleet (${commit.slice(0, 7)}): change servers/eu-1.yaml in the repository.`);
    expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true);
    const editor = page.getByRole('textbox', { name: 'YAML editor' });
    await poll(() => editor.evaluate((el) => el.classList.contains('cm-content'))).toBe(true);
    expect(await editor.getAttribute('contenteditable')).toBe('false');
    expect(await editor.getAttribute('aria-readonly')).toBe('true');
    // Typing changes nothing: the text is the repository's.
    const shown = await editor.innerText();
    expect(shown).toContain('port: 27050');
    await editor.click();
    await page.keyboard.insertText('# mine\n');
    expect(await editor.innerText()).toBe(shown);
    expect(await page.getByRole('combobox', { name: 'Blueprint' }).isDisabled()).toBe(true);
    expect(await page.getByLabel('Port', { exact: true }).isDisabled()).toBe(true);
    const found = (await axeCheck(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(found.map((v) => v.id)).toEqual([]);
    expect(tree()).toEqual(before);
    expect(browser.errors).toEqual([]);
  });

  it('a local document stays editable', async () => {
    const { page } = browser;
    await page.goto(`${base}/#/documents/instances/demo-1`);
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance demo-1');
    expect(await page.getByRole('note').count()).toBe(0);
    const editor = page.getByRole('textbox', { name: 'YAML editor' });
    await poll(() => editor.evaluate((el) => el.classList.contains('cm-content'))).toBe(true);
    expect(await editor.getAttribute('contenteditable')).toBe('true');
    expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).toBe(false);
    expect(await page.getByRole('combobox', { name: 'Blueprint' }).isDisabled()).toBe(false);
    expect(browser.errors).toEqual([]);
  });
});
