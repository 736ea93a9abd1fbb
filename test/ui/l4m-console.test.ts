// <l4m-console> in a real Chromium under the dashboard's CSP: RCON commands with the CSRF token, output as
// text, history on the arrow keys, refusals in words, all kept for the session.
import { beforeEach, describe, expect, it } from 'vitest';
import { json } from './support/element-page.js';
import { serverPageForSuite, mount, recordEvents, seen, POLL } from './support/server-fakes.js';

const ui = serverPageForSuite();

describe('<l4m-console>', () => {
  let sent: Array<{ command: string; csrf: string | undefined }> = [];
  beforeEach(() => {
    sent = [];
    ui.routes.set('POST /api/v1/instances/alpha/rcon', (req, res, body) => {
      const { command } = JSON.parse(body) as { command: string };
      sent.push({ command, csrf: req.headers['x-csrf-token'] as string | undefined });
      if (command === 'flood') {
        res.setHeader('retry-after', '7');
        return json(res, 429, { error: 'at most 10 commands per 10 s', retryAfter: 7 });
      }
      if (command === 'big') return json(res, 200, { output: 'x'.repeat(100), truncated: true });
      return json(res, 200, { output: `hostname: Alpha <b>not html</b>\nyou said ${command}\n`, truncated: false });
    });
  });

  const output = () => ui.page.getByRole('log', { name: 'Console output' }).textContent();
  const input = () => ui.page.getByRole('textbox', { name: 'Console command' });

  it('sends a command with the CSRF token, shows its output as text and fires l4m-command', async () => {
    await recordEvents(ui.page, 'l4m-command');
    await mount(ui.page, 'l4m-console', { name: 'alpha' });
    await input().fill('status');
    await input().press('Enter');
    await expect.poll(output, POLL).toContain('you said status');
    expect(await output()).toContain('> status');
    expect(await output()).toContain('<b>not html</b>');
    expect(sent).toEqual([{ command: 'status', csrf: 'csrf-test' }]);
    expect(await input().inputValue()).toBe('');
    expect(await seen(ui.page, 'l4m-command')).toEqual([{ command: 'status', output: 'hostname: Alpha <b>not html</b>\nyou said status\n' }]);
    await input().fill('big');
    await ui.page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(output, POLL).toContain('(output cut at 64 KiB)');
  });

  it('walks the history with ArrowUp and ArrowDown, giving back the line being typed', async () => {
    await mount(ui.page, 'l4m-console', { name: 'alpha' });
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
    await mount(ui.page, 'l4m-console', { name: 'alpha' });
    await input().fill('flood');
    await input().press('Enter');
    await expect.poll(output, POLL).toContain('Too many commands: try again in 7 s.');
  });

  it('keeps the output and history for the session, per instance', async () => {
    await mount(ui.page, 'l4m-console', { name: 'alpha' });
    await input().fill('kept');
    await input().press('Enter');
    await expect.poll(output, POLL).toContain('you said kept');
    await ui.page.reload();
    await ui.page.waitForFunction(() => customElements.get('l4m-console') !== undefined);
    await mount(ui.page, 'l4m-console', { name: 'alpha' });
    expect(await output()).toContain('you said kept');
    await input().press('ArrowUp');
    expect(await input().inputValue()).toBe('kept');
    await mount(ui.page, 'l4m-console', { name: 'beta' });
    expect(await output()).not.toContain('you said kept');
  });
});
