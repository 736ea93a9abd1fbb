import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LIBFAKETIME, missingPrerequisites, prerequisiteMessage } from './prerequisites.js';
import { hostProbe } from './probe.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-prereq-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A host (files under root) with some tools on a PATH of its own. */
function host(name: string, files: string[], tools: string[], osRelease: string) {
  const base = join(root, name);
  const bin = join(base, '.bin');
  mkdirSync(bin, { recursive: true });
  for (const f of [...files, '/etc/os-release']) {
    mkdirSync(dirname(join(base, f)), { recursive: true });
    writeFileSync(join(base, f), f === '/etc/os-release' ? osRelease : f === '/proc/filesystems' ? 'nodev\toverlay\n' : '');
  }
  for (const t of tools) writeFileSync(join(bin, t), '#!/bin/sh\n', { mode: 0o755 });
  return hostProbe({ fsRoot: base, path: bin });
}

describe('the prerequisite subset', () => {
  it('nothing missing on a complete host; the suite\'s own tools (chromium, libfaketime) only when asked for', async () => {
    const probe = host('full', ['/lib/systemd/systemd', '/usr/bin/dbus-daemon', '/proc/filesystems'], ['systemctl', 'unshare', 'nsenter', 'setpriv', '7z', 'git'], 'ID=debian\nVERSION_ID="13"\n');
    expect(await missingPrerequisites(probe)).toEqual([]);
    expect(await missingPrerequisites(probe, { suite: true })).toEqual([
      { what: 'chromium (/usr/bin/chromium)', fix: 'chromium' },
      { what: `libfaketime (${LIBFAKETIME})`, fix: 'faketime' },
    ]);
  });

  it('names each missing piece with its package for the host\'s release, and one apt-get line', async () => {
    const probe = host('bare', [], ['systemctl', 'git'], 'ID=debian\nVERSION_ID="13"\n');
    const missing = await missingPrerequisites(probe);
    expect(missing.map((m) => [m.what, m.fix])).toEqual([
      ['systemd (/lib/systemd/systemd)', 'systemd'],
      ['dbus-daemon (/usr/bin/dbus-daemon)', 'dbus'],
      ['unshare', 'util-linux'],
      ['nsenter', 'util-linux'],
      ['setpriv', 'util-linux'],
      ['7z', '7zip'],
      ['overlayfs (kernel)', expect.stringContaining('modprobe overlay')],
    ]);
    const message = prerequisiteMessage(missing, 'The test suite');
    expect(message).toMatch(/^The test suite needs what this machine lacks:\n/);
    expect(message).toContain('\nInstall them with: apt-get install systemd dbus util-linux 7zip\n');
  });
});
