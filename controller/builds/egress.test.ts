// Downloads by root reach only public addresses (issue 8, item 4). Every
// fixture server here counts connections and requests: a refused URL must
// leave both at zero, so "refused" is proven by the server, not by the message.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failure, scratchBuildContext } from '../../test/support/build-context.js';
import { startFixtureServer, type FixtureServer } from '../../test/support/http-fixture.js';
import { startSteamFixture, type SteamFixture } from '../../test/support/steam-fixture.js';
import { download } from './download.js';
import { EgressGuard, EgressRefusedError, type Resolver } from './egress.js';
import { buildFiles } from './files.js';
import { BuildStepError } from './source.js';
import { getPublishedFileDetails, SteamApiError } from './steam-api.js';
import { buildWorkshop, WorkshopItemsError } from './workshop.js';

const body = Buffer.from('addon bytes\n');
const digest = createHash('sha256').update(body).digest('hex');
// A safety net only: today's code may connect to unroutable ranges and hang; a refusal needs no time at all.
const signal = () => AbortSignal.timeout(5_000);

let server: FixtureServer; // 127.0.0.1: the allowed fixture host when a test allows one
let other: FixtureServer; // 127.0.0.2: a loopback service that must never be reached
let port: number;
let dir: string;

beforeAll(async () => {
  other = await startFixtureServer({ '/secret': { body: 'root-only data' } }, '127.0.0.2');
  server = await startFixtureServer({
    '/file.bin': { body },
    '/to-other': { redirect: other.url('/secret') },
    '/to-metadata': { redirect: 'http://metadata.example/latest/meta-data/' },
  });
  port = Number(new URL(server.url('/')).port);
});
afterAll(async () => {
  await server.close();
  await other.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'l4m-egress-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A resolver that knows only the names a test gives it. */
const stub =
  (names: Record<string, string[]>): Resolver =>
  (hostname) => {
    const list = names[hostname];
    if (!list) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };

const get = (url: string, egress: EgressGuard) => download(url, join(dir, 'out'), { sha256: digest, maxBytes: 1 << 20, signal: signal(), egress });

describe('downloads refuse non-public addresses', () => {
  it('refuses every class of address, in every literal spelling, before connecting', { timeout: 30_000 }, async () => {
    const guard = new EgressGuard();
    const before = server.traffic();
    const cases: Array<[string, RegExp]> = [
      [`http://127.0.0.1:${port}/file.bin`, /resolves to 127\.0\.0\.1, which is not a public address \(loopback\)/],
      [`http://2130706433:${port}/file.bin`, /\(loopback\)/],
      [`http://0x7f000001:${port}/file.bin`, /\(loopback\)/],
      [`http://017700000001:${port}/file.bin`, /\(loopback\)/],
      [`http://127.1:${port}/file.bin`, /\(loopback\)/],
      [`http://0:${port}/file.bin`, /resolves to 0\.0\.0\.0.*this host/],
      [`http://[::]:${port}/file.bin`, /this host/],
      [`http://[::1]:${port}/file.bin`, /\(loopback\)/],
      [`http://[::ffff:127.0.0.1]:${port}/file.bin`, /resolves to 127\.0\.0\.1.*\(loopback\)/],
      [`http://[::ffff:7f00:1]:${port}/file.bin`, /\(loopback\)/],
      [`http://[64:ff9b::7f00:1]:${port}/file.bin`, /loopback, through NAT64/],
      [`http://localhost:${port}/file.bin`, /resolves to (127\.0\.0\.1|::1).*\(loopback\)/], // the real resolver
      ['http://169.254.169.254/latest/meta-data/', /link-local, where cloud metadata services answer/],
      ['http://[::ffff:169.254.169.254]/latest/meta-data/', /link-local/],
      ['http://10.0.0.1/x', /private network/],
      ['http://172.16.5.4/x', /private network/],
      ['https://192.168.1.1/x', /private network/],
      ['http://100.64.0.1/x', /carrier-grade NAT/],
      ['http://[fe80::1]/x', /link-local/],
      ['http://[fd00::1]/x', /unique local/],
      ['http://224.0.0.1/x', /multicast/],
      ['http://[ff02::1]/x', /multicast/],
      ['http://240.0.0.1/x', /reserved/],
      ['http://255.255.255.255/x', /broadcast/],
      ['http://[64:ff9b:1::a00:1]/x', /local-use NAT64/],
    ];
    const errors = await Promise.all(cases.map(([url]) => failure(get(url, guard))));
    for (const [i, [url, expected]] of cases.entries()) {
      expect([url, errors[i]]).toEqual([url, expect.any(EgressRefusedError)]);
      expect([url, errors[i]!.message]).toEqual([url, expect.stringMatching(expected)]);
      expect(errors[i]!.message).toContain('allow it with --allow-download-network ');
    }
    expect(errors[0]!.message).toBe(
      `http://127.0.0.1:${port}/file.bin resolves to 127.0.0.1, which is not a public address (loopback); allow it with --allow-download-network 127.0.0.0/8`,
    );
    expect(server.traffic()).toEqual(before);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a name that resolves to a private address, asking the resolver once per connection', async () => {
    let asked = 0;
    const names = stub({ 'files.example': ['10.1.2.3'], 'meta.example': ['169.254.169.254'], 'both.example': ['127.0.0.1', '::1'] });
    const guard = new EgressGuard([], (h) => (asked++, names(h)));
    const before = server.traffic();
    expect((await failure(get('http://files.example/x', guard))).message).toBe(
      'http://files.example/x resolves to 10.1.2.3, which is not a public address (private network); allow it with --allow-download-network 10.0.0.0/8',
    );
    expect((await failure(get(`http://meta.example:${port}/file.bin`, guard))).message).toMatch(/resolves to 169\.254\.169\.254, which is not a public address \(link-local/);
    expect((await failure(get(`http://both.example:${port}/file.bin`, guard))).message).toBe(
      `http://both.example:${port}/file.bin resolves only to addresses that are not public: 127.0.0.1 (loopback), ::1 (loopback); allow them with --allow-download-network 127.0.0.0/8 --allow-download-network ::1/128`,
    );
    expect(asked).toBe(3);
    expect(server.traffic()).toEqual(before);
  });

  it('refuses a redirect from an allowed host to a loopback one at the hop', async () => {
    const guard = new EgressGuard(['127.0.0.1/32'], stub({ 'metadata.example': ['169.254.169.254'] }));
    const before = server.traffic().requests;
    const err = await failure(get(server.url('/to-other'), guard));
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect(err.message).toBe(
      `${server.url('/to-other')} (redirected to ${other.url('/secret')}) resolves to 127.0.0.2, which is not a public address (loopback); allow it with --allow-download-network 127.0.0.0/8`,
    );
    expect((await failure(get(server.url('/to-metadata'), guard))).message).toMatch(/\(redirected to http:\/\/metadata\.example\/latest\/meta-data\/\) resolves to 169\.254\.169\.254/);
    expect(server.traffic().requests - before).toBe(2); // the allowed hops were asked...
    expect(other.traffic()).toEqual({ connections: 0, requests: 0 }); // ...the refused one never was
  });

  it('lets exactly the allowed range through, and connects only to addresses it checked', async () => {
    const loopbackOnly = new EgressGuard(['127.0.0.1/32'], stub({ 'mixed.example': ['127.0.0.2', '127.0.0.1'] }));
    expect(await get(server.url('/file.bin'), loopbackOnly)).toEqual({ bytes: body.length, sha256: digest });
    expect((await failure(get(other.url('/secret'), loopbackOnly))).message).toMatch(/resolves to 127\.0\.0\.2, which is not a public address \(loopback\)/);
    // A name with a refused and an allowed address: the socket is given only the allowed one.
    expect(await get(`http://mixed.example:${port}/file.bin`, loopbackOnly)).toEqual({ bytes: body.length, sha256: digest });
    expect((await failure(get(server.url('/file.bin'), new EgressGuard(['10.0.0.0/8', '::1/128'])))).message).toMatch(/\(loopback\)/);
    expect(other.traffic()).toEqual({ connections: 0, requests: 0 });
    expect(() => new EgressGuard(['127.0.0.1/8'])).toThrow(/did you mean 127\.0\.0\.0\/8/);
  });
});

describe('every root-side download goes through the guard', () => {
  let steam: SteamFixture;
  beforeAll(async () => {
    steam = await startSteamFixture();
  });
  afterAll(() => steam.close());

  it('the Steam Web API base (operator-set) is refused like any URL, with no request', async () => {
    const err = await failure(getPublishedFileDetails(['123'], { base: steam.base, signal: signal(), egress: new EgressGuard() }));
    expect(err).toBeInstanceOf(SteamApiError);
    expect(err.message).toContain(`resolves to 127.0.0.1, which is not a public address (loopback); allow it with --allow-download-network 127.0.0.0/8`);
    expect(steam.count('/ISteamRemoteStorage/GetPublishedFileDetails/v1/')).toBe(0);
  });

  it("a workshop item whose file_url (Steam's answer, hostile data) points inside is refused, naming the item", async () => {
    steam.setItem({ id: '4001', title: 'Inside Job', fileUrl: other.url('/secret') });
    const { ctx, cleanup } = await scratchBuildContext({ overlay: 'maps', step: 0, steamApiBase: steam.base, maxDownloadBytes: 1 << 20, allowDownloadNetworks: ['127.0.0.1/32'] });
    try {
      const err = await failure(buildWorkshop({ items: ['4001'] }, ctx));
      expect(err).toBeInstanceOf(WorkshopItemsError);
      expect(err.message).toContain(`workshop item 4001 "Inside Job" could not be installed from Steam's file_url: ${other.url('/secret')} resolves to 127.0.0.2, which is not a public address (loopback)`);
    } finally {
      await cleanup();
    }
    expect(other.traffic()).toEqual({ connections: 0, requests: 0 });
  });

  it('a files entry names the overlay, the source and the file', async () => {
    const { ctx, cleanup } = await scratchBuildContext({ overlay: 'cfgs', step: 1, steamApiBase: steam.base, maxDownloadBytes: 1 << 20, allowDownloadNetworks: [] });
    const before = server.traffic();
    try {
      const err = await failure(buildFiles([{ path: 'left4dead2/cfg/x.cfg', url: server.url('/file.bin'), sha256: digest, mode: '0644' }], ctx));
      expect(err).toBeInstanceOf(BuildStepError);
      expect(err.message).toBe(
        `overlay cfgs, source 1, file "left4dead2/cfg/x.cfg": ${server.url('/file.bin')} resolves to 127.0.0.1, which is not a public address (loopback); allow it with --allow-download-network 127.0.0.0/8`,
      );
    } finally {
      await cleanup();
    }
    expect(server.traffic()).toEqual(before);
  });
});
