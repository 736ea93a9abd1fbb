import { describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { documentOptions, hostConfig, parseBytes } from './host-options.js';

describe('operator limits on the command line', () => {
  it('default to 8 GiB per archive, 20 GiB per build and 2 builds at once', () => {
    const cfg = hostConfig({ state: '/tmp/state' });
    expect([cfg.maxArchiveBytes, cfg.maxBuildBytes, cfg.buildConcurrency]).toEqual([8 * 2 ** 30, 20 * 2 ** 30, 2]);
  });

  it('take bytes with binary suffixes', () => {
    const cfg = hostConfig({ state: '/tmp/state', 'max-archive-bytes': '512M', 'max-build-bytes': '3GiB', 'build-concurrency': '4' });
    expect([cfg.maxArchiveBytes, cfg.maxBuildBytes, cfg.buildConcurrency]).toEqual([512 * 2 ** 20, 3 * 2 ** 30, 4]);
    expect(parseBytes('--x', '1048576')).toBe(2 ** 20);
    expect(parseBytes('--x', '2k')).toBe(2048);
    expect(parseBytes('--x', '1T')).toBe(2 ** 40);
  });

  it.each([
    ['max-archive-bytes', '0', /--max-archive-bytes must be a size in bytes such as 8G, 512M or 1048576 \(at least 1\)/],
    ['max-build-bytes', '20 GB', /--max-build-bytes must be a size in bytes/],
    ['max-build-bytes', '-1', /--max-build-bytes must be a size in bytes/],
    ['build-concurrency', '0', /--build-concurrency must be a whole number from 1 to 64/],
    ['build-concurrency', '1.5', /--build-concurrency must be a whole number from 1 to 64/],
  ])('refuse --%s %s with a usage error', (flag, value, message) => {
    expect(() => hostConfig({ state: '/tmp/state', [flag]: value })).toThrow(UsageError);
    expect(() => hostConfig({ state: '/tmp/state', [flag]: value })).toThrow(message);
  });
});

describe('the game servers\' sandbox profile', () => {
  it('is strict unless --server-sandbox compat asks for the previous deployment\'s, with --data-dir kept beside it', () => {
    expect(hostConfig({ state: '/tmp/state' }).units.server.sandbox).toBe('strict');
    const cfg = hostConfig({ state: '/tmp/state', 'server-sandbox': 'compat', 'data-dir': '/srv/l4m' });
    expect(cfg.units.server.sandbox).toBe('compat');
    expect(cfg.units.layout.dataDir).toBe('/srv/l4m');
    expect(hostConfig({ state: '/tmp/state', 'server-sandbox': 'strict' }).units.server.sandbox).toBe('strict');
  });

  it.each(['Compat', 'lax', '', 'strict '])('refuses --server-sandbox %j with a usage error naming the choices', (value) => {
    expect(() => hostConfig({ state: '/tmp/state', 'server-sandbox': value })).toThrow(UsageError);
    expect(() => hostConfig({ state: '/tmp/state', 'server-sandbox': value })).toThrow(/--server-sandbox must be one of strict, compat/);
  });
});

describe('how verbs judge documents', () => {
  it("take the controller's port ranges when given (a fixed port is judged as the controller will), the loader's defaults otherwise", () => {
    expect(documentOptions({ state: '/tmp/state' }).portRanges).toBeUndefined();
    expect(documentOptions({ state: '/tmp/state', 'port-range': '30000-30099' }).portRanges).toEqual({ game: { min: 30000, max: 30099 }, client: { min: 26900, max: 27000 } });
    expect(() => documentOptions({ state: '/tmp/state', 'client-port-range': 'x' })).toThrow(UsageError);
  });
});
