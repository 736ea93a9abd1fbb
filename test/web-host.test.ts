// The harness the web's acceptance tests stand on (test/support/web-host.ts):
// a demo host whose controller converges an instance, and the web unit inside
// it serving that instance's status, with accounts made by the CLI as root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceDoc, BASE_DOCS, waitFor } from './support/demo-host.js';
import { bootWebHost, webMainPid, type WebHost } from './support/web-host.js';

// Ports of this suite (see the list in test/support/demo-host.ts).
const PORT = 28810;
let web: WebHost;

beforeAll(async () => {
  web = await bootWebHost({ port: PORT, controller: { portRanges: { game: { min: 28900, max: 28909 }, client: { min: 29900, max: 29909 } } } });
}, 90_000);

afterAll(async () => {
  await web?.stop();
});

interface Item {
  name: string;
  owner: string;
  ready: string;
  port?: number;
}

async function instances(token: string): Promise<Item[]> {
  const r = await web.fetch('/api/v1/instances', { token });
  expect(r.status).toBe(200);
  return ((await r.json()) as { items: Item[] }).items;
}

describe('bootWebHost', () => {
  it('serves, as the web unit, the status of an instance the controller converges', async () => {
    expect(web.baseUrl).toBe(`http://127.0.0.1:${PORT}`);
    await web.demo.write('base.yaml', BASE_DOCS);
    await web.demo.write('instances/h1.yaml', instanceDoc('h1'));
    const item = await waitFor('h1 Ready through the API', async () => (await instances(web.adminToken)).find((i) => i.name === 'h1' && i.ready === 'True'), 60_000);
    expect(item.port).toBeGreaterThanOrEqual(28900);
    expect(item.port).toBeLessThanOrEqual(28909);
  });

  it('adds accounts whose tokens work, and sees only what they may', async () => {
    const token = await web.addUser('alice', 'alice has a long password');
    // h1 belongs to `system` (no owner): a user sees it too.
    expect((await instances(token)).map((i) => i.name)).toEqual(['h1']);
    expect((await web.fetch('/api/v1/instances', { token: `${token}x` })).status).toBe(401);
  });

  it('stop() leaves no web process behind', async () => {
    const pid = await webMainPid(web.host);
    expect(pid).not.toBeNull();
    await web.stop();
    expect(() => process.kill(pid!, 0)).toThrow();
    await expect(fetch(web.baseUrl + '/healthz')).rejects.toThrow();
  });
});
