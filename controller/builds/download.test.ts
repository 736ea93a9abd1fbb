import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../test/support/http-fixture.js';
import { download, downloadName } from './download.js';
import { EgressGuard } from './egress.js';
import { BuildStepError } from './source.js';

const body = Buffer.from('map pack bytes\n'.repeat(1000));
const digest = createHash('sha256').update(body).digest('hex');
const never = new AbortController().signal;
// The fixture listens on loopback, which only an operator's allowance makes reachable.
const egress = new EgressGuard(['127.0.0.1/32']);

let server: FixtureServer;
let dir: string;

beforeAll(async () => {
  server = await startFixtureServer({
    '/file.bin': { body },
    '/hop1': { redirect: '/hop2' },
    '/hop2': { redirect: '/file.bin', status: 301 },
    '/loop': { redirect: '/loop' },
    '/to-ftp': { redirect: 'ftp://example.invalid/x' },
    '/to-garbage': { redirect: 'http://[bad' },
    '/missing': { body: 'gone', status: 404 },
    '/lying': { body: 'small', contentLength: 10_000_000 },
    '/huge-unannounced': (_req, res) => {
      res.writeHead(200); // chunked: no Content-Length, so only counting can stop it
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(64 * 1024));
      res.end();
    },
    '/truncated': { body, truncateAfter: 100 },
    '/slow': { body, chunkSize: 10, delayMs: 200 },
  });
});
afterAll(() => server.close());
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'l4m-download-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('download', () => {
  it('streams, verifies and renames into place, logging start, size and digest', async () => {
    const lines: string[] = [];
    const dest = join(dir, 'out.bin');
    const got = await download(server.url('/file.bin'), dest, { sha256: digest.toUpperCase(), maxBytes: 1 << 20, signal: never, egress, log: (l) => lines.push(l) });
    expect(got).toEqual({ bytes: body.length, sha256: digest });
    expect(await readFile(dest)).toEqual(body);
    expect(await readdir(dir)).toEqual(['out.bin']);
    expect(lines[0]).toContain('downloading');
    expect(lines.some((l) => l.includes(`size ${body.length}`))).toBe(true);
    expect(lines.at(-1)).toContain(digest);
  });

  it('follows redirects, and refuses more than five or a non-http target', async () => {
    const dest = join(dir, 'out.bin');
    await download(server.url('/hop1'), dest, { sha256: digest, maxBytes: 1 << 20, signal: never, egress });
    expect(await readFile(dest)).toEqual(body);
    expect((await failure(download(server.url('/loop'), join(dir, 'x'), { maxBytes: 100, signal: never, egress }))).message).toMatch(/redirected more than 5 times/);
    expect((await failure(download(server.url('/to-ftp'), join(dir, 'x'), { maxBytes: 100, signal: never, egress }))).message).toMatch(/only http and https/);
    expect((await failure(download(server.url('/to-garbage'), join(dir, 'x'), { maxBytes: 100, signal: never, egress }))).message).toMatch(/redirected to "http:\/\/\[bad", which is not a valid URL/);
    expect((await failure(download('file:///etc/passwd', join(dir, 'x'), { maxBytes: 100, signal: never, egress }))).message).toMatch(/only http and https/);
  });

  it('names status and URL on a non-2xx answer', async () => {
    const err = await failure(download(server.url('/missing'), join(dir, 'x'), { maxBytes: 100, signal: never, egress }));
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain(server.url('/missing'));
    expect(await readdir(dir)).toEqual([]);
  });

  it('names both digests on a mismatch and leaves nothing behind', async () => {
    const wrong = '0'.repeat(64);
    const err = await failure(download(server.url('/file.bin'), join(dir, 'out.bin'), { sha256: wrong, maxBytes: 1 << 20, signal: never, egress }));
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(digest);
    expect(err.message).toMatch(/update the document's sha256/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses an announced size over the limit without reading the body', async () => {
    const err = await failure(download(server.url('/lying'), join(dir, 'x'), { maxBytes: 1000, signal: never, egress }));
    expect(err.message).toMatch(/10000000 bytes \(Content-Length\), more than the limit of 1000/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('stops reading an unannounced body once it passes the limit', async () => {
    const err = await failure(download(server.url('/huge-unannounced'), join(dir, 'x'), { maxBytes: 256 * 1024, signal: never, egress }));
    expect(err.message).toMatch(/larger than the limit of 262144 bytes/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a known expected size over the limit, and a size different from the expected one', async () => {
    expect((await failure(download(server.url('/file.bin'), join(dir, 'x'), { maxBytes: 10, expectedBytes: 11, signal: never, egress }))).message).toMatch(/more than the limit/);
    const err = await failure(download(server.url('/file.bin'), join(dir, 'x'), { maxBytes: 1 << 20, expectedBytes: 5, signal: never, egress }));
    expect(err.message).toMatch(/but 5 were expected/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails a truncated transfer and leaves no file', async () => {
    const err = await failure(download(server.url('/truncated'), join(dir, 'x'), { maxBytes: 1 << 20, signal: never, egress }));
    expect(err.message).toContain(server.url('/truncated'));
    expect(await readdir(dir)).toEqual([]);
  });

  it('stops when the signal fires (timeout)', async () => {
    const err = await failure(download(server.url('/slow'), join(dir, 'x'), { maxBytes: 1 << 20, signal: AbortSignal.timeout(300), egress }));
    expect(err.message).toMatch(/stopped after \d+ bytes/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('downloadName', () => {
  it("names a download by its path's last segment, decoded, never by its query, fragment or credentials", () => {
    expect(downloadName('https://user:hunter2@example.org/a/maps%20pack.7z?token=s3cret#x')).toBe('maps pack.7z');
    expect(downloadName('https://example.org/')).toBe('example.org');
    expect(downloadName('https://example.org/%E0%A4%A')).toBe('%E0%A4%A');
    expect(downloadName('https://example.org/a%0D%0Ab%1B.zip')).toBe('ab.zip');
    expect(downloadName(`https://example.org/${'x'.repeat(200)}.zip`)).toHaveLength(60);
    expect(downloadName('not a url')).toBe('file');
  });
});
