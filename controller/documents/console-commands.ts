// Console commands that a `cvars:` entry must not name. server.cfg renders a
// cvar as `name "value"`, and srcds runs that line whether `name` is a
// variable or a command; a command would then run with the value as its
// argument. A cvar map is for settings, so names that are commands are
// refused outright. The list is what the Source engine (cmd.cpp, host.cpp,
// sv_filter.cpp, sv_log.cpp, sv_plugin.cpp), L4D2's VScript and
// Metamod/SourceMod register that reaches past plain settings; the prefix
// rules cover families of them. Real variables that sound alarming stay
// allowed: `sv_cheats` and `sv_password` change only the author's own server.
// Source compares command names case-insensitively, and so do we.

const RUNS_CONFIG = 'runs other config text or defines commands';
const STOPS = 'stops, restarts or pauses the server';
const CHANGES_MAP = 'changes the map outside the blueprint';
const RUNS_CODE = 'loads or runs code';
const NETWORK = 'sends data to other hosts';
const WRITES = 'writes files or ban lists';
const PLAYERS = 'kicks or bans players';
const PRINTS = 'only prints text';

const COMMANDS: ReadonlyMap<string, string> = new Map(
  (
    [
      [RUNS_CONFIG, ['exec', 'execifexists', 'execwithwhitelist', 'alias', 'bind', 'unbind', 'unbindall', 'cmd', 'wait', 'incrementvar', 'multvar', 'toggle', 'sm_execcfg']],
      [STOPS, ['quit', 'exit', 'restart', 'killserver', 'sv_shutdown', 'disconnect', 'reload', 'pause', 'unpause', 'setpause', 'crash']],
      [CHANGES_MAP, ['map', 'changelevel', 'changelevel2', 'map_background', 'map_commentary', 'sm_map']],
      [RUNS_CODE, ['meta', 'sm', 'sm_rcon', 'sm_cvar', 'script', 'script_execute', 'script_execute_client', 'ent_fire', 'ent_create']],
      [NETWORK, ['rcon', 'connect', 'retry', 'redirect', 'setmaster', 'heartbeat']],
      [WRITES, ['writeid', 'writeip', 'host_writeconfig', 'log', 'record', 'tv_record']],
      [PLAYERS, ['kick', 'kickid', 'kickall', 'ban', 'banid', 'banip', 'addip', 'removeid', 'removeip', 'sm_kick', 'sm_ban']],
      [PRINTS, ['echo', 'say', 'say_team', 'status', 'help', 'find', 'cvarlist']],
    ] as const
  ).flatMap(([why, names]) => names.map((n): [string, string] => [n, why])),
);

const PREFIXES: ReadonlyArray<readonly [string, string]> = [
  ['plugin_', RUNS_CODE],
  ['script_', RUNS_CODE],
  ['logaddress_', NETWORK],
  ['changelevel', CHANGES_MAP],
];

/** Why a cvar name is a console command and not a variable, as a sentence ending; undefined for names that may be set. Pure. */
export function consoleCommandProblem(name: string): string | undefined {
  const lower = name.toLowerCase();
  // The engine's own internal commands (`_restart`, `_resetgamestats`, …); no variable an operator sets starts so.
  if (lower.startsWith('_')) return 'names starting with "_" are engine-internal commands, not console variables';
  const why = COMMANDS.get(lower) ?? PREFIXES.find(([p]) => lower.startsWith(p))?.[1];
  return why === undefined ? undefined : `it is a console command that ${why}, not a console variable`;
}

/** A command in console text (a server.cfg fragment, an alias body) that `consoleCommandProblem` refuses. */
export interface ConsoleTextCommand {
  /** 1-based line within the text. */
  line: number;
  command: string;
  why: string;
}

/**
 * The commands of console text that are not plain settings: every line, every
 * `;`-separated part of it (split even inside quotes: stricter than srcds, so
 * nothing it would run slips through), its first word with quotes dropped.
 * Admins may write such text; the web API refuses it from other authors. Pure.
 */
export function consoleTextCommands(text: string): ConsoleTextCommand[] {
  const out: ConsoleTextCommand[] = [];
  text.split(/\r\n|\r|\n/).forEach((raw, i) => {
    const comment = raw.indexOf('//');
    const code = comment === -1 ? raw : raw.slice(0, comment);
    for (const part of code.split(';')) {
      const word = /^\s*"?([^\s"]*)/.exec(part)?.[1] ?? '';
      if (word === '') continue;
      const why = consoleCommandProblem(word);
      if (why) out.push({ line: i + 1, command: word, why });
    }
  });
  return out;
}
