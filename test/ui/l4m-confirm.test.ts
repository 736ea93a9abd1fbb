// <l4m-confirm> in real Chromium: a modal role=dialog named "Confirm" whose answer is open()'s promise and an l4m-confirm event; Escape, a click outside and the keyboard.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openElementPage, type ElementPage } from './support/element-page.js';

/** Polls wait generously: the machine may be busy; a deadline is a failure, never a measurement. */
const POLL = { timeout: 15_000 };

// The page: a button that asks, the dialog, and a record of every answer (promise and event) on window.
const ENTRY = `
import './ui/elements/l4m-confirm.ts';
const w = window as unknown as { answers: unknown[]; events: unknown[]; ask: (m: string, d?: string) => void };
w.answers = [];
w.events = [];
const confirm = document.createElement('l4m-confirm') as HTMLElement & { open(m: string, o?: { detail?: string }): Promise<boolean> };
const ask = document.createElement('button');
ask.textContent = 'Ask';
w.ask = (m, d) => void confirm.open(m, { detail: d }).then((a) => w.answers.push(a));
ask.addEventListener('click', () => w.ask('Stop demo-1?', 'It stops now.'));
document.body.addEventListener('l4m-confirm', (e) => w.events.push((e as CustomEvent).detail));
document.body.append(ask, confirm);
`;

let ui: ElementPage;
const answers = () => ui.page.evaluate(() => (window as unknown as { answers: unknown[] }).answers);
const events = () => ui.page.evaluate(() => (window as unknown as { events: unknown[] }).events);
const dialog = () => ui.page.getByRole('dialog', { name: 'Confirm' });

beforeAll(async () => {
  ui = await openElementPage(ENTRY);
});

afterAll(async () => {
  await ui?.close();
});

beforeEach(async () => {
  await ui.page.evaluate(() => {
    const w = window as unknown as { answers: unknown[]; events: unknown[] };
    w.answers = [];
    w.events = [];
  });
});

describe('<l4m-confirm>', () => {
  it('is hidden until asked, then shows the message and what will happen in a modal dialog with Cancel focused', async () => {
    expect(await dialog().count()).toBe(0);
    await ui.page.getByRole('button', { name: 'Ask' }).click();
    await dialog().waitFor();
    expect(await dialog().getAttribute('aria-modal')).toBe('true');
    expect(await dialog().innerText()).toContain('Stop demo-1?');
    expect(await dialog().innerText()).toContain('It stops now.');
    expect(await dialog().getByRole('button', { name: 'Cancel' }).evaluate((b) => b.matches(':focus'))).toBe(true);
    // Modal: the page behind does not take clicks while it is open.
    expect(await ui.page.evaluate(() => document.querySelector('l4m-confirm')!.shadowRoot!.querySelector('dialog')!.matches(':modal'))).toBe(true);
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await dialog().waitFor({ state: 'hidden' });
    expect(await answers()).toEqual([true]);
    expect(await events()).toEqual([{ confirmed: true, message: 'Stop demo-1?' }]);
  });

  it('answers false to Cancel and gives focus back to the button that asked', async () => {
    await ui.page.getByRole('button', { name: 'Ask' }).click();
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    await dialog().waitFor({ state: 'hidden' });
    expect(await answers()).toEqual([false]);
    expect(await events()).toEqual([{ confirmed: false, message: 'Stop demo-1?' }]);
    expect(await ui.page.getByRole('button', { name: 'Ask' }).evaluate((b) => b === document.activeElement)).toBe(true);
  });

  it('is keyboard operable: Escape cancels, Tab then Enter confirms', async () => {
    // Focus moves with the dialog's life (opened, closed, given back): each key waits until it is where the user would see it.
    const focused = (name: string) => ui.page.evaluate((n) => {
      let el: Element | null = document.activeElement;
      while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
      return el?.textContent?.trim() === n;
    }, name);
    await ui.page.getByRole('button', { name: 'Ask' }).focus();
    await ui.page.keyboard.press('Enter');
    await dialog().waitFor();
    await expect.poll(() => focused('Cancel'), POLL).toBe(true);
    await ui.page.keyboard.press('Escape');
    await dialog().waitFor({ state: 'hidden' });
    expect(await answers()).toEqual([false]);
    await expect.poll(() => focused('Ask'), POLL).toBe(true);
    await ui.page.keyboard.press('Enter');
    await dialog().waitFor();
    await expect.poll(() => focused('Cancel'), POLL).toBe(true);
    await ui.page.keyboard.press('Tab');
    await expect.poll(() => focused('Confirm'), POLL).toBe(true);
    await ui.page.keyboard.press('Enter');
    await dialog().waitFor({ state: 'hidden' });
    expect(await answers()).toEqual([false, true]);
    expect(ui.errors).toEqual([]);
  });

  it('cancels on a click outside the dialog, not on a click inside it', async () => {
    await ui.page.getByRole('button', { name: 'Ask' }).click();
    await dialog().waitFor();
    await dialog().getByText('It stops now.').click();
    expect(await dialog().isVisible()).toBe(true);
    await ui.page.mouse.click(5, 5);
    await dialog().waitFor({ state: 'hidden' });
    expect(await answers()).toEqual([false]);
  });

  it('cancels a question still open when asked another', async () => {
    await ui.page.evaluate(() => {
      const w = window as unknown as { ask: (m: string, d?: string) => void };
      w.ask('first?');
      w.ask('second?');
    });
    await dialog().waitFor();
    expect(await dialog().innerText()).toContain('second?');
    expect(await answers()).toEqual([false]);
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(answers, POLL).toEqual([false, true]);
    expect(await events()).toEqual([
      { confirmed: false, message: 'first?' },
      { confirmed: true, message: 'second?' },
    ]);
    expect(ui.errors).toEqual([]);
  });
});
