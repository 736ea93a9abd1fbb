// A running overlay build says where it is in the overlay's status file:
// the build reconciler over a real pipeline (a files step that downloads
// from a real local HTTP server which hands out its body in parts, each part
// only after the test saw the previous one in the status file), so the
// progress observed is the progress written while the build runs.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../test/support/http-fixture.js';
import { controllerConfig, documentLoadOptions, onHost } from '../config.js';
import { loadState } from '../documents/loader.js';
import type { BuildStepProgress, DocumentStatus } from '../status/store.js';
import { StatusStore } from '../status/store.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { BuildReconciler } from './build-reconciler.js';

const PART = 1 << 20;
const body = randomBytes(3 * PART);
const sha256 = createHash('sha256').update(body).digest('hex');

let root: string;
let server: FixtureServer;
/** Each resolves one gate of the download: the server sends the next part only then. */
const gates: Array<() => void> = [];
const gateOpen: Promise<void>[] = [0, 1].map(() => new Promise<void>((resolve) => gates.push(resolve)));

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'left4me-build-progress-'));
  server = await startFixtureServer({
    '/files/big.vpk': async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
      res.write(body.subarray(0, PART));
      await gateOpen[0];
      res.write(body.subarray(PART, 2 * PART));
      await gateOpen[1];
      res.end(body.subarray(2 * PART));
    },
  });
});

afterAll(async () => {
  for (const open of gates) open();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('overlay build progress', () => {
  it('is written to the status while the build runs (step, label, growing bytes of a known total) and cleared when it ends', async () => {
    const stateDir = join(root, 'state');
    mkdirSync(join(stateDir, 'overlays'), { recursive: true });
    // Credentials and a token in the URL must never reach the status: the label is the file's name only.
    const url = server.url('/files/big.vpk?token=s3cret-token').replace('http://', 'http://user:hunter2@');
    writeFileSync(
      join(stateDir, 'overlays', 'big.yaml'),
      [
        'apiVersion: left4me/v1',
        'kind: Overlay',
        'metadata:',
        '  name: big',
        'spec:',
        '  sources:',
        '    - files:',
        '        - path: left4dead2/cfg/a.cfg',
        '          content: "sv_cheats 0"',
        '    - files:',
        '        - path: left4dead2/addons/big.vpk',
        `          url: "${url}"`,
        `          sha256: ${sha256}`,
        '',
      ].join('\n'),
    );
    const cfg = controllerConfig({ stateDir, fsRoot: join(root, 'host'), allowedDownloadNetworks: ['127.0.0.0/8'] });
    const statusDir = onHost(cfg, cfg.units.layout.statusDir);
    const store = new StatusStore(statusDir);
    const builds = new BuildReconciler({ cfg, systemd: {} as SystemdAdapter, log: pino({ level: 'silent' }), store, now: Date.now, enqueue: () => undefined });
    const state = await loadState(stateDir, documentLoadOptions(cfg));
    expect(state.problems).toEqual([]);

    const file = join(statusDir, 'overlay', 'big.json');
    const read = (): DocumentStatus | undefined => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as DocumentStatus;
      } catch {
        return undefined;
      }
    };
    const seen: BuildStepProgress[] = [];
    const stepAt = (min: number) => () => {
      const step = read()?.building?.step;
      if (step) seen.push(step);
      return (step?.bytes ?? -1) >= min ? step : undefined;
    };

    const done = builds.reconcileOverlay('big', state);
    await expect.poll(stepAt(PART), { timeout: 20_000, interval: 20 }).toBeDefined();
    const first = seen.at(-1)!;
    expect(first).toEqual({ step: 2, steps: 2, kind: 'files', label: 'download big.vpk', bytes: expect.any(Number), totalBytes: body.length });
    expect(first.bytes).toBeLessThan(2 * PART);
    gates[0]!();
    await expect.poll(stepAt(2 * PART), { timeout: 20_000, interval: 20 }).toBeDefined();
    const second = seen.at(-1)!;
    expect(second.bytes).toBeLessThan(body.length);
    gates[1]!();
    await done;

    // What the status said grew and never went back; at the end the build is ready and the progress gone.
    const bytes = seen.filter((s) => s.step === 2).map((s) => s.bytes ?? 0);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(second.bytes!).toBeGreaterThan(first.bytes!);
    const final = read()!;
    expect(final.building).toBeUndefined();
    expect(final.build).toMatchObject({ result: 'Succeeded' });
    // Buffer.equals: a deep toEqual walks three million bytes one by one.
    expect(readFileSync(join(onHost(cfg, cfg.units.layout.overlaysDir), 'big', final.build!.ready!, 'left4dead2/addons/big.vpk')).equals(body)).toBe(true);
    expect(JSON.stringify(seen)).not.toMatch(/s3cret|hunter2|token/);

    // A restarted controller (a new reconciler and store) finds the same build ready: it writes
    // nothing, not even the message without "(built now)" (seen as a rewrite after every reboot).
    expect(final.conditions.find((c) => c.type === 'OverlaysReady')?.message).toContain('(built now)');
    const text = readFileSync(file, 'utf8');
    const inode = statSync(file).ino;
    const restarted = new BuildReconciler({ cfg, systemd: {} as SystemdAdapter, log: pino({ level: 'silent' }), store: new StatusStore(statusDir), now: Date.now, enqueue: () => undefined });
    await restarted.reconcileOverlay('big', state);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(statSync(file).ino).toBe(inode);
  });
});
