import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoGame, type DemoGame } from '../../test/support/demo-game.js';
import { StatusStore } from '../status/store.js';
import { main } from './main.js';

const PASSWORD = 'cli-rcon-password-abcdefgh';
const root = mkdtempSync(join(tmpdir(), 'left4me-rcon-cli-'));
const dataDir = join(root, 'data');
let game: DemoGame;

beforeAll(async () => {
  game = await startDemoGame(root, `rcon_password ${PASSWORD}`);
  // A hostname a hostile overlay chose: it must reach the terminal escaped.
  game.console.execute('hostname "evil\u001b]52;c;aGk=\u0007name"');
  const store = new StatusStore(join(dataDir, 'status'));
  for (const [name, port] of [['demo-1', game.port], ['demo-2', game.port]] as const) {
    await store.write({ kind: 'Instance', name, port, clientPort: port + 1, uid: 1879048192, events: [], conditions: [] });
  }
  mkdirSync(join(dataDir, 'secrets'), { recursive: true });
  writeFileSync(join(dataDir, 'secrets', 'rcon.json'), JSON.stringify({ 'demo-1': PASSWORD, 'demo-2': 'a-wrong-password-1234567' }));
});
afterAll(async () => {
  await game.close();
  rmSync(root, { recursive: true, force: true });
});

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('left4me rcon', () => {
  it('runs a command with the port from status and the password from rcon.json, printing the output escaped', async () => {
    const r = await cli(['rcon', 'demo-1', 'status', '--data-dir', dataDir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('hostname: evil\\x1b]52;c;aGk=\\x07name\n');
    expect(r.out).not.toContain('\u001b');
    expect(await cli(['rcon', 'demo-1', 'echo', 'one;', 'echo', 'two', '--data-dir', dataDir])).toEqual({ code: 0, out: 'one\ntwo\n', err: '' });
  });

  it('fails with a clear message and never prints a password', async () => {
    const wrong = await cli(['rcon', 'demo-2', 'status', '--data-dir', dataDir]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^left4me rcon: 127\.0\.0\.1:\d+ refused the RCON password\n$/);
    expect(await cli(['rcon', 'demo-3', 'status', '--data-dir', dataDir])).toEqual({ code: 1, out: '', err: 'instance demo-3 has no game port: it is not running (left4me describe instance demo-3)\n' });
    const cvars = await cli(['rcon', 'demo-1', 'cvarlist', '--data-dir', dataDir]);
    expect(cvars.out).toMatch(/rcon_password\s+: \[redacted\]/);
    for (const r of [wrong, cvars]) expect(r.out + r.err).not.toMatch(/cli-rcon-password|a-wrong-password/);
    expect((await cli(['rcon', 'demo-1'])).code).toBe(2);
  });
});
