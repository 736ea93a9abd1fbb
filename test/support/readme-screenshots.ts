// Takes the README's dashboard screenshots (docs/screenshots/): the servers
// page and a server's page, in headless Chromium against `left4me web` in
// this process over the example state (state.example/demo) with status files
// as a controller would write them. Run after `npm run build`:
//   node dist/test/support/readme-screenshots.js
// Small on purpose: a narrow viewport, PNG.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../../controller/package-root.js';
import { StatusStore } from '../../controller/status/store.js';
import { buildWebApp } from '../../controller/web/app.js';
import { launchChromium } from './chromium.js';
import { PASSWORDS, webFixture } from './web-client.js';

const OUT = join(packageRoot(), 'docs', 'screenshots');

async function main(): Promise<void> {
  const fx = await webFixture('left4me-screenshots-');
  const status = new StatusStore(join(fx.dataDir, 'status'));
  const now = new Date().toISOString();
  const servers: Array<[string, 'True' | 'False', string, string, number]> = [
    ['demo-1', 'True', 'Succeeded', 'the server runs the current documents', 3],
    ['demo-2', 'True', 'WaitingForEmpty', 'a change waits until the server is empty', 5],
    ['demo-3', 'False', 'Crashed', 'the server exited 3 times in a row', 0],
  ];
  for (const [i, [name, ready, reason, message, players]] of servers.entries()) {
    await status.write({
      kind: 'Instance',
      name,
      conditions: [{ type: 'Ready', status: ready, reason, message, observedGeneration: 'g', lastTransitionTime: now }],
      events: [{ time: now, type: ready === 'True' ? 'Normal' : 'Warning', reason, message }],
      port: 27015 + i,
      clientPort: 26900 + i,
      players,
      maxPlayers: 8,
      unit: { activeState: ready === 'True' ? 'active' : 'failed', subState: ready === 'True' ? 'running' : 'failed' },
    } as Parameters<StatusStore['write']>[0]);
  }
  const app = await buildWebApp({ stateDir: fx.stateDir, dataDir: fx.dataDir, webDataDir: fx.webDataDir });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const chromium = await launchChromium();
  try {
    const { page } = chromium;
    await page.setViewportSize({ width: 1280, height: 480 });
    await page.goto(base);
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill(PASSWORDS.admin);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('table', { name: 'Servers' }).locator('tr[data-name="demo-3"]').waitFor();
    await mkdir(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'servers.png') });
    await page.goto(`${base}/#/servers/demo-1`);
    await page.getByRole('heading', { level: 1, name: 'demo-1' }).waitFor();
    // Give the page's live parts (log, charts) a moment to fill; a screenshot, not a test.
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(OUT, 'server.png') });
    process.stdout.write(`wrote ${join('docs', 'screenshots', 'servers.png')} and server.png\n`);
  } finally {
    await chromium.close();
    await app.close();
    await rm(fx.root, { recursive: true, force: true });
  }
}

await main();
