import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../package-root.js';
import { parseListen, readSteamKey } from './web.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-webcli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('left4me web', () => {
  it('parses --listen, IPv6 in brackets, and refuses the rest', () => {
    expect(parseListen('127.0.0.1:8000')).toEqual({ host: '127.0.0.1', port: 8000 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    for (const bad of ['8000', 'example.com:80', '127.0.0.1:99999', '127.0.0.1:']) expect(() => parseListen(bad)).toThrow(/--listen must look like/);
  });

  it('reads the Steam Web API key file, and names the file, never its content, when it is wrong', async () => {
    const good = join(root, 'steam.key');
    writeFileSync(good, 'ABCDEF0123456789ABCDEF0123456789\n');
    expect(await readSteamKey(good)).toBe('ABCDEF0123456789ABCDEF0123456789');
    const bad = join(root, 'bad.key');
    writeFileSync(bad, 'secret key with spaces 0123456789\n');
    const err = await readSteamKey(bad).catch((e: Error) => e);
    expect((err as Error).message).toBe(`${bad} must hold one Steam Web API key (letters and digits, as steamcommunity.com/dev/apikey shows it) and nothing else`);
    await expect(readSteamKey(join(root, 'missing.key'))).rejects.toThrow(/cannot read the Steam Web API key file .*missing\.key: ENOENT$/);
  });

  it('runs as a process: prints its URL, answers /healthz (HSTS with --secure-cookies), and stops on SIGTERM', async () => {
    const child = spawn(join(packageRoot(), 'controller', 'bin', 'left4me.js'), ['web', '--listen', '127.0.0.1:0', '--web-data-dir', join(root, 'web'), '--state', join(packageRoot(), 'state.example', 'demo'), '--data-dir', join(root, 'data'), '--secure-cookies'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`left4me web exited (${code}) before listening`)));
      });
      const r = await fetch(`${url}/healthz`);
      expect(r.status).toBe(200);
      expect(r.headers.get('strict-transport-security')).toBe('max-age=31536000');
      expect((await fetch(`${url}/api/v1/instances`)).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
