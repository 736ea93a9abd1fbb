// The documents editor's leaf elements in real Chromium, on a page with the
// dashboard's CSP: the form generated from the schemas, the diff, and the
// CodeMirror YAML editor (loaded lazily as a chunk of its own) showing a
// problem at its line, completing keys from the schema, and reporting edits.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openBrowser, serveEntry, type TestBrowser } from './support/documents-browser.js';

/** expect.poll to a deadline a loaded machine meets (two cores shared by many workers); never a timing assertion. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000, interval: 50 });

const ENTRY = `
import './ui/elements/l4m-schema-form.js';
import './ui/elements/l4m-diff.js';
import './ui/elements/l4m-yaml-editor.js';
`;

let browser: TestBrowser;
let site: Awaited<ReturnType<typeof serveEntry>>;

beforeAll(async () => {
  site = await serveEntry(ENTRY);
  browser = await openBrowser();
  await browser.page.goto(site.url);
  await browser.page.waitForFunction(() => customElements.get('l4m-yaml-editor') !== undefined);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

beforeEach(async () => {
  await browser.page.evaluate(() => {
    document.body.replaceChildren();
    (window as unknown as { seen: unknown[] }).seen = [];
  });
});

/** Puts an element with these properties on the page and records its events of `event`. */
async function mount(tag: string, props: Record<string, unknown>, event: string): Promise<void> {
  await browser.page.evaluate(
    ([tag, props, event]) => {
      const el = document.createElement(tag as string);
      Object.assign(el, props);
      el.addEventListener(event as string, (e) => (window as unknown as { seen: unknown[] }).seen.push((e as CustomEvent).detail));
      document.body.append(el);
    },
    [tag, props, event] as const,
  );
}

const seen = () => browser.page.evaluate(() => (window as unknown as { seen: unknown[] }).seen);

describe('<l4m-schema-form>', { timeout: 180_000 }, () => {
  it("renders an instance's fields from its schema, labelled by field name with the schema's help text", async () => {
    const { page } = browser;
    await mount(
      'l4m-schema-form',
      {
        kind: 'Instance',
        isNew: true,
        blueprints: ['coop', 'versus'],
        value: { apiVersion: 'left4me/v1', kind: 'Instance', metadata: { name: 'eu-1' }, spec: { blueprint: 'versus', state: 'stopped', cvars: { hostname: 'EU #1' } } },
      },
      'l4m-field',
    );
    await poll(() => page.getByLabel('Name', { exact: true }).inputValue()).toBe('eu-1');
    const blueprint = page.getByRole('combobox', { name: 'Blueprint' });
    expect(await blueprint.inputValue()).toBe('versus');
    expect(await blueprint.locator('option').allTextContents()).toEqual(['(choose)', 'coop', 'versus']);
    expect(await page.getByRole('combobox', { name: 'State' }).inputValue()).toBe('stopped');
    expect(await page.getByRole('combobox', { name: 'State' }).getAttribute('aria-describedby')).toBeTruthy();
    await poll(() => page.getByRole('combobox', { name: 'State' }).evaluate((el) => (el as HTMLSelectElement).getRootNode() instanceof ShadowRoot)).toBe(true);
    expect(await page.getByText('`running`: keep the server up').count()).toBe(1);
    for (const label of ['Port', 'Client port', 'Update policy', 'Max update delay', 'Node']) expect(await page.getByLabel(label, { exact: true }).count(), label).toBe(1);
    expect(await page.getByLabel('Cvar hostname value').inputValue()).toBe('EU #1');
  });

  it('fires one l4m-field event per edit, with the path and the typed value (undefined removes)', async () => {
    const { page } = browser;
    await mount('l4m-schema-form', { kind: 'Instance', isNew: false, blueprints: ['coop', 'versus'], value: { metadata: { name: 'eu-1' }, spec: { blueprint: 'coop', cvars: { hostname: 'EU' } } } }, 'l4m-field');
    expect(await page.getByLabel('Name', { exact: true }).getAttribute('readonly')).not.toBeNull();
    await page.getByRole('combobox', { name: 'Blueprint' }).selectOption('versus');
    await page.getByLabel('Port', { exact: true }).fill('27020');
    await page.getByLabel('Port', { exact: true }).press('Tab');
    await page.getByRole('combobox', { name: 'State' }).selectOption('');
    // A new cvar, added from the keyboard.
    await page.getByLabel('New cvar', { exact: true }).fill('sv_region');
    await page.getByLabel('New cvar value').fill('3');
    await page.getByLabel('New cvar value').press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Remove hostname' }).click();
    expect(await seen()).toEqual([
      { path: ['spec', 'blueprint'], value: 'versus' },
      { path: ['spec', 'port'], value: 27020 },
      { path: ['spec', 'state'] },
      { path: ['spec', 'cvars', 'sv_region'], value: '3' },
      { path: ['spec', 'cvars', 'hostname'] },
    ]);
  });

  it("offers a blueprint's overlays as a multi-select that keeps the stack's order", async () => {
    const { page } = browser;
    await mount('l4m-schema-form', { kind: 'Blueprint', overlays: ['base', 'rates', 'config'], value: { metadata: { name: 'coop' }, spec: { overlays: ['rates', 'base'], maxPlayers: 8 } } }, 'l4m-field');
    const overlays = page.getByRole('listbox', { name: 'Overlays' });
    expect(await overlays.locator('option').allTextContents()).toEqual(['rates', 'base', 'config']);
    expect(await page.getByLabel('Max players').inputValue()).toBe('8');
    expect(await page.getByLabel('Game mode').getAttribute('placeholder')).toBe('coop');
    await overlays.selectOption(['base', 'rates', 'config']);
    expect(await seen()).toEqual([{ path: ['spec', 'overlays'], value: ['rates', 'base', 'config'] }]);
  });
});

describe('<l4m-schema-form>: structured fields', { timeout: 180_000 }, () => {
  it("edits an overlay's sources as a list: the common fields of each kind, add and remove", async () => {
    const { page } = browser;
    const sources = [
      { files: [{ path: 'left4dead2/cfg/a.cfg', content: 'sv_cheats 0' }] },
      { archive: { url: 'https://example.org/maps.7z', sha256: 'a'.repeat(64), stripComponents: 1 } },
      { workshop: { items: [123456, '98765432109876543210'] } },
      { script: { run: 'echo hi' } },
    ];
    await mount('l4m-schema-form', { kind: 'Overlay', value: { metadata: { name: 'maps' }, spec: { sources } } }, 'l4m-field');
    const source = (n: number, kind: string) => page.getByRole('group', { name: `Source ${n}: ${kind}` });
    // What the document says, in its kind's fields.
    const file1 = source(1, 'files').getByRole('group', { name: 'File 1' });
    expect(await file1.getByLabel('Path', { exact: true }).inputValue()).toBe('left4dead2/cfg/a.cfg');
    expect(await file1.getByLabel('Content', { exact: true }).inputValue()).toBe('sv_cheats 0');
    expect(await source(2, 'archive').getByLabel('Url', { exact: true }).inputValue()).toBe('https://example.org/maps.7z');
    expect(await source(2, 'archive').getByLabel('Strip components').inputValue()).toBe('1');
    expect(await source(2, 'archive').getByRole('combobox', { name: 'Format' }).locator('option').allTextContents()).toEqual(['(not set)', 'zip', 'tar', 'tar.gz', 'tar.xz', 'tar.bz2', '7z']);
    expect(await source(3, 'workshop').getByLabel('Items', { exact: true }).inputValue()).toBe('123456\n98765432109876543210');
    expect(await source(4, 'script').getByLabel('Run', { exact: true }).inputValue()).toBe('echo hi');
    // The schema's help text describes the field.
    expect(await source(2, 'archive').getByLabel('Sha256').getAttribute('aria-describedby')).toBeTruthy();

    // Edits: one event each, its path reaching into the list.
    await source(2, 'archive').getByLabel('Url', { exact: true }).fill('https://example.org/maps2.7z');
    await source(2, 'archive').getByLabel('Url', { exact: true }).press('Tab');
    await source(2, 'archive').getByRole('combobox', { name: 'Format' }).selectOption('7z');
    await source(3, 'workshop').getByLabel('Items', { exact: true }).fill('123456\n777');
    await source(3, 'workshop').getByLabel('Items', { exact: true }).press('Tab');
    await file1.getByLabel('Content', { exact: true }).fill('sv_cheats 1');
    await file1.getByLabel('Content', { exact: true }).press('Tab');
    await source(1, 'files').getByRole('button', { name: 'Add a file to source 1' }).click();
    // The new file's empty content gives way to a URL.
    await page.evaluate(() => {
      const form = document.querySelectorAll('l4m-schema-form')[0] as HTMLElement & { value: unknown };
      const v = structuredClone(form.value) as { spec: { sources: Array<{ files?: unknown[] }> } };
      v.spec.sources[0]!.files!.push({ path: '', content: '' });
      form.value = v;
    });
    const file2 = source(1, 'files').getByRole('group', { name: 'File 2' });
    await file2.getByLabel('Url', { exact: true }).fill('https://example.org/motd.txt');
    await file2.getByLabel('Url', { exact: true }).press('Tab');
    await page.getByRole('button', { name: 'Remove source 4' }).click();
    await page.getByLabel('New source').selectOption('archive');
    await page.getByRole('button', { name: 'Add source' }).click();
    expect(await seen()).toEqual([
      { path: ['spec', 'sources', 1, 'archive', 'url'], value: 'https://example.org/maps2.7z' },
      { path: ['spec', 'sources', 1, 'archive', 'format'], value: '7z' },
      { path: ['spec', 'sources', 2, 'workshop', 'items'], value: [123456, 777] },
      { path: ['spec', 'sources', 0, 'files', 0, 'content'], value: 'sv_cheats 1' },
      { path: ['spec', 'sources', 0, 'files', 1], value: { path: '', content: '' } },
      { path: ['spec', 'sources', 0, 'files', 1, 'content'] },
      { path: ['spec', 'sources', 0, 'files', 1, 'url'], value: 'https://example.org/motd.txt' },
      { path: ['spec', 'sources', 3] },
      { path: ['spec', 'sources', 4], value: { archive: { url: '', sha256: '' } } },
    ]);
  });

  it("shows an installation's steam fields for a steam installation only", async () => {
    const { page } = browser;
    await mount('l4m-schema-form', { kind: 'Installation', value: { metadata: { name: 'l4d2' }, spec: { source: 'directory', path: '/srv/left4me/installations/l4d2' } } }, 'l4m-field');
    expect(await page.getByRole('group', { name: 'Steam' }).count()).toBe(0);
    await mount('l4m-schema-form', { kind: 'Installation', value: { metadata: { name: 'l4d2' }, spec: { source: 'steam', steam: { branch: 'beta', validate: false } } } }, 'l4m-field');
    const steam = page.getByRole('group', { name: 'Steam' }).last();
    expect(await steam.getByLabel('Branch', { exact: true }).inputValue()).toBe('beta');
    expect(await steam.getByLabel('Login', { exact: true }).getAttribute('placeholder')).toBe('default');
    expect(await steam.getByLabel('Validate', { exact: true }).isChecked()).toBe(false);
    expect(await steam.getByLabel('Windows first', { exact: true }).isChecked()).toBe(true);
    await steam.getByLabel('Login', { exact: true }).fill('builds');
    await steam.getByLabel('Login', { exact: true }).press('Tab');
    await steam.getByLabel('Validate', { exact: true }).check();
    expect(await seen()).toEqual([
      { path: ['spec', 'steam', 'login'], value: 'builds' },
      { path: ['spec', 'steam', 'validate'], value: true },
    ]);
  });
});

describe('<l4m-diff>', { timeout: 180_000 }, () => {
  it('says each change in words, in a region named Changes', async () => {
    const { page } = browser;
    await mount(
      'l4m-diff',
      { base: { spec: { state: 'running', port: 27020, cvars: { a: '1' } } }, edited: { spec: { state: 'stopped', cvars: {}, map: 'c2m1_highway' } } },
      'none',
    );
    const items = await page.getByRole('region', { name: 'Changes' }).getByRole('listitem').allTextContents();
    expect(items.sort()).toEqual(['added /spec/map: "c2m1_highway"', 'changed /spec/state: "running" → "stopped"', 'removed /spec/cvars/a (was "1")', 'removed /spec/port (was 27020)']);
  });

  it('says so when nothing changes', async () => {
    await mount('l4m-diff', { base: { spec: { a: [1, 2] } }, edited: { spec: { a: [1, 2] } } }, 'none');
    expect(await browser.page.getByRole('region', { name: 'Changes' }).textContent()).toContain('No changes.');
    expect(await browser.page.getByRole('region', { name: 'Changes' }).getByRole('listitem').count()).toBe(0);
  });
});

const YAML = 'apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: eu-1\nspec:\n  staet: running\n  blueprint: coop\n';

describe('<l4m-yaml-editor>', { timeout: 180_000 }, () => {
  async function mountEditor(value = YAML): Promise<void> {
    await mount('l4m-yaml-editor', { kind: 'Instance', value }, 'l4m-input');
    await browser.page.evaluate(() => (document.querySelector('l4m-yaml-editor') as unknown as { ready: Promise<void> }).ready);
  }

  it('loads CodeMirror and shows a problem at its line, in the gutter and in the Problems list', async () => {
    const { page } = browser;
    await mountEditor();
    const editor = page.getByRole('textbox', { name: 'YAML editor' });
    await poll(() => editor.evaluate((el) => el.classList.contains('cm-content'))).toBe(true);
    expect(await page.getByRole('list', { name: 'Problems' }).count()).toBe(0);
    await page.evaluate(() => {
      const el = document.querySelector('l4m-yaml-editor') as unknown as { problems: unknown[] };
      el.problems = [
        { file: 'body', line: 6, col: 3, pointer: '/spec/staet', message: 'unknown field "staet" — did you mean "state"?' },
        { file: 'overlays/x.yaml', line: 2, col: 1, pointer: '/spec', message: 'broken elsewhere' },
      ];
    });
    const items = page.getByRole('list', { name: 'Problems' }).getByRole('listitem');
    await poll(() => items.allTextContents()).toEqual(['line 6: unknown field "staet" — did you mean "state"?', 'line 2: broken elsewhere (in overlays/x.yaml)']);
    // The diagnostic marks line 6 itself (CodeMirror's lint range), from the field's column.
    const marked = page.locator('.cm-line', { has: page.locator('.cm-lintRange-error') });
    await poll(() => marked.allTextContents()).toEqual(['  staet: running']);
    expect(await page.locator('.cm-lintRange-error').textContent()).toBe('staet: running');
    expect(await page.locator('.cm-gutter-lint .cm-lint-marker-error').count()).toBe(1);
    // The list's link moves the cursor to that line.
    await page.getByRole('link', { name: 'line 6' }).click();
    expect(await page.locator('.cm-activeLine').textContent()).toBe('  staet: running');
    expect(browser.errors).toEqual([]);
  });

  it('reports every edit with the whole text, and completes keys and enum values from the schema', async () => {
    const { page } = browser;
    await mountEditor('apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: eu-1\nspec:\n  blueprint: coop\n');
    await page.locator('.cm-line', { hasText: 'blueprint: coop' }).click();
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+Space');
    const options = page.locator('.cm-tooltip-autocomplete li');
    await poll(() => options.allTextContents()).toEqual(expect.arrayContaining(['blueprint', 'state', 'port', 'updatePolicy', 'cvars']));
    expect(await options.allTextContents()).not.toContain('apiVersion');
    await page.keyboard.type('stat');
    await poll(() => options.allTextContents()).toEqual(['state']);
    // A click, not Enter: CodeMirror ignores keys for a moment after the list changes (its interactionDelay), so a fast Enter is a newline.
    await options.filter({ hasText: 'state' }).click();
    await page.keyboard.press('Control+Space');
    await poll(() => options.allTextContents()).toEqual(['running', 'stopped']);
    // A click: CodeMirror ignores keys for a moment after the list opens (its interactionDelay), a wait no test should guess.
    await options.filter({ hasText: 'stopped' }).click();
    const texts = (await seen()) as string[];
    expect(texts.at(-1)).toBe('apiVersion: left4me/v1\nkind: Instance\nmetadata:\n  name: eu-1\nspec:\n  blueprint: coop\n  state: stopped\n');
    expect(browser.errors).toEqual([]);
  });

  it('takes a new value from above without echoing it as an edit', async () => {
    const { page } = browser;
    await mountEditor();
    await page.evaluate(() => {
      (document.querySelector('l4m-yaml-editor') as unknown as { value: string }).value = 'kind: Instance # kept\n';
    });
    await poll(() => page.locator('.cm-content').textContent()).toBe('kind: Instance # kept');
    expect(await seen()).toEqual([]);
  });
});
