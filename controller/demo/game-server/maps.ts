import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The official L4D2 campaign maps (c1–c14); a built-in constant, owns nothing else. Real srcds ships these inside VPKs, so they never exist as loose `.bsp` files. */
export const OFFICIAL_MAPS: readonly string[] = [
  'c1m1_hotel', 'c1m2_streets', 'c1m3_mall', 'c1m4_atrium',
  'c2m1_highway', 'c2m2_fairgrounds', 'c2m3_coaster', 'c2m4_barns', 'c2m5_concert',
  'c3m1_plankcountry', 'c3m2_swamp', 'c3m3_shantytown', 'c3m4_plantation',
  'c4m1_milltown_a', 'c4m2_sugarmill_a', 'c4m3_sugarmill_b', 'c4m4_milltown_b', 'c4m5_milltown_escape',
  'c5m1_waterfront', 'c5m2_park', 'c5m3_cemetery', 'c5m4_quarter', 'c5m5_bridge',
  'c6m1_riverbank', 'c6m2_bedlam', 'c6m3_port',
  'c7m1_docks', 'c7m2_barge', 'c7m3_port',
  'c8m1_apartment', 'c8m2_subway', 'c8m3_sewers', 'c8m4_interior', 'c8m5_rooftop',
  'c9m1_alleys', 'c9m2_lots',
  'c10m1_caves', 'c10m2_drainage', 'c10m3_ranchhouse', 'c10m4_mainstreet', 'c10m5_houseboat',
  'c11m1_greenhouse', 'c11m2_offices', 'c11m3_garage', 'c11m4_terminal', 'c11m5_runway',
  'c12m1_hilltop', 'c12m2_traintunnel', 'c12m3_bridge', 'c12m4_barn', 'c12m5_cornfield',
  'c13m1_alpinecreek', 'c13m2_southpinestream', 'c13m3_memorialbridge', 'c13m4_cutthroatcreek',
  'c14m1_junkyard', 'c14m2_lighthouse',
];

const officialSet = new Set(OFFICIAL_MAPS);

// A map name becomes a path component; anything else could walk out of maps/.
const MAP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Whether `map` can be loaded: reads `<gameDir>/maps/<map>.bsp` if the name is not an official map; owns no state. */
export function isValidMap(gameDir: string, map: string): boolean {
  if (!MAP_NAME.test(map) || map.includes('..')) return false;
  if (officialSet.has(map)) return true;
  const bsp = join(gameDir, 'maps', `${map}.bsp`);
  try {
    return existsSync(bsp) && statSync(bsp).isFile();
  } catch {
    return false;
  }
}

/** The `.vpk` file names in `<gameDir>/addons/`, sorted; reads the directory on every call because the overlay below may differ per start. */
export function listAddons(gameDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(gameDir, 'addons'));
  } catch {
    return [];
  }
  return names.filter((n) => n.toLowerCase().endsWith('.vpk')).sort();
}

/** Whether `<gameDir>/addons/sourcemod/` exists as a directory; reads the file system only. */
export function hasSourceMod(gameDir: string): boolean {
  try {
    return statSync(join(gameDir, 'addons', 'sourcemod')).isDirectory();
  } catch {
    return false;
  }
}
