import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostLayout, type HostLayout } from '../host/layout.js';
import { ensureWebhookSecrets } from './webhook-secrets.js';

// Real files in a fresh data directory; the tests run as root, so owners and groups are checked too.
let root: string;
let layout: HostLayout;
const GID = 4242;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'left4me-webhook-secrets-'));
  layout = hostLayout(join(root, 'data'), join(root, 'etc'));
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (p: string) => {
  const st = lstatSync(p);
  return [st.mode & 0o7777, st.uid, st.gid];
};

describe('ensureWebhookSecrets', () => {
  it('makes a missing secret: 64 hex characters, 0640 root:<web group>, in a 0710 directory; says which it made', async () => {
    const out = await ensureWebhookSecrets(layout, ['site', 'fleet'], GID);
    expect(out).toEqual({ created: ['site', 'fleet'] });
    const dir = layout.webhookSecretsDir;
    expect(modeOf(dir)).toEqual([0o710, 0, GID]);
    for (const name of ['site', 'fleet']) {
      expect(readFileSync(join(dir, name), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
      expect(modeOf(join(dir, name))).toEqual([0o640, 0, GID]);
    }
    expect(readFileSync(join(dir, 'site'), 'utf8')).not.toBe(readFileSync(join(dir, 'fleet'), 'utf8'));
    // No temporary file left behind.
    expect(readdirSync(dir).sort()).toEqual(['fleet', 'site']);
  });

  it('never overwrites a secret, made by it or by an operator; only sets its owner and mode', async () => {
    await ensureWebhookSecrets(layout, ['site'], GID);
    const dir = layout.webhookSecretsDir;
    const first = readFileSync(join(dir, 'site'), 'utf8');
    writeFileSync(join(dir, 'mine'), 'an operator chose this\n', { mode: 0o644 });
    const out = await ensureWebhookSecrets(layout, ['site', 'mine'], GID);
    expect(out).toEqual({ created: [] });
    expect(readFileSync(join(dir, 'site'), 'utf8')).toBe(first);
    expect(readFileSync(join(dir, 'mine'), 'utf8')).toBe('an operator chose this\n');
    expect(modeOf(join(dir, 'mine'))).toEqual([0o640, 0, GID]);
  });

  it('two at once make one secret per source: the second never replaces the first', async () => {
    const [a, b] = await Promise.all([ensureWebhookSecrets(layout, ['site', 'fleet'], GID), ensureWebhookSecrets(layout, ['fleet', 'site'], GID)]);
    expect([...a.created, ...b.created].sort()).toEqual(['fleet', 'site']);
    const site = readFileSync(join(layout.webhookSecretsDir, 'site'), 'utf8');
    await ensureWebhookSecrets(layout, ['site'], GID);
    expect(readFileSync(join(layout.webhookSecretsDir, 'site'), 'utf8')).toBe(site);
    expect(readdirSync(layout.webhookSecretsDir).sort()).toEqual(['fleet', 'site']);
  });

  it('is root-only (0700, 0600) on a host without the web group', async () => {
    await ensureWebhookSecrets(layout, ['site']);
    expect(modeOf(layout.webhookSecretsDir)).toEqual([0o700, 0, 0]);
    expect(modeOf(join(layout.webhookSecretsDir, 'site'))).toEqual([0o600, 0, 0]);
  });

  it('refuses a link or a directory at a secret\'s name without following or touching it, and a malformed name', async () => {
    const dir = layout.webhookSecretsDir;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(root, 'elsewhere'), 'not a secret\n', { mode: 0o600 });
    symlinkSync(join(root, 'elsewhere'), join(dir, 'linked'));
    await expect(ensureWebhookSecrets(layout, ['linked'], GID)).rejects.toThrow(/linked is a symbolic link/);
    expect(modeOf(join(root, 'elsewhere'))).toEqual([0o600, 0, 0]);
    mkdirSync(join(dir, 'adir'));
    await expect(ensureWebhookSecrets(layout, ['adir'], GID)).rejects.toThrow(/adir is not a regular file/);
    await expect(ensureWebhookSecrets(layout, ['../escape'], GID)).rejects.toThrow(/"\.\.\/escape" is not a source name/);
    expect(readdirSync(root).sort()).toEqual(['data', 'elsewhere']);
  });
});
