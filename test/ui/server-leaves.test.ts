// The Server page's leaf elements in a real Chromium, under the dashboard's CSP:
// the chart, the live log, the RCON console, conditions and events, players.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENTRY, json, sse, uiFixture, type SseStream, type UiFixture } from './server-page-fixture.js';


const POLL = { timeout: 10_000, interval: 50 };
let fx: UiFixture;

beforeAll(async () => {
  fx = await uiFixture(ENTRY);
}, 60_000);
afterAll(() => fx?.close());
beforeEach(async () => {
  fx.routes.clear();
  fx.problems.length = 0;
  await fx.open();
  // One tab, one origin: what a test left in sessionStorage would reach the next.
  await fx.page.evaluate(() => sessionStorage.clear());
});
afterEach(() => {
  expect(fx.problems).toEqual([]);
});

/** Replaces the page's body with one element, its properties set (JSON values only). */
async function mount(tag: string, props: Record<string, unknown> = {}): Promise<void> {
  await fx.page.evaluate(
    async ([tag, props]) => {
      document.body.replaceChildren();
      const el = document.createElement(tag) as HTMLElement & { updateComplete?: Promise<unknown> };
      Object.assign(el, props);
      document.body.append(el);
      await el.updateComplete;
    },
    [tag, props] as const,
  );
}

/** Records every `type` event that reaches window, for events(). */
async function recordEvents(type: string): Promise<void> {
  await fx.page.evaluate((type) => {
    const w = window as unknown as { seen: Record<string, unknown[]> };
    w.seen ??= {};
    w.seen[type] = [];
    window.addEventListener(type, (e) => w.seen[type]!.push((e as CustomEvent).detail ?? null));
  }, type);
}

function events(type: string): Promise<unknown[]> {
  return fx.page.evaluate((type) => (window as unknown as { seen: Record<string, unknown[]> }).seen[type] ?? [], type);
}

describe('<l4m-chart>', () => {
  it('draws each run of known values as its own line: a null is a gap, never a zero', async () => {
    await mount('l4m-chart', { label: 'Players over time', points: [{ t: 0, v: 1 }, { t: 1, v: 2 }, { t: 2, v: null }, { t: 3, v: 3 }, { t: 4, v: 4 }] });
    const chart = fx.page.getByRole('img', { name: 'Players over time' });
    await chart.waitFor();
    const lines = chart.locator('polyline');
    expect(await lines.count()).toBe(2);
    const pts = await lines.evaluateAll((ls) => ls.map((l) => l.getAttribute('points')!.split(' ').map((p) => p.split(',').map(Number))));
    // x runs 2..298 over t 0..4: the null at t=2 (x=150) is nowhere, and the two lines meet no point between t=1 and t=3.
    expect(pts.map((line) => line.map(([x]) => x))).toEqual([[2, 76], [224, 298]]);
    // The scale is 0..4 (bottom 78, top 2): 1 → 59, 4 → 2.
    expect(pts[0]![0]![1]).toBe(59);
    expect(pts[1]![1]![1]).toBe(2);
  });

  it('shows a lone known value between gaps as a dot, and no line at all when nothing is known', async () => {
    await mount('l4m-chart', { label: 'CPU over time', points: [{ t: 0, v: null }, { t: 1, v: 5 }, { t: 2, v: null }] });
    const chart = fx.page.getByRole('img', { name: 'CPU over time' });
    expect(await chart.locator('polyline').count()).toBe(0);
    expect(await chart.locator('circle').count()).toBe(1);
    await mount('l4m-chart', { label: 'Memory over time', points: [{ t: 0, v: null }, { t: 1, v: null }] });
    const empty = fx.page.getByRole('img', { name: 'Memory over time' });
    expect(await empty.locator('polyline, circle').count()).toBe(0);
    expect(await empty.locator('title').textContent()).toBe('Memory over time: no data');
  });

  it('redraws when its points change', async () => {
    await mount('l4m-chart', { label: 'Players over time', points: [{ t: 0, v: 1 }, { t: 1, v: 2 }] });
    const chart = fx.page.getByRole('img', { name: 'Players over time' });
    expect(await chart.locator('polyline').count()).toBe(1);
    await fx.page.evaluate(() => {
      (document.querySelector('l4m-chart') as unknown as { points: unknown }).points = [{ t: 0, v: 1 }, { t: 1, v: null }, { t: 2, v: 3 }, { t: 3, v: 2 }, { t: 4, v: null }, { t: 5, v: 1 }, { t: 6, v: 1 }];
    });
    await expect.poll(() => chart.locator('polyline').count(), POLL).toBe(2);
    expect(await chart.locator('circle').count()).toBe(1);
  });
});

describe('<l4m-log-view>', () => {
  let stream: SseStream | undefined;
  let asked: string[] = [];
  beforeEach(() => {
    stream = undefined;
    asked = [];
    fx.routes.set('GET /log-test', (req, res) => {
      asked.push(req.url!);
      stream = sse(res);
      return true;
    });
  });

  const shown = () => fx.page.getByRole('log', { name: 'Server log' }).locator('div').allTextContents();

  it('follows an SSE stream of lines, with their times, and tells when the stream ends', async () => {
    await mount('l4m-log-view', { label: 'Server log', src: '/log-test?follow=1' });
    await expect.poll(() => stream !== undefined, POLL).toBe(true);
    stream!.send('line', { time: '2026-11-30T12:00:01.000Z', message: 'Server started' }, 'c1');
    stream!.send('line', { time: '2026-11-30T12:00:02.000Z', message: 'Map c1m1_hotel loaded' }, 'c2');
    await expect.poll(async () => (await shown()).length, POLL).toBe(2);
    expect((await shown())[1]).toMatch(/Map c1m1_hotel loaded$/);
    expect(await fx.page.locator('l4m-log-view time').first().getAttribute('datetime')).toBe('2026-11-30T12:00:01.000Z');
    stream!.send('end', { reason: 'the journal reader stopped' });
    await expect.poll(() => fx.page.locator('l4m-log-view [role=status]').textContent(), POLL).toContain('The log stream ended: the journal reader stopped.');
    expect(asked).toEqual(['/log-test?follow=1']);
  });

  it('opens one stream per src: another src drops the old lines and stream', async () => {
    await mount('l4m-log-view', { label: 'Server log', src: '/log-test?a' });
    await expect.poll(() => stream !== undefined, POLL).toBe(true);
    const first = stream!;
    first.send('line', { time: '', message: 'from a' });
    await expect.poll(shown, POLL).toEqual(['from a']);
    await fx.page.evaluate(() => ((document.querySelector('l4m-log-view') as unknown as { src: string }).src = '/log-test?b'));
    await first.closed;
    await expect.poll(() => asked, POLL).toEqual(['/log-test?a', '/log-test?b']);
    stream!.send('line', { time: '', message: 'from b' });
    await expect.poll(shown, POLL).toEqual(['from b']);
  });

  it('pauses (new lines wait, counted) and follows again; fires l4m-follow each time', async () => {
    await recordEvents('l4m-follow');
    await mount('l4m-log-view', { label: 'Server log', src: '/log-test' });
    await expect.poll(() => stream !== undefined, POLL).toBe(true);
    stream!.send('line', { time: '', message: 'one' });
    await expect.poll(shown, POLL).toEqual(['one']);
    await fx.page.getByRole('button', { name: 'Pause' }).click();
    stream!.send('line', { time: '', message: 'two' });
    stream!.send('line', { time: '', message: 'three' });
    await expect.poll(() => fx.page.locator('l4m-log-view [role=status]').textContent(), POLL).toContain('2 new lines while paused');
    expect(await shown()).toEqual(['one']);
    await fx.page.getByRole('button', { name: 'Follow' }).click();
    await expect.poll(shown, POLL).toEqual(['one', 'two', 'three']);
    expect(await events('l4m-follow')).toEqual([{ following: false }, { following: true }]);
  });

  it('stops following when the reader scrolls up, so the view holds still', async () => {
    await mount('l4m-log-view', { label: 'Server log' });
    const add = (from: number, n: number) =>
      fx.page.evaluate(([from, n]) => {
        const el = document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void };
        for (let i = from; i < from + n; i++) el.addLines({ message: `line ${i}` });
      }, [from, n] as const);
    await add(0, 100);
    const box = fx.page.getByRole('log', { name: 'Server log' });
    // Following scrolls to the end by itself, and that does not pause it.
    await expect.poll(() => box.evaluate((b) => b.scrollTop > 0 && b.scrollHeight - b.clientHeight - b.scrollTop < 2), POLL).toBe(true);
    expect(await fx.page.getByRole('button', { name: 'Pause' }).count()).toBe(1);
    await box.evaluate((b) => (b.scrollTop = 0));
    await fx.page.getByRole('button', { name: 'Follow' }).waitFor();
    await add(100, 5);
    await expect.poll(() => fx.page.locator('l4m-log-view [role=status]').textContent(), POLL).toContain('5 new lines while paused');
    expect(await box.evaluate((b) => b.scrollTop)).toBe(0);
  });

  it('filters by the search box, case-insensitively', async () => {
    await mount('l4m-log-view', { label: 'Server log' });
    await fx.page.evaluate(() => {
      (document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void }).addLines({ message: 'Alpha joined' }, { message: 'bravo left' }, { message: 'ALPHA said hi' });
    });
    await expect.poll(shown, POLL).toEqual(['Alpha joined', 'bravo left', 'ALPHA said hi']);
    await fx.page.getByRole('searchbox', { name: 'Search log' }).fill('alpha');
    await expect.poll(shown, POLL).toEqual(['Alpha joined', 'ALPHA said hi']);
    await fx.page.getByRole('searchbox', { name: 'Search log' }).fill('nobody');
    await expect.poll(() => fx.page.getByRole('log', { name: 'Server log' }).textContent(), POLL).toContain('No line matches.');
  });

  it('keeps at most max lines in the DOM, dropping the oldest, and jumps to the newest', async () => {
    await mount('l4m-log-view', { label: 'Server log', max: 50 });
    await fx.page.evaluate(() => {
      const el = document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void };
      for (let i = 0; i < 200; i++) el.addLines({ message: `line ${i}` });
    });
    await expect.poll(async () => (await shown())[0], POLL).toBe('line 150');
    expect((await shown()).length).toBe(50);
    // Paused and scrolled to the top, "Jump to newest" follows again and shows the end.
    await fx.page.getByRole('button', { name: 'Pause' }).click();
    const box = fx.page.getByRole('log', { name: 'Server log' });
    await box.evaluate((b) => (b.scrollTop = 0));
    await fx.page.evaluate(() => (document.querySelector('l4m-log-view') as unknown as { addLines(...l: Array<{ message: string }>): void }).addLines({ message: 'newest' }));
    await fx.page.getByRole('button', { name: 'Jump to newest' }).click();
    await expect.poll(async () => (await shown()).at(-1), POLL).toBe('newest');
    await expect.poll(() => box.evaluate((b) => b.scrollHeight - b.clientHeight - b.scrollTop < 2), POLL).toBe(true);
    expect(await fx.page.getByRole('button', { name: 'Pause' }).count()).toBe(1);
    expect((await shown()).length).toBe(50);
  });
});

describe('<l4m-console>', () => {
  let sent: Array<{ command: string; csrf: string | undefined }> = [];
  beforeEach(() => {
    sent = [];
    fx.routes.set('POST /api/v1/instances/alpha/rcon', (req, res, body) => {
      const { command } = JSON.parse(body) as { command: string };
      sent.push({ command, csrf: req.headers['x-csrf-token'] as string | undefined });
      if (command === 'flood') return json(res, 429, { error: 'at most 10 commands per 10 s', retryAfter: 7 }, { 'retry-after': '7' });
      if (command === 'big') return json(res, 200, { output: 'x'.repeat(100), truncated: true });
      return json(res, 200, { output: `hostname: Alpha <b>not html</b>\nyou said ${command}\n`, truncated: false });
    });
  });

  const output = () => fx.page.getByRole('log', { name: 'Console output' }).textContent();
  const input = () => fx.page.getByRole('textbox', { name: 'Console command' });

  it('sends a command with the CSRF token, shows its output as text and fires l4m-command', async () => {
    await recordEvents('l4m-command');
    await mount('l4m-console', { name: 'alpha' });
    await input().fill('status');
    await input().press('Enter');
    await expect.poll(output, POLL).toContain('you said status');
    expect(await output()).toContain('> status');
    expect(await output()).toContain('<b>not html</b>');
    expect(sent).toEqual([{ command: 'status', csrf: 'csrf-test' }]);
    expect(await input().inputValue()).toBe('');
    expect(await events('l4m-command')).toEqual([{ command: 'status', output: 'hostname: Alpha <b>not html</b>\nyou said status\n' }]);
    await input().fill('big');
    await fx.page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(output, POLL).toContain('(output cut at 64 KiB)');
  });

  it('walks the history with ArrowUp and ArrowDown, giving back the line being typed', async () => {
    await mount('l4m-console', { name: 'alpha' });
    for (const c of ['one', 'two']) {
      await input().fill(c);
      await input().press('Enter');
      await expect.poll(output, POLL).toContain(`you said ${c}`);
    }
    await input().fill('draft');
    await input().press('ArrowUp');
    expect(await input().inputValue()).toBe('two');
    await input().press('ArrowUp');
    expect(await input().inputValue()).toBe('one');
    await input().press('ArrowUp');
    expect(await input().inputValue()).toBe('one');
    await input().press('ArrowDown');
    expect(await input().inputValue()).toBe('two');
    await input().press('ArrowDown');
    expect(await input().inputValue()).toBe('draft');
  });

  it('shows a 429 with when to try again', async () => {
    await mount('l4m-console', { name: 'alpha' });
    await input().fill('flood');
    await input().press('Enter');
    await expect.poll(output, POLL).toContain('Too many commands: try again in 7 s.');
  });

  it('keeps the output and history for the session, per instance', async () => {
    await mount('l4m-console', { name: 'alpha' });
    await input().fill('kept');
    await input().press('Enter');
    await expect.poll(output, POLL).toContain('you said kept');
    await fx.page.reload();
    await fx.page.waitForFunction(() => customElements.get('l4m-console') !== undefined);
    await mount('l4m-console', { name: 'alpha' });
    expect(await output()).toContain('you said kept');
    await input().press('ArrowUp');
    expect(await input().inputValue()).toBe('kept');
    await mount('l4m-console', { name: 'beta' });
    expect(await output()).not.toContain('you said kept');
  });
});

describe('<l4m-conditions>', () => {
  it('lists the conditions in a table and the events newest first', async () => {
    await mount('l4m-conditions', {
      conditions: [
        { type: 'Ready', status: 'False', reason: 'NotRunning', message: 'the server is stopped', lastTransitionTime: '2026-11-30T10:00:00Z' },
        { type: 'Stalled', status: 'True', reason: 'CrashLoop', message: 'restarted 5 times', lastTransitionTime: '2026-11-30T10:00:00Z' },
        { type: 'Valid', status: 'True', reason: 'Valid', message: '', lastTransitionTime: '2026-11-30T09:00:00Z' },
      ],
      events: [
        { time: '2026-11-30T09:00:00Z', type: 'Normal', reason: 'Started', message: 'left4me-server@alpha started' },
        { time: '2026-11-30T10:00:00Z', type: 'Warning', reason: 'Crashed', message: 'exit code 139' },
      ],
    });
    const table = fx.page.getByRole('table', { name: 'Conditions' });
    const rows = await table.locator('tbody tr').evaluateAll((rs) => rs.map((r) => Array.from(r.querySelectorAll('td')).slice(0, 4).map((td) => td.textContent!.trim())));
    expect(rows).toEqual([
      ['Ready', 'False', 'NotRunning', 'the server is stopped'],
      ['Stalled', 'True', 'CrashLoop', 'restarted 5 times'],
      ['Valid', 'True', 'Valid', ''],
    ]);
    // Stalled True is bad news, Valid True good.
    expect(await table.locator('tr[data-type=Stalled] td').nth(1).getAttribute('class')).toBe('bad');
    expect(await table.locator('tr[data-type=Valid] td').nth(1).getAttribute('class')).toBe('good');
    const items = await fx.page.getByRole('list', { name: 'Events' }).getByRole('listitem').allTextContents();
    expect(items).toHaveLength(2);
    expect(items[0]).toContain('Crashed');
    expect(items[1]).toContain('Started');
  });

  it('says when there is nothing yet', async () => {
    await mount('l4m-conditions');
    expect(await fx.page.getByRole('table', { name: 'Conditions' }).textContent()).toContain('No conditions reported yet.');
    expect(await fx.page.getByRole('list', { name: 'Events' }).textContent()).toContain('No events yet.');
  });
});

describe('<l4m-players>', () => {
  it('lists name, score, time and the Steam profile (persona name where known), and fires l4m-refresh', async () => {
    await recordEvents('l4m-refresh');
    await mount('l4m-players', {
      players: [
        { name: 'Zoey', score: 12, durationSeconds: 75, steamId: '76561197960267732', persona: 'zoey_real' },
        { name: 'Ellis', score: 3, durationSeconds: 3725, steamId: '76561197960287930' },
        { name: 'Bot', score: 0, durationSeconds: 5 },
      ],
    });
    const table = fx.page.getByRole('table', { name: 'Players' });
    const rows = await table.locator('tbody tr').evaluateAll((rs) => rs.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent!.replace(/\s+/g, ' ').trim())));
    expect(rows).toEqual([
      ['Zoey', '12', '1:15', 'zoey_real 76561197960267732'],
      ['Ellis', '3', '1:02:05', '76561197960287930'],
      ['Bot', '0', '0:05', 'unknown'],
    ]);
    expect(await table.getByRole('link', { name: 'zoey_real' }).getAttribute('href')).toBe('https://steamcommunity.com/profiles/76561197960267732');
    expect(await table.locator('img').count()).toBe(0);
    await fx.page.getByRole('button', { name: 'Refresh players' }).click();
    expect(await events('l4m-refresh')).toHaveLength(1);
  });

  it('says when nobody plays, with its note', async () => {
    await mount('l4m-players', { players: [], note: 'The server does not answer (is it running?).' });
    expect(await fx.page.getByRole('table', { name: 'Players' }).textContent()).toContain('Nobody is playing.');
    expect(await fx.page.locator('l4m-players [role=status]').textContent()).toBe('The server does not answer (is it running?).');
  });
});
