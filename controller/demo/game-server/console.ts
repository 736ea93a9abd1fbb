import { readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { cvarValue, splitCommands, tokenizeCommand, type ConsoleCommand } from './cfg.js';
import { hasSourceMod, isValidMap, listAddons } from './maps.js';

/** The server version L4D2 reports in A2S_INFO and `status`; a constant. */
export const GAME_VERSION = '2.2.4.3';

/** How deep `exec` (and aliases) may nest before a file is skipped with a warning; a constant. */
export const MAX_EXEC_DEPTH = 8;

// A file that execs itself twice would otherwise grow 2^depth; cap files per top-level command.
const MAX_EXECS_PER_COMMAND = 256;

// Cvar names become keys in A2S_RULES; keep them to what Source accepts.
const CVAR_NAME = /^[a-z_][a-z0-9_.-]*$/;

const DEFAULT_CVARS: ReadonlyArray<readonly [string, string]> = [
  ['hostname', 'Left 4 Dead 2'],
  ['rcon_password', ''],
  ['sv_password', ''],
  ['maxplayers', '8'],
  // -1 defers to maxplayers, as the L4Dtoolz-style override does.
  ['sv_maxplayers', '-1'],
  ['mp_gamemode', 'coop'],
  ['z_difficulty', 'Normal'],
  ['sv_tags', ''],
  ['sv_gametypes', 'coop,realism,survival,versus,scavenge'],
  ['sv_lan', '0'],
  ['sv_cheats', '0'],
  ['sv_region', '255'],
  ['servercfgfile', 'server.cfg'],
];

/** One simulated connected player; plain data owned by the console. */
export interface SimulatedPlayer {
  userid: number;
  name: string;
  /** `now()` milliseconds when the player "connected". */
  joinedAt: number;
}

/** What a `GameConsole` needs from its process: where the tree is, what address to report, and whom to tell about quit, map loads and cvar changes. */
export interface GameConsoleOptions {
  /** The working directory (the merged overlay): `<root>/<game>/cfg`, `addons`, `maps` are read from here. */
  root: string;
  game: string;
  ip: string;
  port: number;
  insecure?: boolean;
  now?: () => number;
  log?: (line: string) => void;
  onQuit?: () => void;
  onMapLoaded?: (map: string) => void;
  onCvarChanged?: (name: string, value: string) => void;
}

/**
 * The server's console: owns the cvar table, aliases, the current map and
 * the simulated players, and executes console text from cfg files, `+`
 * launch commands, stdin and RCON. Reads cfg, addon and map files from the
 * working tree synchronously, so commands run strictly in order.
 */
export class GameConsole {
  private readonly cvars = new Map<string, string>(DEFAULT_CVARS.map(([k, v]) => [k, v]));
  private readonly aliases = new Map<string, string>();
  private readonly players: SimulatedPlayer[] = [];
  private nextUserId = 2;
  private currentMap: string | null = null;
  private serverCfgCvars = new Map<string, string>();
  // Non-null while server.cfg (and what it execs) runs, so `demo_cfg` can show what it set.
  private recording: Map<string, string> | null = null;
  private execBudget = MAX_EXECS_PER_COMMAND;
  private readonly gameDir: string;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: GameConsoleOptions) {
    this.gameDir = join(opts.root, opts.game);
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
  }

  /** Runs console text (one or more commands) and returns the lines it printed; the entry point for every command source. */
  execute(text: string): string[] {
    this.execBudget = MAX_EXECS_PER_COMMAND;
    const out: string[] = [];
    this.run(text, 0, out);
    return out;
  }

  /** Loads a map as `map` does (validates, then runs the server cfg); returns the lines printed. */
  loadMap(map: string): string[] {
    return this.execute(`map ${map}`);
  }

  /** The current map, or null before one has loaded. */
  get map(): string | null {
    return this.currentMap;
  }

  /** A cvar's value (names are case-insensitive), or undefined if unset. */
  cvar(name: string): string | undefined {
    return this.cvars.get(name.toLowerCase());
  }

  /** Every cvar, in creation order. */
  cvarEntries(): Array<[string, string]> {
    return [...this.cvars.entries()];
  }

  /** The player limit A2S reports: `sv_maxplayers` when ≥ 1, else `maxplayers`. */
  maxPlayers(): number {
    const override = Number.parseInt(this.cvar('sv_maxplayers') ?? '', 10);
    if (override >= 1) return override;
    const base = Number.parseInt(this.cvar('maxplayers') ?? '', 10);
    return base >= 1 ? base : 8;
  }

  /** The simulated players, oldest first (a copy). */
  connectedPlayers(): SimulatedPlayer[] {
    return this.players.map((p) => ({ ...p }));
  }

  /** Whether the server is VAC secure (no `-insecure`). */
  get secure(): boolean {
    return !this.opts.insecure;
  }

  /** The `.vpk` addons in the working tree, sorted (read on each call). */
  addons(): string[] {
    return listAddons(this.gameDir);
  }

  /** Whether `<game>/addons/sourcemod/` exists in the working tree (read on each call). */
  hasSourceMod(): boolean {
    return hasSourceMod(this.gameDir);
  }

  private run(text: string, depth: number, out: string[]): void {
    for (const raw of splitCommands(text)) {
      const cmd = tokenizeCommand(raw);
      if (cmd) this.dispatch(cmd, depth, out);
    }
  }

  private dispatch(cmd: ConsoleCommand, depth: number, out: string[]): void {
    const name = cmd.name.toLowerCase();
    const alias = this.aliases.get(name);
    if (alias !== undefined) {
      if (depth >= MAX_EXEC_DEPTH) {
        out.push(`alias ${name}: nested too deeply (limit ${MAX_EXEC_DEPTH}), skipped`);
        return;
      }
      this.run(alias, depth + 1, out);
      return;
    }
    switch (name) {
      case 'status':
        out.push(...this.status());
        return;
      case 'map':
      case 'changelevel':
        this.changeLevel(name, cmd.args[0], depth, out);
        return;
      case 'cvarlist':
        out.push(...this.cvarList());
        return;
      case 'exec':
        if (cmd.args[0] === undefined) out.push('exec <filename>: execute a script file');
        else this.exec(cmd.args[0], depth, out);
        return;
      case 'alias':
        this.alias(cmd, out);
        return;
      case 'echo':
        out.push(cmd.args.join(' '));
        return;
      case 'say': {
        const line = `Console: ${cvarValue(cmd)}`;
        this.log(line);
        out.push(line);
        return;
      }
      case 'quit':
      case 'exit':
        this.opts.onQuit?.();
        return;
      case 'demo_addons':
        out.push(...listAddons(this.gameDir));
        return;
      case 'demo_players':
        this.demoPlayers(cmd, out);
        return;
      case 'demo_cfg':
        for (const [k, v] of this.serverCfgCvars) out.push(`${k} "${v}"`);
        return;
      case 'demo_write':
        this.demoWrite(cmd, out);
        return;
      default:
        this.cvarCommand(name, cmd, out);
    }
  }

  /**
   * `demo_write NAME TEXT…`: writes TEXT as the file NAME in the working
   * directory, created 0666 so the process umask decides its mode, as srcds's
   * own files (console.log with -condebug, logs, banned_user.cfg) are. Stands
   * in for them in tests of what a server leaves in its writable layer; NAME
   * is one plain file name.
   */
  private demoWrite(cmd: ConsoleCommand, out: string[]): void {
    const [name, ...words] = cmd.args;
    if (name === undefined || !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(name)) {
      out.push('demo_write <name> <text>: name is one file name (letters, digits, . _ -) in the working directory');
      return;
    }
    const text = `${words.join(' ')}\n`;
    try {
      writeFileSync(join(this.opts.root, name), text, { mode: 0o666 });
      out.push(`demo_write: wrote ${name} (${Buffer.byteLength(text)} bytes)`);
    } catch (err) {
      out.push(`demo_write: cannot write ${name}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  private cvarCommand(name: string, cmd: ConsoleCommand, out: string[]): void {
    if (cmd.args.length === 0) {
      const value = this.cvars.get(name);
      if (value === undefined) out.push(`Unknown command "${cmd.name}"`);
      else out.push(`"${name}" = "${value}"`);
      return;
    }
    if (!CVAR_NAME.test(name)) {
      out.push(`Unknown command "${cmd.name}"`);
      return;
    }
    this.setCvar(name, cvarValue(cmd));
  }

  private setCvar(name: string, value: string): void {
    const before = this.cvars.get(name);
    this.cvars.set(name, value);
    this.recording?.set(name, value);
    if (before !== value) this.opts.onCvarChanged?.(name, value);
  }

  private exec(file: string, depth: number, out: string[]): void {
    const name = file.endsWith('.cfg') ? file : `${file}.cfg`;
    if (isAbsolute(name) || name.split(/[\\/]/).includes('..') || name.includes(':')) {
      out.push(`exec ${file}: not a valid path, must be relative to ${this.opts.game}/cfg`);
      return;
    }
    if (depth >= MAX_EXEC_DEPTH) {
      out.push(`exec ${name}: nested too deeply (limit ${MAX_EXEC_DEPTH}), skipped`);
      return;
    }
    if (this.execBudget <= 0) {
      out.push(`exec ${name}: too many files executed by one command (limit ${MAX_EXECS_PER_COMMAND}), skipped`);
      return;
    }
    this.execBudget--;
    let text: string;
    try {
      text = readFileSync(join(this.gameDir, 'cfg', name), 'utf8');
    } catch {
      out.push(`exec: couldn't exec ${name}`);
      return;
    }
    this.run(text, depth + 1, out);
  }

  private alias(cmd: ConsoleCommand, out: string[]): void {
    const [name, ...rest] = cmd.args;
    if (name === undefined) {
      out.push('Current alias commands:');
      for (const [k, v] of this.aliases) out.push(`${k} : ${v}`);
      return;
    }
    const key = name.toLowerCase();
    if (rest.length === 0) {
      this.aliases.delete(key);
      return;
    }
    this.aliases.set(key, rest.join(' '));
  }

  private changeLevel(kind: 'map' | 'changelevel', map: string | undefined, depth: number, out: string[]): void {
    if (map === undefined) {
      out.push(kind === 'map' ? 'Usage:  map <map>' : 'changelevel <levelname> : continue game on a new level in the sequence');
      return;
    }
    if (!isValidMap(this.gameDir, map)) {
      out.push(kind === 'map' ? `map load failed: ${map} not found or invalid` : `changelevel failed: ${map} not found`);
      return;
    }
    this.currentMap = map;
    this.log(`Map: ${map}`);
    this.execServerCfg(depth, out);
    this.opts.onMapLoaded?.(map);
  }

  // srcds runs the server cfg on every map load, after the `+` commands, so it wins over them.
  private execServerCfg(depth: number, out: string[]): void {
    const file = this.cvar('servercfgfile') || 'server.cfg';
    this.log(`Executing dedicated server config file ${file}`);
    const recorded = new Map<string, string>();
    const outer = this.recording;
    this.recording = recorded;
    try {
      this.exec(file, depth, out);
    } finally {
      this.recording = outer;
    }
    this.serverCfgCvars = recorded;
  }

  private demoPlayers(cmd: ConsoleCommand, out: string[]): void {
    const [first, ...rest] = cmd.args;
    if (first === undefined) {
      for (const p of this.players) out.push(`${p.userid} "${p.name}"`);
      out.push(`demo_players: ${this.players.length} connected`);
      return;
    }
    if (first === 'clear') {
      this.players.length = 0;
    } else if (first === 'add') {
      const name = rest.join(' ').trim();
      if (name === '') {
        out.push('Usage: demo_players add <name>');
        return;
      }
      this.addPlayer(name);
    } else if (/^\d+$/.test(first) && Number(first) <= 64) {
      const n = Number(first);
      this.players.splice(n);
      while (this.players.length < n) this.addPlayer(`Player${this.players.length + 1}`);
    } else {
      out.push('Usage: demo_players [<count 0-64> | add <name> | clear]');
      return;
    }
    out.push(`demo_players: ${this.players.length} connected`);
  }

  private addPlayer(name: string): void {
    this.players.push({ userid: this.nextUserId++, name, joinedAt: this.now() });
  }

  private status(): string[] {
    const n = this.players.length;
    const { ip, port } = this.opts;
    const lines = [
      `hostname: ${this.cvar('hostname') ?? ''}`,
      `version : ${GAME_VERSION} ${this.secure ? 'secure' : 'insecure'}`,
      `udp/ip  : ${ip}:${port}`,
      'os      : Linux Dedicated',
      `map     : ${this.currentMap ?? ''}`,
      `players : ${n} humans, 0 bots (${this.maxPlayers()} max) (${n === 0 ? 'hibernating' : 'not hibernating'}) (unreserved)`,
      '',
      '# userid name uniqueid connected ping loss state rate adr',
    ];
    for (const p of this.players) {
      lines.push(`# ${p.userid} "${p.name}" STEAM_1:0:${1000 + p.userid} ${formatDuration(this.now() - p.joinedAt)} 30 0 active 30000 127.0.0.1:27005`);
    }
    lines.push('#end');
    return lines;
  }

  private cvarList(): string[] {
    const entries = [...this.cvars.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return [
      'cvar list',
      '--------------',
      ...entries.map(([k, v]) => `${k.padEnd(40)} : ${v}`),
      '--------------',
      `${entries.length} total convars/concommands`,
    ];
  }
}

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mm = String(Math.floor(s / 60) % 60).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}
