/**
 * The last lines a game server wrote, for a status that must say why it
 * stopped (a crash loop). Read with journalctl from the servers' journal
 * namespace files (units.ts LogNamespace=), found under the host's root as
 * this process reaches it, so a controller driving a host through --fs-root
 * reads that host's journal. Never throws: no journal means no lines.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { onHost, type ControllerConfig } from '../../config.js';
import { SERVER_LOG_NAMESPACE } from '../../systemd/units.js';

/** Lines kept, and the longest line kept (a console line is far shorter). */
const TAIL_LINES = 10;
const MAX_LINE = 200;
/** A line naming a password cvar is never copied into status, which more people read than the journal. */
const SECRET_LINE = /rcon_password|sv_password/i;

async function journalFiles(cfg: Pick<ControllerConfig, 'fsRoot'>): Promise<string[]> {
  const files: string[] = [];
  for (const base of ['/run/log/journal', '/var/log/journal']) {
    const dir = onHost(cfg, base);
    for (const ns of await readdir(dir).catch(() => [] as string[])) {
      if (!ns.endsWith(`.${SERVER_LOG_NAMESPACE}`)) continue;
      for (const f of await readdir(join(dir, ns)).catch(() => [] as string[])) if (/\.journal~?$/.test(f)) files.push(join(dir, ns, f));
    }
  }
  return files;
}

/** The last lines of a server unit's log, oldest first: control characters dropped, long lines cut, password lines left out. */
export async function serverLogTail(cfg: Pick<ControllerConfig, 'fsRoot'>, unit: string): Promise<string[]> {
  const files = await journalFiles(cfg);
  if (files.length === 0) return [];
  const out = await new Promise<string>((resolve) => {
    execFile(
      'journalctl',
      [...files.map((f) => `--file=${f}`), '-u', unit, '-n', String(TAIL_LINES * 2), '-o', 'cat', '--no-pager', '--quiet'],
      { timeout: 5_000, maxBuffer: 1 << 20, env: { ...process.env, SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0' } },
      (err, stdout) => resolve(err ? '' : stdout),
    );
  });
  return out
    .split('\n')
    // eslint-disable-next-line no-control-regex
    .map((l) => l.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, MAX_LINE))
    .filter((l) => l.trim() !== '' && !SECRET_LINE.test(l))
    .slice(-TAIL_LINES);
}
