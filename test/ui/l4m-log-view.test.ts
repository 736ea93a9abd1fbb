// <l4m-log-view> in a real Chromium under the dashboard's CSP: an SSE stream of lines, follow and pause,
// search, jump to newest, and at most max lines in the DOM.
import { beforeEach, describe, expect, it } from 'vitest';
import { serverPageForSuite, mount, recordEvents, seen, sse, POLL, type SseStream } from './support/server-fakes.js';

const ui = serverPageForSuite();

describe('<l4m-log-view>', () => {
  let stream: SseStream | undefined;
  let asked: string[] = [];
  beforeEach(() => {
    stream = undefined;
    asked = [];
    ui.routes.set('GET /log-test', (req, res) => {
      asked.push(req.url!);
      stream = sse(res);
      return true;
    });
  });

  const shown = () => ui.page.getByRole('log', { name: 'Server log' }).locator('div').allTextContents();

  it('follows an SSE stream of lines, with their times, and tells when the stream ends', async () => {
    await mount(ui.page, 'l4m-log-view', { label: 'Server log', src: '/log-test?follow=1' });
    await expect.poll(() => stream !== undefined, POLL).toBe(true);
    stream!.send('line', { time: '2026-11-30T12:00:01.000Z', message: 'Server started' }, 'c1');
    stream!.send('line', { time: '2026-11-30T12:00:02.000Z', message: 'Map c1m1_hotel loaded' }, 'c2');
    await expect.poll(async () => (await shown()).length, POLL).toBe(2);
    expect((await shown())[1]).toMatch(/Map c1m1_hotel loaded$/);
    expect(await ui.page.locator('l4m-log-view time').first().getAttribute('datetime')).toBe('2026-11-30T12:00:01.000Z');
    stream!.send('end', { reason: 'the journal reader stopped' });
    await expect.poll(() => ui.page.locator('l4m-log-view [role=status]').textContent(), POLL).toContain('The log stream ended: the journal reader stopped.');
    expect(asked).toEqual(['/log-test?follow=1']);
  });

  it('opens one stream per src: another src drops the old lines and stream', async () => {
    await mount(ui.page, 'l4m-log-view', { label: 'Server log', src: '/log-test?a' });
    await expect.poll(() => stream !== undefined, POLL).toBe(true);
    const first = stream!;
    first.send('line', { time: '', message: 'from a' });
    await expect.poll(shown, POLL).toEqual(['from a']);
    await ui.page.evaluate(() => ((document.querySelector('l4m-log-view') as unknown as { src: string }).src = '/log-test?b'));
    await first.closed;
    await expect.poll(() => asked, POLL).toEqual(['/log-test?a', '/log-test?b']);
    stream!.send('line', { time: '', message: 'from b' });
    await expect.poll(shown, POLL).toEqual(['from b']);
  });

  it('pauses (new lines wait, counted) and follows again; fires l4m-follow each time', async () => {
    await recordEvents(ui.page, 'l4m-follow');
    await mount(ui.page, 'l4m-log-view', { label: 'Server log', src: '/log-test' });
    await expect.poll(() => stream !== undefined, POLL).toBe(true);
    stream!.send('line', { time: '', message: 'one' });
    await expect.poll(shown, POLL).toEqual(['one']);
    await ui.page.getByRole('button', { name: 'Pause' }).click();
    stream!.send('line', { time: '', message: 'two' });
    stream!.send('line', { time: '', message: 'three' });
    await expect.poll(() => ui.page.locator('l4m-log-view [role=status]').textContent(), POLL).toContain('2 new lines while paused');
    expect(await shown()).toEqual(['one']);
    await ui.page.getByRole('button', { name: 'Follow' }).click();
    await expect.poll(shown, POLL).toEqual(['one', 'two', 'three']);
    expect(await seen(ui.page, 'l4m-follow')).toEqual([{ following: false }, { following: true }]);
  });

  it('stops following when the reader scrolls up, so the view holds still', async () => {
    await mount(ui.page, 'l4m-log-view', { label: 'Server log' });
    const add = (from: number, n: number) =>
      ui.page.evaluate(([from, n]) => {
        const el = document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void };
        for (let i = from; i < from + n; i++) el.addLines({ message: `line ${i}` });
      }, [from, n] as const);
    await add(0, 100);
    const box = ui.page.getByRole('log', { name: 'Server log' });
    // Following scrolls to the end by itself, and that does not pause it.
    await expect.poll(() => box.evaluate((b) => b.scrollTop > 0 && b.scrollHeight - b.clientHeight - b.scrollTop < 2), POLL).toBe(true);
    expect(await ui.page.getByRole('button', { name: 'Pause' }).count()).toBe(1);
    await box.evaluate((b) => (b.scrollTop = 0));
    await ui.page.getByRole('button', { name: 'Follow' }).waitFor();
    await add(100, 5);
    await expect.poll(() => ui.page.locator('l4m-log-view [role=status]').textContent(), POLL).toContain('5 new lines while paused');
    expect(await box.evaluate((b) => b.scrollTop)).toBe(0);
  });

  it('filters by the search box, case-insensitively', async () => {
    await mount(ui.page, 'l4m-log-view', { label: 'Server log' });
    await ui.page.evaluate(() => {
      (document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void }).addLines({ message: 'Alpha joined' }, { message: 'bravo left' }, { message: 'ALPHA said hi' });
    });
    await expect.poll(shown, POLL).toEqual(['Alpha joined', 'bravo left', 'ALPHA said hi']);
    await ui.page.getByRole('searchbox', { name: 'Search log' }).fill('alpha');
    await expect.poll(shown, POLL).toEqual(['Alpha joined', 'ALPHA said hi']);
    await ui.page.getByRole('searchbox', { name: 'Search log' }).fill('nobody');
    await expect.poll(() => ui.page.getByRole('log', { name: 'Server log' }).textContent(), POLL).toContain('No line matches.');
  });

  it('keeps at most max lines in the DOM, dropping the oldest, and jumps to the newest', async () => {
    await mount(ui.page, 'l4m-log-view', { label: 'Server log', max: 50 });
    await ui.page.evaluate(() => {
      const el = document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void };
      for (let i = 0; i < 200; i++) el.addLines({ message: `line ${i}` });
    });
    await expect.poll(async () => (await shown())[0], POLL).toBe('line 150');
    expect((await shown()).length).toBe(50);
    // Paused and scrolled to the top, "Jump to newest" follows again and shows the end.
    await ui.page.getByRole('button', { name: 'Pause' }).click();
    const box = ui.page.getByRole('log', { name: 'Server log' });
    await box.evaluate((b) => (b.scrollTop = 0));
    await ui.page.evaluate(() => (document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void }).addLines({ message: 'newest' }));
    await ui.page.getByRole('button', { name: 'Jump to newest' }).click();
    await expect.poll(async () => (await shown()).at(-1), POLL).toBe('newest');
    await expect.poll(() => box.evaluate((b) => b.scrollHeight - b.clientHeight - b.scrollTop < 2), POLL).toBe(true);
    expect(await ui.page.getByRole('button', { name: 'Pause' }).count()).toBe(1);
    expect((await shown()).length).toBe(50);
  });
});
