import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { controllerConfig } from '../config.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import { Controller } from './controller.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-trash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('trash', () => {
  it('keeps writable layers of deleted instances for the retention period, then removes them', async () => {
    const cfg = controllerConfig({ fsRoot: root, stateDir: join(root, 'state'), trashRetentionMs: 86_400_000 });
    const trash = join(root, cfg.trashDir);
    mkdirSync(join(trash, 'old-20261101'), { recursive: true });
    mkdirSync(join(trash, 'new-20261121'), { recursive: true });
    const twoDaysAgo = (Date.now() - 2 * 86_400_000) / 1000;
    utimesSync(join(trash, 'old-20261101'), twoDaysAgo, twoDaysAgo);
    // sweepTrash touches only files: the adapter is never called.
    const ctl = new Controller(cfg, { systemd: {} as SystemdAdapter, log: pino({ level: 'silent' }), probe: async () => undefined });
    expect(await ctl.sweepTrash()).toEqual(['old-20261101']);
    expect(existsSync(join(trash, 'old-20261101'))).toBe(false);
    expect(existsSync(join(trash, 'new-20261121'))).toBe(true);
  });
});
