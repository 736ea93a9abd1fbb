import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COLLECTION_PATH, DETAILS_PATH, startSteamFixture, type SteamFixture } from '../../test/support/steam-fixture.js';
import { EgressGuard } from './egress.js';
import { getCollectionDetails, getPublishedFileDetails, SteamApiError } from './steam-api.js';

let steam: SteamFixture;
// The stand-in listens on loopback, which only an operator's allowance makes reachable.
const egress = new EgressGuard(['127.0.0.1/32']);
const opts = () => ({ base: steam.base, signal: AbortSignal.timeout(10_000), egress });

beforeEach(async () => {
  steam = await startSteamFixture();
});
afterEach(async () => {
  await steam.close();
});

describe('getPublishedFileDetails', () => {
  it('posts the documented form and returns typed records', async () => {
    steam.setItem({ id: '698857882', title: 'Tickrate Enabler test map', timeUpdated: 1690000000, content: 'vpk bytes' });
    const [d] = await getPublishedFileDetails(['698857882'], opts());
    expect(steam.forms(DETAILS_PATH)).toEqual([{ itemcount: '1', 'publishedfileids[0]': '698857882' }]);
    expect(d).toEqual({
      publishedfileid: '698857882',
      result: 1,
      file_url: `${steam.base}ugc/698857882/1690000000/698857882.vpk`,
      filename: '698857882.vpk',
      file_size: 9,
      time_updated: 1690000000,
      title: 'Tickrate Enabler test map',
      consumer_app_id: 550,
      banned: false,
    });
  });

  it('normalises file_size sent as a string, and keeps what Steam sends for unavailable ids', async () => {
    steam.setItem({ id: '2524204971', content: '12345', fileSizeAsString: true, banned: true });
    const [a, b] = await getPublishedFileDetails(['2524204971', '123456789'], opts());
    expect(a).toMatchObject({ file_size: 5, banned: true });
    expect(b).toEqual({ publishedfileid: '123456789', result: 9, file_url: '', filename: '', file_size: undefined, time_updated: undefined, title: '', consumer_app_id: undefined, banned: false });
  });

  it('asks in batches of at most 100 ids', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => String(3000000000 + i));
    for (const id of ids) steam.setItem({ id });
    const out = await getPublishedFileDetails(ids, opts());
    expect(out.map((d) => d.publishedfileid)).toEqual(ids);
    const forms = steam.forms(DETAILS_PATH);
    expect(forms.map((f) => f.itemcount)).toEqual(['100', '50']);
    expect(forms[1]!['publishedfileids[0]']).toBe('3000000100');
    expect(forms[1]!['publishedfileids[49]']).toBe('3000000149');
  });

  it('asks nothing for no ids', async () => {
    expect(await getPublishedFileDetails([], opts())).toEqual([]);
    expect(steam.count(DETAILS_PATH)).toBe(0);
  });
});

describe('getCollectionDetails', () => {
  it('posts collectioncount and returns children with sortorder and filetype', async () => {
    steam.setCollection({ id: '1959405608', children: [{ id: '698857882' }, { id: '2400000000', filetype: 2, sortorder: 7 }] });
    steam.setCollection({ id: '2400000000', children: [] });
    const out = await getCollectionDetails(['1959405608', '2400000000'], opts());
    expect(steam.forms(COLLECTION_PATH)).toEqual([{ collectioncount: '2', 'publishedfileids[0]': '1959405608', 'publishedfileids[1]': '2400000000' }]);
    expect(out).toEqual([
      {
        publishedfileid: '1959405608',
        result: 1,
        children: [
          { publishedfileid: '698857882', sortorder: 1, filetype: 0 },
          { publishedfileid: '2400000000', sortorder: 7, filetype: 2 },
        ],
      },
      { publishedfileid: '2400000000', result: 1, children: [] },
    ]);
  });
});

describe('bad answers are clear errors naming the endpoint', () => {
  const cases: Array<{ name: string; status: number; body: string; contentType?: string; expect: RegExp }> = [
    { name: 'an HTML page with 200', status: 200, body: '<html><body>Service Unavailable</body></html>', contentType: 'text/html', expect: /GetPublishedFileDetails: .* answered something that is not JSON \(starts with "<html><body>Service/ },
    { name: 'HTTP 500', status: 500, body: '{}', expect: /GetPublishedFileDetails: .* answered HTTP 500 Internal Server Error; retry later/ },
    { name: 'no response object', status: 200, body: '{"error":"x"}', expect: /GetPublishedFileDetails: unexpected answer: the answer has no "response" object/ },
    { name: 'no details list', status: 200, body: '{"response":{"result":1,"resultcount":0}}', expect: /GetPublishedFileDetails: unexpected answer: response.publishedfiledetails is not a list/ },
    { name: 'an entry without id', status: 200, body: '{"response":{"result":1,"resultcount":1,"publishedfiledetails":[{"result":1}]}}', expect: /response.publishedfiledetails\[0\].publishedfileid is missing, not a published file id/ },
    { name: 'a title that is not a string', status: 200, body: '{"response":{"result":1,"publishedfiledetails":[{"publishedfileid":"1","result":1,"title":5}]}}', expect: /response.publishedfiledetails\[0\].title is 5, not a string/ },
    { name: 'a size that is not a number', status: 200, body: '{"response":{"result":1,"publishedfiledetails":[{"publishedfileid":"1","result":1,"file_size":"big"}]}}', expect: /file_size is "big", not an integer/ },
    { name: 'a refused request', status: 200, body: '{"response":{"result":8,"resultcount":0}}', expect: /Steam refused the request \(response.result 8\)/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      steam.override(DETAILS_PATH, { status: c.status, body: c.body, ...(c.contentType ? { contentType: c.contentType } : {}) });
      const err = await getPublishedFileDetails(['698857882'], opts()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SteamApiError);
      expect((err as SteamApiError).endpoint).toBe('GetPublishedFileDetails');
      expect((err as Error).message).toMatch(/^Steam Web API GetPublishedFileDetails: /);
      expect((err as Error).message).toMatch(c.expect);
    });
  }

  it('a collection whose children are not a list', async () => {
    steam.override(COLLECTION_PATH, { status: 200, body: '{"response":{"result":1,"collectiondetails":[{"publishedfileid":"1","result":1,"children":{}}]}}' });
    await expect(getCollectionDetails(['1'], opts())).rejects.toThrow(/^Steam Web API GetCollectionDetails: unexpected answer: response.collectiondetails\[0\].children is not a list/);
  });

  it('an API that does not answer in time', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
      const err = await getPublishedFileDetails(['698857882'], { base, signal: AbortSignal.timeout(10_000), timeoutMs: 200, egress }).catch((e: unknown) => e);
      expect((err as Error).message).toBe(`Steam Web API GetPublishedFileDetails: request to ${base}ISteamRemoteStorage/GetPublishedFileDetails/v1/ failed: no answer in time; retry later`);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('a cancelled build', async () => {
    const ac = new AbortController();
    ac.abort(new Error('build cancelled'));
    await expect(getPublishedFileDetails(['698857882'], { base: steam.base, signal: ac.signal, egress })).rejects.toThrow(/failed: build cancelled; retry later/);
  });
});
