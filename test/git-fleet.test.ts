// One repository for a fleet, with real git and two real hosts: two private
// systemd hosts (node names `a` and `b`), each with its own controller
// following the same bare repository. A commit reaches the server it
// changes; a commit with an invalid document keeps the last good commit
// serving (the server untouched) and says commit, author and file:line; the
// next good commit recovers; a force-push, a deleted branch and an
// unreachable remote are each reported and change nothing; moving an
// instance from `a` to `b` in one commit stops it on `a` and starts it on `b`
// with a lease from b's range; a trigger file (what the webhook route
// writes) makes the controller fetch without waiting for its poll.
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GitSourceConfig, SourceStatus } from '../controller/sources/types.js';
import { BASE_DOCS, bootDemoHost, condition, queryServer, startController, unitFacts, waitFor, type DemoHost } from './support/demo-host.js';
import { git, Upstream } from './support/git-fixtures.js';

const NODES = {
  a: { game: { min: 28000, max: 28004 }, client: { min: 29000, max: 29004 } },
  b: { game: { min: 28005, max: 28009 }, client: { min: 29005, max: 29009 } },
} as const;
type Node = keyof typeof NODES;

let scratch: string;
let upstream: Upstream;
const hosts = {} as Record<Node, DemoHost>;
const controllers = {} as Record<Node, Awaited<ReturnType<typeof startController>>>;

/** The mover instance as the repository holds it. */
function mover(node: Node, hostname: string, extra: string[] = []): string {
  return [
    'apiVersion: left4me/v1',
    'kind: Instance',
    'metadata: {name: mover}',
    'spec:',
    '  blueprint: coop',
    `  node: ${node}`,
    '  updatePolicy: immediate',
    `  cvars: {hostname: "${hostname}"}`,
    ...extra.map((l) => `  ${l}`),
  ].join('\n') + '\n';
}

const source = (): GitSourceConfig => ({
  name: 'fleet',
  url: upstream.bare,
  ref: { branch: 'main' },
  path: 'fleet',
  // Ten minutes: in this test only a trigger or an explicit fetch makes a fetch.
  intervalMs: 600_000,
  submodules: false,
  allowForcePush: false,
});

const sourceStatus = (n: Node): SourceStatus => JSON.parse(readFileSync(join(hosts[n].host.dirs.varLib, 'status', 'sources', 'fleet.json'), 'utf8')) as SourceStatus;
const moverStatus = (n: Node) => hosts[n].status.read('Instance', 'mover');
const facts = (n: Node) => unitFacts(hosts[n].host, 'left4me-server@mover.service');
async function fetchBoth() {
  return { a: await controllers.a.controller.fetchSource('fleet'), b: await controllers.b.controller.fetchSource('fleet') };
}
async function hostnameOf(port: number): Promise<string> {
  return (await queryServer(port)).name;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'left4me-fleet-'));
  upstream = new Upstream(scratch);
  upstream.commit({ 'fleet/base.yaml': BASE_DOCS, 'fleet/instances/mover.yaml': mover('a', 'fleet one'), 'README.md': 'the fleet' }, 'Start the fleet');
  upstream.push();
  for (const n of ['a', 'b'] as const) {
    hosts[n] = await bootDemoHost();
    controllers[n] = await startController(hosts[n], { node: n, portRanges: NODES[n], sources: [source()] });
  }
}, 120_000);

afterAll(async () => {
  for (const n of ['a', 'b'] as const) {
    await controllers[n]?.stop();
    await hosts[n]?.stop();
  }
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('one repository for a fleet of two real hosts', { timeout: 240_000 }, () => {
  it('converges from the repository on the node the instance names, and only there', async () => {
    const first = git(upstream.work, ['rev-parse', 'HEAD']);
    for (const n of ['a', 'b'] as const) await waitFor(`${n} serves the first commit`, async () => sourceStatus(n).serving?.commit === first, 30_000);
    const ready = await waitFor('mover Ready on a', async () => {
      const s = await moverStatus('a');
      return condition(s, 'Ready') === 'True' ? s : undefined;
    }, 60_000);
    expect(ready.port).toBeGreaterThanOrEqual(NODES.a.game.min);
    expect(ready.port).toBeLessThanOrEqual(NODES.a.game.max);
    expect(await hostnameOf(ready.port!)).toBe('fleet one');
    // b reads the same document and runs nothing of it.
    await controllers.b.controller.idle();
    expect((await facts('b')).ActiveState).toBe('inactive');
    expect((await moverStatus('b'))?.port).toBeUndefined();
  });

  it('a new commit with a changed hostname reaches the server', async () => {
    const c = upstream.commit({ 'fleet/instances/mover.yaml': mover('a', 'fleet two') }, 'Rename the server');
    upstream.push();
    const before = await facts('a');
    const out = await fetchBoth();
    expect(out.a.result).toBe('served');
    expect(sourceStatus('a').serving?.commit).toBe(c);
    const port = (await moverStatus('a'))!.port!;
    await waitFor('the new hostname on the server', async () => (await hostnameOf(port).catch(() => '')) === 'fleet two', 60_000);
    expect((await facts('a')).InvocationID).not.toBe(before.InvocationID);
  });

  it('a commit with an invalid document keeps the last good commit serving, the server untouched, and says where; the next good commit recovers', async () => {
    const good = sourceStatus('a').serving!.commit;
    const before = await facts('a');
    const bad = upstream.commit({ 'fleet/instances/mover.yaml': mover('a', 'fleet three', ['maxPlayerz: 8']) }, 'Typo in a field', 'Bo Broken <bo@example.org>');
    upstream.push();
    const out = await fetchBoth();
    expect(out.a.result).toBe('refused');
    const st = sourceStatus('a');
    expect(st.serving?.commit).toBe(good);
    expect(st.lastError?.reason).toBe('invalid');
    expect(st.lastError?.commit?.commit).toBe(bad);
    expect(st.lastError?.commit?.author).toContain('Bo Broken');
    const problem = st.lastError?.problems?.[0];
    expect(problem?.origin?.file ?? problem?.file).toBe('fleet/instances/mover.yaml');
    expect(problem?.line).toBe(9);
    expect(problem?.message).toMatch(/maxPlayerz/);
    // Both hosts judged the same commit the same way.
    expect(sourceStatus('b').lastError?.commit?.commit).toBe(bad);
    await controllers.a.controller.idle();
    const after = await facts('a');
    expect(after.InvocationID).toBe(before.InvocationID);
    expect(after.NRestarts).toBe(before.NRestarts);

    const fixed = upstream.commit({ 'fleet/instances/mover.yaml': mover('a', 'fleet two') }, 'Fix the typo');
    upstream.push();
    expect((await fetchBoth()).a.result).toBe('served');
    expect(sourceStatus('a').serving?.commit).toBe(fixed);
    expect(sourceStatus('a').lastError).toBeNull();
    // The fixed commit changes nothing the server runs: no restart for it.
    await controllers.a.controller.idle();
    expect((await facts('a')).InvocationID).toBe(before.InvocationID);
  });

  it('a force-push, a deleted branch and an unreachable remote are each reported and change nothing', async () => {
    const serving = sourceStatus('a').serving!.commit;
    const before = await facts('a');
    const unchanged = async (reason: string) => {
      const st = sourceStatus('a');
      expect(st.lastError?.reason).toBe(reason);
      expect(st.serving?.commit).toBe(serving);
      await controllers.a.controller.idle();
      expect((await facts('a')).InvocationID).toBe(before.InvocationID);
    };

    // A rewritten history (the instance would move to b): refused, reported.
    upstream.rewrite({ 'fleet/base.yaml': BASE_DOCS, 'fleet/instances/mover.yaml': mover('b', 'rewritten') }, 'Rewritten history');
    expect((await controllers.a.controller.fetchSource('fleet')).result).toBe('refused');
    await unchanged('force-push');
    // Put the reviewed history back.
    git(upstream.work, ['checkout', '--quiet', 'main']);
    upstream.push('main', true);

    git(upstream.work, ['push', '--quiet', 'origin', '--delete', 'main']);
    expect((await controllers.a.controller.fetchSource('fleet')).result).toBe('failed');
    await unchanged('ref-missing');
    upstream.push('main');

    const away = `${upstream.bare}.away`;
    renameSync(upstream.bare, away);
    try {
      expect((await controllers.a.controller.fetchSource('fleet')).result).toBe('failed');
      await unchanged('fetch-failed');
    } finally {
      renameSync(away, upstream.bare);
    }
    expect((await controllers.a.controller.fetchSource('fleet')).result).toBe('unchanged');
    expect(sourceStatus('a').lastError).toBeNull();
  });

  it('a trigger file (what a signed webhook leaves) makes the controller fetch without waiting for its poll', async () => {
    const c = upstream.commit({ 'fleet/notes.md': 'a commit the webhook announces' }, 'Announce');
    upstream.push();
    const asked = Date.now();
    await writeFile(join(hosts.a.host.dirs.varLib, 'triggers', 'git-fleet'), new Date().toISOString());
    // The poll is ten minutes away: only the trigger can make this fetch.
    await waitFor('a serves the announced commit', async () => sourceStatus('a').serving?.commit === c, 20_000);
    console.log(`trigger file → serving the new commit: ${Date.now() - asked} ms`);
    expect(sourceStatus('b').serving?.commit).not.toBe(c);
  });

  it('moving an instance from a to b in one commit stops it on a and starts it on b with a lease from b', async () => {
    upstream.commit({ 'fleet/instances/mover.yaml': mover('b', 'fleet two') }, 'Move mover to b');
    upstream.push();
    await fetchBoth();
    await waitFor('mover stopped on a', async () => (await facts('a')).ActiveState === 'inactive', 60_000);
    const ready = await waitFor('mover Ready on b', async () => {
      const s = await moverStatus('b');
      return condition(s, 'Ready') === 'True' ? s : undefined;
    }, 60_000);
    expect(ready.port).toBeGreaterThanOrEqual(NODES.b.game.min);
    expect(ready.port).toBeLessThanOrEqual(NODES.b.game.max);
    expect(await hostnameOf(ready.port!)).toBe('fleet two');
  });
});
