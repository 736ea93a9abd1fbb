// Debian's Chromium driven by playwright-core, for the dashboard's end-to-end
// test and its bench rows: a throwaway profile per launch, headless, nothing
// fetched from the network on its own; plus the axe-core check and the
// screenshots the end-to-end test leaves as artifacts.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { packageRoot } from '../../controller/package-root.js';

/** The system's Chromium (Debian package `chromium`); playwright's own downloads are never used. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where the end-to-end test writes screenshots and the axe report (gitignored). */
export const ARTIFACTS = join(packageRoot(), 'test-artifacts');

export interface Chromium {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile directory, removed again by close(). */
export async function launchChromium(): Promise<Chromium> {
  const profile = await mkdtemp(join(tmpdir(), 'left4me-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // No sandbox: the test runs as root, where Chromium refuses its own; the rest keeps it off the network.
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      context,
      page,
      async close() {
        await context.close().catch(() => undefined);
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
}

/** One axe-core rule that failed on a page, with how many nodes. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: number;
  targets: string[];
}

const AXE_SCRIPT = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Runs axe-core on what the page shows now (it walks open shadow roots, which
 * is where Lit renders). The dashboard's CSP (script-src 'self') refuses a
 * script element with inline text, which is what page.addScriptTag makes of
 * a file, and turning CSP off for the test would hide the dashboard's own
 * violations; so axe's source goes in through the DevTools protocol's
 * evaluate, which CSP does not govern.
 */
export async function axeCheck(page: Page): Promise<AxeViolation[]> {
  const { readFile } = await import('node:fs/promises');
  const source = await readFile(AXE_SCRIPT, 'utf8');
  await page.evaluate(source);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: Document): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const r = await axe.run(document);
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, targets: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
  });
}

/** Writes a full-page screenshot to test-artifacts/NAME.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
