import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli/args.js';
import { demoControllerConfig } from './options.js';

const host = { stateDir: '/demo/state', fsRoot: '/proc/1/root', busAddress: 'unix:path=/demo/bus', unitDir: '/run/systemd/system' };

describe('npm start -- <controller options>', () => {
  it('refuses loopback downloads like production unless told, and passes controller options through', () => {
    expect(demoControllerConfig([], host)?.allowedDownloadNetworks).toEqual([]);
    const cfg = demoControllerConfig(['--allow-download-network', '127.0.0.0/8', '--allow-download-network', '::1', '--port-range', '28015-28115'], host);
    expect(cfg?.allowedDownloadNetworks).toEqual(['127.0.0.0/8', '::1/128']);
    expect(cfg?.portRanges.game).toEqual({ min: 28015, max: 28115 });
    expect(cfg).toMatchObject(host);
    expect(cfg?.units.server.sandbox).toBe('strict');
    expect(demoControllerConfig(['--server-sandbox', 'compat'], host)?.units.server.sandbox).toBe('compat');
  });

  it('refuses what the demo host sets itself, and bad networks, before anything boots', () => {
    expect(() => demoControllerConfig(['--state', '/etc/left4me/state'], host)).toThrow(new UsageError('npm start sets --state for its private host itself; leave it out'));
    expect(() => demoControllerConfig(['--allow-download-network', '127.0.0.1/8'], host)).toThrow(/--allow-download-network "127\.0\.0\.1\/8" has bits set past its \/8; did you mean 127\.0\.0\.0\/8\?/);
    expect(() => demoControllerConfig(['--no-such-option'], host)).toThrow(UsageError);
    expect(demoControllerConfig(['-h'], host)).toBeUndefined();
  });
});
