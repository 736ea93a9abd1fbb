import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../test/support/http-fixture.js';
import { SteamNames } from './steam-names.js';

const KEY = 'KEY0123456789ABCDEF';
const PATH = '/ISteamUser/GetPlayerSummaries/v2/';
let steam: FixtureServer;
let answer: { status: number; body: string } | undefined;
const asked: string[] = [];

beforeAll(async () => {
  steam = await startFixtureServer({
    [PATH]: (req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      asked.push(q.get('steamids') ?? '');
      if (answer) return void res.writeHead(answer.status).end(answer.body);
      const players = (q.get('steamids') ?? '').split(',').filter((id) => id !== '76561197960265729').map((id) => ({ steamid: id, personaname: `p${id.slice(-2)}`, avatarmedium: id.endsWith('3') ? 'javascript:alert(1)' : `https://a/${id}` }));
      res.writeHead(200).end(JSON.stringify({ response: { players } }));
    },
  });
});
afterAll(() => steam.close());

describe('SteamNames', () => {
  it('answers from the cache at once, fetches in the background once per TTL, and drops unsafe avatars', async () => {
    let now = 1_000_000;
    const names = new SteamNames({ key: KEY, apiBase: steam.url('/'), ttlMs: 60_000, now: () => now, avatarHosts: ['a'] });
    const ids = ['76561197960265730', '76561197960265733', '76561197960265729', 'not-an-id'];
    asked.length = 0;
    expect(names.lookup(ids).size).toBe(0);
    await expect.poll(() => names.lookup(ids).size).toBe(2);
    expect(names.lookup(ids)).toEqual(new Map([['76561197960265730', { name: 'p30', avatar: 'https://a/76561197960265730' }], ['76561197960265733', { name: 'p33' }]]));
    // One question for the three ids (the unknown one remembered too); nothing more within the TTL.
    expect(asked).toEqual(['76561197960265730,76561197960265733,76561197960265729']);
    now += 61_000;
    expect(names.lookup(ids).size).toBe(2); // stale answers still serve while the refresh runs
    await expect.poll(() => asked.length).toBe(2);
  });

  it('backs off after a failure and never puts the key in a warning', async () => {
    let now = 5_000_000;
    const warnings: string[] = [];
    const names = new SteamNames({ key: KEY, apiBase: steam.url('/'), now: () => now, warn: (m) => warnings.push(m) });
    answer = { status: 403, body: `bad key ${KEY}` };
    asked.length = 0;
    names.lookup(['76561197960265740']);
    await expect.poll(() => warnings.length).toBe(1);
    names.lookup(['76561197960265740']);
    expect(asked).toHaveLength(1);
    now += 61_000;
    answer = undefined;
    names.lookup(['76561197960265740']);
    await expect.poll(() => names.lookup(['76561197960265740']).get('76561197960265740')?.name).toBe('p40');
    const unreachable = new SteamNames({ key: KEY, apiBase: 'http://127.0.0.1:1/', warn: (m) => warnings.push(m) });
    unreachable.lookup(['76561197960265741']);
    await expect.poll(() => warnings.length).toBe(2);
    expect(warnings[0]).toBe('Steam GetPlayerSummaries answered HTTP 403; persona names stay unknown for now');
    for (const w of warnings) expect(w).not.toContain(KEY);
  });

  it('does nothing without a key', () => {
    const names = new SteamNames({ apiBase: steam.url('/') });
    asked.length = 0;
    expect(names.enabled).toBe(false);
    expect(names.lookup(['76561197960265730']).size).toBe(0);
    expect(asked).toHaveLength(0);
  });
});
