/**
 * The demo installation: a tree shaped like the L4D2 dedicated server's
 * (`srcds_run` at the root, the game in `left4dead2/`) whose `srcds_run` is
 * the demo game server, so the controller can treat it as
 * `Installation source: directory`.
 */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { DEFAULT_INSTALLATION_ROOTS } from '../../documents/installation-path.js';
import { packageRoot } from '../../package-root.js';
import type { PrivateHost } from '../private-host/private-host.js';

/** The custom map shipped as a `.bsp` placeholder, loadable with `+map` or `changelevel`; a constant. */
export const DEMO_CUSTOM_MAP = 'l4m_demo';

/** The game directory inside an installation; a constant. */
export const GAME_DIR = 'left4dead2';

/** The installation root the demo hosts allow: the production default, so state.example/demo is valid as written. */
export const DEMO_INSTALLATION_ROOT = DEFAULT_INSTALLATION_ROOTS[0]!;
/** Where the demo hosts put the demo installation (state.example/demo/installations/demo.yaml names it). */
export const DEMO_INSTALLATION_PATH = `${DEMO_INSTALLATION_ROOT}/demo`;

/**
 * Writes the demo installation at DEMO_INSTALLATION_PATH inside a private
 * host. /srv there is still the machine's, so first a tmpfs is mounted over
 * it in the host's own mount namespace (gone with the host); nothing is
 * written to the machine's /srv.
 */
export async function placeDemoInstallation(host: Pick<PrivateHost, 'root' | 'exec'>): Promise<void> {
  const r = await host.exec('mount', ['-t', 'tmpfs', '-o', 'mode=0755,size=64m', 'left4me-demo-srv', '/srv']);
  if (r.code !== 0) throw new Error(`cannot mount a private /srv in the host: ${r.stderr.trim()}`);
  await writeDemoInstallation(join(host.root, DEMO_INSTALLATION_PATH));
}

const DEFAULT_SERVER_CFG = `// Default server.cfg of the left4me demo installation.
// Overlays replace this file; blueprints add their own settings on top.
hostname "left4me demo server"
sv_tags "demo"
mp_gamemode "coop"
maxplayers 8
// No rcon_password: RCON refuses every login until an overlay sets one.
`;

const GAMEINFO = `"GameInfo"
{
	game	"Left 4 Dead 2"
	title	"LEFT 4 DEAD 2"
	type	multiplayer_only
	FileSystem
	{
		SteamAppId	550
		SearchPaths
		{
			Game	update
			Game	|gameinfo_path|.
			Game	hl2
		}
	}
}
`;

/**
 * Writes the demo installation into `dir` (created if missing): a bundled,
 * executable `srcds_run`, `left4dead2/{cfg/server.cfg,addons/,maps/,gameinfo.txt}`
 * and `steam_appid.txt`, all world-readable. Reads the demo server's
 * TypeScript source from this repository; overwrites its own files, leaves
 * others in `dir` alone. Never call it on a tree mounted as a lower layer.
 */
export async function writeDemoInstallation(dir: string): Promise<void> {
  const bundle = await bundleDemoServer();
  const game = join(dir, GAME_DIR);
  for (const d of [dir, game, join(game, 'cfg'), join(game, 'addons'), join(game, 'maps')]) {
    await mkdir(d, { recursive: true });
    // The server runs as another user, and mkdir is subject to our umask.
    await chmod(d, 0o755);
  }
  await writeReadable(join(game, 'cfg', 'server.cfg'), DEFAULT_SERVER_CFG, 0o644);
  await writeReadable(join(game, 'gameinfo.txt'), GAMEINFO, 0o644);
  await writeReadable(join(game, 'maps', `${DEMO_CUSTOM_MAP}.bsp`), bspPlaceholder(), 0o644);
  await writeReadable(join(dir, 'steam_appid.txt'), `${550}\n`, 0o644);
  await writeReadable(join(dir, 'srcds_run'), bundle, 0o755);
}

/** Bundles `controller/demo/game-server/srcds.ts` into one ESM file with a node shebang; reads the repository sources, writes nothing. */
export async function bundleDemoServer(): Promise<string> {
  const entry = join(packageRoot(), 'controller', 'demo', 'game-server', 'srcds.ts');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    outfile: 'srcds_run.mjs',
    banner: { js: '#!/usr/bin/node' },
    legalComments: 'none',
    logLevel: 'silent',
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error(`esbuild produced no output for ${entry}`);
  return out.text;
}


// Write-then-rename, so a concurrent reader never sees half an executable.
async function writeReadable(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await chmod(tmp, mode);
  await rename(tmp, path);
}

// A VBSP header (version 21, as L4D2 maps use) with an empty lump table.
function bspPlaceholder(): Buffer {
  const header = Buffer.alloc(4 + 4 + 64 * 16 + 4);
  header.write('VBSP', 0, 'latin1');
  header.writeInt32LE(21, 4);
  return header;
}
