import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse, type SseClient } from '../../test/support/sse-client.js';
import { packageRoot } from '../package-root.js';
import { StatusStore, type DocumentStatus } from '../status/store.js';
import { buildWebApp } from './app.js';
import type { LiveOptions } from './live-options.js';
import { UserStore } from './users.js';

// GET /api/v1/events over real HTTP: status files written as the controller
// writes them (StatusStore, atomic renames), events read as a browser would.
const root = mkdtempSync(join(tmpdir(), 'left4me-events-'));
const stateDir = join(root, 'state');
const status = new StatusStore(join(root, 'data', 'status'));
const tokens: Record<'admin' | 'alice' | 'bob' | 'carol', string> = { admin: '', alice: '', bob: '', carol: '' };
const open: SseClient[] = [];

function instanceStatus(name: string, players: number, extra: Partial<DocumentStatus> = {}): DocumentStatus {
  return {
    kind: 'Instance',
    name,
    conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'the server runs the current documents', observedGeneration: 'g', lastTransitionTime: '2026-01-01T00:00:00.000Z' }],
    port: 27020,
    clientPort: 26920,
    uid: 1879048192,
    players,
    maxPlayers: 8,
    unit: { activeState: 'active', subState: 'running', mainPid: 4242 },
    lastError: { message: 'rcon_password "hunter2" in server.cfg line 3', time: '2026-01-01T00:00:00.000Z' },
    events: [],
    ...extra,
  };
}

async function startApp(live: LiveOptions) {
  const app = await buildWebApp({ stateDir, dataDir: join(root, 'data'), webDataDir: join(root, 'web'), live });
  return { app, base: await app.listen({ host: '127.0.0.1', port: 0 }) };
}

let main: Awaited<ReturnType<typeof startApp>>;
const sse = async (who: keyof typeof tokens, headers: Record<string, string> = {}, base = main.base) => {
  const c = await openSse(`${base}/api/v1/events`, { authorization: `Bearer ${tokens[who]}`, ...headers });
  open.push(c);
  return c;
};
/** Waits until the feed has taken a write: a fresh stream shows the value in its snapshot or in an event right after it. */
async function settled(name: string, n: number): Promise<void> {
  let p = await sse('admin');
  // A probe just closed may still count against the admin's streams for a moment.
  for (let i = 0; i < 100 && p.status === 429; i++) p = await sse('admin');
  await p.waitFor(`${name} with ${n}`, (e) => JSON.stringify(e.data).includes(`"name":"${name}","ready":"True","reason":"Succeeded","message":"the server runs the current documents","port":27020,"players":${n},`));
  p.close();
}
const players = (name: string, n: number) => (e: { event: string; data: unknown }) => e.event === 'status' && (e.data as { name: string; players?: number }).name === name && (e.data as { players?: number }).players === n;

beforeAll(async () => {
  cpSync(join(packageRoot(), 'state.example', 'demo'), stateDir, { recursive: true });
  for (const [name, owner] of [['alice-1', 'alice'], ['bob-1', 'bob']]) {
    writeFileSync(join(stateDir, 'instances', `${name}.yaml`), `apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: ${name}, owner: ${owner}}\nspec: {blueprint: demo-coop}\n`);
  }
  await status.write(instanceStatus('alice-1', 1));
  await status.write(instanceStatus('demo-1', 0));
  const users = new UserStore(join(root, 'web'));
  await users.add('admin', 'an admin password', 'admin');
  await users.add('alice', 'alice password 1', 'user');
  await users.add('bob', 'bobs password 12', 'user');
  await users.add('carol', 'carols password 1', 'user');
  for (const who of ['admin', 'alice', 'bob', 'carol'] as const) tokens[who] = await users.createToken(who);
  main = await startApp({ heartbeatMs: 200, eventStreamsPerUser: 4, ringSize: 64 });
});

afterAll(async () => {
  for (const c of open) c.close();
  await main.app.close();
  rmSync(root, { recursive: true, force: true });
});

describe('GET /api/v1/events', () => {
  it('starts a fresh stream with a snapshot of what the caller may see, as text/event-stream', async () => {
    const alice = await sse('alice');
    const bob = await sse('bob');
    expect(alice.status).toBe(200);
    expect(alice.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const snap = await alice.waitFor('a snapshot', (e) => e.event === 'snapshot');
    expect(snap.id).toMatch(/^[0-9a-f]{8}-\d+$/);
    const names = (snap.data as { items: Array<{ name: string }> }).items.map((i) => i.name);
    expect(names).toEqual(['alice-1', 'demo-1']);
    const bobSnap = await bob.waitFor('a snapshot', (e) => e.event === 'snapshot');
    expect((bobSnap.data as { items: Array<{ name: string }> }).items.map((i) => i.name)).toEqual(['demo-1']);
    alice.close();
    bob.close();
  });

  it('refuses a stream without an account', async () => {
    const r = await fetch(`${main.base}/api/v1/events`);
    expect(r.status).toBe(401);
  });

  it("sends each status change as a numbered event with the summary only, and never another user's to a user", async () => {
    const [admin, alice, bob] = [await sse('admin'), await sse('alice'), await sse('bob')];
    for (const c of [admin, alice, bob]) await c.waitFor('a snapshot', (e) => e.event === 'snapshot');
    await status.write(instanceStatus('alice-1', 5));
    await status.write(instanceStatus('demo-1', 2));
    const ev = await alice.waitFor('alice-1 with 5 players', players('alice-1', 5));
    expect(ev.data).toEqual({ kind: 'Instance', name: 'alice-1', ready: 'True', reason: 'Succeeded', message: 'the server runs the current documents', port: 27020, players: 5, maxPlayers: 8, unit: 'active' });
    await admin.waitFor('alice-1 for the admin', players('alice-1', 5));
    // demo-1 was written after alice-1: once bob has it, he would have had alice-1's too.
    await bob.waitFor('demo-1 for bob', players('demo-1', 2));
    expect(bob.events.filter((e) => JSON.stringify(e.data).includes('alice-1'))).toEqual([]);
    const ids = alice.events.filter((e) => e.event === 'status').map((e) => Number(e.id!.split('-')[1]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const c of [admin, alice, bob]) {
      const text = JSON.stringify(c.events);
      for (const secret of ['hunter2', '4242', '1879048192']) expect(text).not.toContain(secret);
      c.close();
    }
  });

  it('resumes from Last-Event-ID with exactly the events missed: no loss, no duplicate, no snapshot', async () => {
    const first = await sse('admin');
    await first.waitFor('a snapshot', (e) => e.event === 'snapshot');
    await status.write(instanceStatus('alice-1', 6));
    const seen = await first.waitFor('alice-1 with 6', players('alice-1', 6));
    first.close();
    // While disconnected: three changes.
    for (const n of [7, 8]) {
      await status.write(instanceStatus('alice-1', n));
      // Each write waits for the feed to take it, so the three are three events (a burst may be coalesced into fewer).
      await settled('alice-1', n);
    }
    await status.write(instanceStatus('demo-1', 3));
    const again = await sse('admin', { 'last-event-id': seen.id! });
    // demo-1 was written last: every event before it has arrived by now.
    await again.waitFor('demo-1 with 3', players('demo-1', 3));
    expect(again.events.map((e) => [e.event, (e.data as { name: string }).name, (e.data as { players: number }).players])).toEqual([
      ['status', 'alice-1', 7],
      ['status', 'alice-1', 8],
      ['status', 'demo-1', 3],
    ]);
    const seqs = again.events.map((e) => Number(e.id!.split('-')[1]));
    expect(seqs).toEqual([Number(seen.id!.split('-')[1]) + 1, Number(seen.id!.split('-')[1]) + 2, Number(seen.id!.split('-')[1]) + 3]);
    again.close();
  });

  it('answers an id it cannot resume from (another run, too old, not an id) with a snapshot first', async () => {
    const snap = await sse('admin');
    const current = (await snap.waitFor('a snapshot', (e) => e.event === 'snapshot')).id!;
    snap.close();
    const [epoch] = current.split('-');
    const otherRun = `${epoch === 'ffffffff' ? '00000000' : 'ffffffff'}-1`;
    for (const id of [otherRun, `${epoch}-0`, 'garbage', `${epoch}-999999`]) {
      if (id === `${epoch}-0`) {
        // Push event 1 out of the ring (64 events): a resume from 0 would lose it.
        for (let i = 0; i < 70; i++) {
          await status.write(instanceStatus('demo-2', 100 + i));
          await settled('demo-2', 100 + i);
        }
      }
      const c = await sse('admin', { 'last-event-id': id });
      const first = await c.waitFor('the first event', () => true);
      expect(first.event, `Last-Event-ID ${id}`).toBe('snapshot');
      c.close();
    }
  });

  it('sends deleted when a status goes away', async () => {
    await status.write(instanceStatus('demo-3', 1));
    await settled('demo-3', 1);
    const c = await sse('bob');
    await c.waitFor('a snapshot with demo-3', (e) => e.event === 'snapshot' && JSON.stringify(e.data).includes('demo-3'));
    await status.remove('Instance', 'demo-3');
    const d = await c.waitFor('deleted demo-3', (e) => e.event === 'deleted');
    expect(d.data).toEqual({ kind: 'Instance', name: 'demo-3' });
    c.close();
  });

  it('ends up at the last value after a burst of writes, ids increasing', async () => {
    const c = await sse('admin');
    await c.waitFor('a snapshot', (e) => e.event === 'snapshot');
    for (let i = 0; i < 200; i++) await status.write(instanceStatus('demo-1', 1000 + i));
    await c.waitFor('the last write', players('demo-1', 1199));
    const seqs = c.events.filter((e) => e.event === 'status').map((e) => Number(e.id!.split('-')[1]));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    c.close();
  });

  it('sends ping comments so proxies keep the stream open', async () => {
    const c = await sse('alice');
    await c.waitFor('a snapshot', (e) => e.event === 'snapshot');
    const deadline = Date.now() + 10_000;
    while (!c.comments.includes('ping') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(c.comments).toContain('ping');
    c.close();
  });

  it('caps the streams one account holds (429), others unaffected', async () => {
    // carol has held no stream before: earlier tests' closed streams cannot count against her.
    const held = [await sse('carol'), await sse('carol'), await sse('carol'), await sse('carol')];
    for (const c of held) await c.waitFor('a snapshot', (e) => e.event === 'snapshot');
    const over = await fetch(`${main.base}/api/v1/events`, { headers: { authorization: `Bearer ${tokens.carol}` } });
    expect(over.status).toBe(429);
    expect(((await over.json()) as { error: string }).error).toContain('carol already has 4 open event streams');
    const alice = await sse('alice');
    expect(alice.status).toBe(200);
    alice.close();
    for (const c of held) c.close();
  });
});

describe('a service started before the controller', () => {
  it('sees the status directory appear and streams what is written into it, without waiting for a rescan', async () => {
    const fresh = join(root, 'fresh-data');
    const app = await buildWebApp({ stateDir, dataDir: fresh, webDataDir: join(root, 'web'), live: { rescanMs: 3_600_000 } });
    try {
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      const c = await openSse(`${base}/api/v1/events`, { authorization: `Bearer ${tokens.admin}` });
      expect((await c.waitFor('a snapshot', (e) => e.event === 'snapshot')).data).toEqual({ items: [] });
      await new StatusStore(join(fresh, 'status')).write(instanceStatus('demo-1', 9));
      await c.waitFor('demo-1 from the new directory', players('demo-1', 9));
      c.close();
    } finally {
      await app.close();
    }
  });
});

describe('a stream that is not read, and shutdown', () => {
  it('drops a client that stops reading instead of buffering for it, and app.close() ends open streams', async () => {
    const small = await startApp({ maxBuffered: 64 * 1024, eventStreamsPerUser: 1, eventStreams: 2 });
    try {
      // A raw client that sends its request and then never reads.
      const url = new URL(small.base);
      const sock = connect(Number(url.port), url.hostname);
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(`GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.alice}\r\n\r\n`);
      sock.pause();
      // It holds alice's only stream.
      const deadline = Date.now() + 10_000;
      let code = 0;
      while (Date.now() < deadline) {
        code = (await fetch(`${small.base}/api/v1/events`, { headers: { authorization: `Bearer ${tokens.alice}` }, signal: AbortSignal.timeout(2000) }).then(async (r) => { await r.body?.cancel(); return r.status; }));
        if (code === 429) break;
      }
      expect(code).toBe(429);
      // Flood: long messages, until more than the kernel's socket buffers hold (a few MiB) is unsent.
      // The feed coalesces a burst, so the loop runs to a deadline rather than a count.
      const long = 'x'.repeat(256 * 1024);
      let freed = false;
      const floodUntil = Date.now() + 90_000;
      for (let i = 0; !freed && Date.now() < floodUntil; i++) {
        await status.write(instanceStatus('alice-1', 10_000 + i, { conditions: [{ type: 'Ready', status: 'False', reason: 'Failed', message: `${long}${i}`, observedGeneration: 'g', lastTransitionTime: '2026-01-01T00:00:00.000Z' }] }));
        // Paced past the feed's coalescing window, so that the writes become separate events (pacing only: nothing is asserted on time).
        await new Promise((r) => setTimeout(r, 40));
        if (i % 10 === 9) {
          const r = await fetch(`${small.base}/api/v1/events`, { headers: { authorization: `Bearer ${tokens.alice}` } });
          await r.body?.cancel();
          freed = r.status === 200;
        }
      }
      expect(freed).toBe(true);
      sock.destroy();
      // Two streams at most, whoever holds them: a third account waits its turn (503).
      const held = await openSse(`${small.base}/api/v1/events`, { authorization: `Bearer ${tokens.bob}` });
      const bobs = await held.waitFor('a snapshot', (e) => e.event === 'snapshot');
      expect(bobs.event).toBe('snapshot');
      const alices = await openSse(`${small.base}/api/v1/events`, { authorization: `Bearer ${tokens.alice}` });
      await alices.waitFor('a snapshot', (e) => e.event === 'snapshot');
      const third = await fetch(`${small.base}/api/v1/events`, { headers: { authorization: `Bearer ${tokens.carol}` } });
      expect(third.status).toBe(503);
      held.close();
      alices.close();
      const live = await openSse(`${small.base}/api/v1/events`, { authorization: `Bearer ${tokens.admin}` });
      await live.waitFor('a snapshot', (e) => e.event === 'snapshot');
      await small.app.close();
      await live.ended;
    } finally {
      await small.app.close();
    }
  }, 120_000);
});
