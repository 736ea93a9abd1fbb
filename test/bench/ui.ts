// The dashboard's budget (issue 11), measured in headless Chromium against
// `left4me web` as its own process over 100 Ready instances (web.ts's host):
// - the initial JS, gzip: the entry and the chunks it imports statically
//   (dist/ui/manifest.json), against the 100 KB budget;
// - first render of the 100-server table: from navigation to the 100th row in
//   the DOM, median of 5, against a static 100-row HTML table in the same
//   browser, measured the same way;
// - a status change to the DOM: from writing a status file to the row's text
//   changing, median of 10, against the same page's own EventSource seeing
//   the same change (what the service and the network cost; the difference is
//   the dashboard's own work).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { packageRoot } from '../../controller/package-root.js';
import { StatusStore } from '../../controller/status/store.js';
import { UserStore } from '../../controller/web/users.js';
import { launchChromium } from '../support/chromium.js';
import { median, type BenchResult } from './report.js';
import { startListening, writeHost } from './web.js';

const ROWS = 100;
const RENDERS = 5;
const CHANGES = 10;
const BUDGET_KB = 100;

/** The static baseline: the same columns, 100 rows, no script. */
const STATIC_TABLE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>static</title></head><body><table aria-label="Servers"><thead><tr><th>Name</th><th>Ready</th><th>State</th><th>Players</th><th>Port</th><th>Blueprint</th><th>Owner</th></tr></thead><tbody>${Array.from(
  { length: ROWS },
  (_, i) => `<tr data-name="i${i}"><td><a href="#/servers/i${i}">i${i}</a></td><td>Ready Succeeded</td><td>running</td><td>${i % 9}/8</td><td>${27015 + i}</td><td>coop</td><td>system</td></tr>`,
).join('')}</tbody></table></body></html>`;

/** ms from navigation start to `ROWS` rows in the DOM (checked every animation frame, for both pages alike). */
async function timeToRows(page: Page, url: string): Promise<number> {
  await page.goto('about:blank');
  await page.goto(url, { waitUntil: 'commit' });
  // A function, not a string: the dashboard's CSP forbids eval. Rows through the shadow roots the dashboard renders into, or the document's own (the baseline).
  const handle = await page.waitForFunction(
    (rows) => {
      const app = document.querySelector('l4m-app');
      const root = app ? app.shadowRoot?.querySelector('l4m-servers')?.shadowRoot : document;
      return (root?.querySelectorAll('tbody tr').length ?? 0) >= rows ? performance.now() : 0;
    },
    ROWS,
    { polling: 'raf', timeout: 30_000 },
  );
  return (await handle.jsonValue()) as number;
}

export async function benchUi(): Promise<BenchResult[]> {
  const manifest = JSON.parse(await readFile(join(packageRoot(), 'dist', 'ui', 'manifest.json'), 'utf8')) as { initial: string[]; assets: Array<{ file: string; gzipBytes: number }> };
  const initialKb = manifest.initial.reduce((n, f) => n + (manifest.assets.find((a) => a.file === f)?.gzipBytes ?? 0), 0) / 1024;

  const root = await mkdtemp(join(tmpdir(), 'left4me-bench-ui-'));
  const chromium = await launchChromium();
  let web: Awaited<ReturnType<typeof startListening>> | undefined;
  let staticServer: Server | undefined;
  try {
    await writeHost(root);
    const users = new UserStore(join(root, 'web'));
    await users.add('admin', 'bench admin password', 'admin');
    const bin = join(packageRoot(), 'controller', 'bin', 'left4me.js');
    web = await startListening(bin, ['web', '--listen', '127.0.0.1:0', '--state', join(root, 'state'), '--data-dir', join(root, 'data'), '--web-data-dir', join(root, 'web'), '--installation-root', join(root, 'installations')]);
    const { page, context } = chromium;
    // Log in as the page would, sharing the browser's cookie jar.
    const login = await context.request.post(`${web.url}/api/v1/session`, { data: { name: 'admin', password: 'bench admin password' } });
    if (!login.ok()) throw new Error(`bench login answered ${login.status()}`);
    // The baseline from a loopback HTTP server of its own (playwright's request interception would add its own round trips).
    staticServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STATIC_TABLE));
    await new Promise<void>((r) => staticServer!.listen(0, '127.0.0.1', r));
    const staticUrl = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}/`;

    // Warm the cache (hashed assets are cached for a year) and the JIT on both pages first, then alternate.
    await timeToRows(page, `${web.url}/#/servers`);
    await timeToRows(page, staticUrl);
    const dashboard: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < RENDERS; i++) {
      dashboard.push(await timeToRows(page, `${web.url}/#/servers`));
      baseline.push(await timeToRows(page, staticUrl));
    }

    // Status changes: the page watches its own EventSource and the row, each stamping Date.now() (one clock with this process).
    await timeToRows(page, `${web.url}/#/servers`);
    const status = new StatusStore(join(root, 'data', 'status'));
    const toDom: number[] = [];
    const toEvent: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const players = 10 + k;
      // Both watchers are set up, and the page's stream has its snapshot, before the write.
      await page.evaluate(
        ({ players }) =>
          new Promise<void>((ready) => {
            const w = window as unknown as { benchSeen: Promise<{ event: number; dom: number }> };
            w.benchSeen = new Promise((resolve, reject) => {
              const out = { event: 0, dom: 0 };
              const done = () => {
                if (!out.event || !out.dom) return;
                es.close();
                observer.disconnect();
                resolve(out);
              };
              const es = new EventSource('/api/v1/events');
              es.addEventListener('snapshot', () => ready());
              es.addEventListener('status', (e) => {
                const s = JSON.parse((e as MessageEvent<string>).data) as { name: string; players?: number };
                if (s.name === 'i7' && s.players === players && !out.event) {
                  out.event = Date.now();
                  done();
                }
              });
              const shadow = document.querySelector('l4m-app')!.shadowRoot!.querySelector('l4m-servers')!.shadowRoot!;
              const row = () => shadow.querySelector('tr[data-name="i7"]')?.textContent ?? '';
              const observer = new MutationObserver(() => {
                if (!out.dom && row().includes(`${players}/`)) {
                  out.dom = Date.now();
                  done();
                }
              });
              observer.observe(shadow, { subtree: true, childList: true, characterData: true });
              setTimeout(() => reject(new Error(`no change to ${players} players within 10 s`)), 10_000);
            });
          }),
        { players },
      );
      const st = (await status.read('Instance', 'i7'))!;
      const written = Date.now();
      await status.write({ ...st, players });
      const seen = page.evaluate(() => (window as unknown as { benchSeen: Promise<{ event: number; dom: number }> }).benchSeen);
      const { event, dom } = await seen;
      toDom.push(dom - written);
      toEvent.push(event - written);
    }

    return [
      { name: 'dashboard: initial JS (entry + static imports), gzip', value: initialKb, unit: 'KiB', baseline: BUDGET_KB * 1000 / 1024, baselineName: 'the 100 KB budget', target: 1 },
      { name: `dashboard: first render of a ${ROWS}-server table, median of ${RENDERS}`, value: median(dashboard), unit: 'ms', baseline: median(baseline), baselineName: `static ${ROWS}-row HTML table, same browser` },
      { name: `dashboard: status file written → row changed in the DOM, median of ${CHANGES}`, value: median(toDom), unit: 'ms', baseline: median(toEvent), baselineName: "the same page's EventSource sees the change" },
    ];
  } finally {
    await chromium.close();
    staticServer?.close();
    if (web) {
      web.child.kill('SIGTERM');
      await new Promise((r) => (web!.child.exitCode !== null ? r(undefined) : web!.child.once('exit', r)));
    }
    await rm(root, { recursive: true, force: true });
  }
}
