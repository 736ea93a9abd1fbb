import { quoteArg } from './cfg.js';

/** What an srcds command line asks for, as plain data; produced by `parseLaunchArgs`. */
export interface LaunchOptions {
  game: string;
  ip: string;
  port: number;
  clientPort: number;
  /** The `+map`, loaded after every other `+` command, as srcds defers it. */
  map: string | null;
  strictPortBind: boolean;
  noRestart: boolean;
  insecure: boolean;
  tickrate: number | null;
  maxPlayers: number | null;
  /** `+` commands other than the launch options above, in order, as console lines. */
  consoleCommands: string[];
  /** Arguments this stand-in does not act on, kept for the log. */
  ignored: string[];
}

/** A command line that srcds itself would refuse to start with; thrown by `parseLaunchArgs`. */
export class LaunchArgsError extends Error {
  override name = 'LaunchArgsError';
}

const DEFAULT_PORT = 27015;
const DEFAULT_CLIENT_PORT = 27005;

// Flags that take no value; anything else starting with '-' may own the next word.
const DASH_FLAGS = new Set([
  'strictportbind', 'norestart', 'insecure', 'secure', 'console', 'usercon', 'nohltv',
  'nobreakpad', 'debug', 'autoupdate', 'nomaster', 'nobots', 'nocrashdialog', 'textmode',
]);

/**
 * Parses srcds arguments (`-game left4dead2 -port 27015 +map c1m1_hotel …`);
 * pure. Unknown arguments land in `ignored`, never an error, as in srcds;
 * only values this server cannot run with (a bad port) throw.
 */
export function parseLaunchArgs(argv: readonly string[]): LaunchOptions {
  const opts: LaunchOptions = {
    game: 'left4dead2',
    ip: '0.0.0.0',
    port: DEFAULT_PORT,
    clientPort: DEFAULT_CLIENT_PORT,
    map: null,
    strictPortBind: false,
    noRestart: false,
    insecure: false,
    tickrate: null,
    maxPlayers: null,
    consoleCommands: [],
    ignored: [],
  };

  let i = 0;
  // Words up to the next option belong to the option before them.
  const takeValues = (): string[] => {
    const values: string[] = [];
    while (i < argv.length && !isOption(argv[i]!)) values.push(argv[i++]!);
    return values;
  };

  while (i < argv.length) {
    const arg = argv[i++]!;
    if (!isOption(arg)) {
      opts.ignored.push(arg);
      continue;
    }
    const name = arg.slice(1).toLowerCase();
    if (arg.startsWith('-')) {
      if (DASH_FLAGS.has(name)) {
        if (name === 'strictportbind') opts.strictPortBind = true;
        else if (name === 'norestart') opts.noRestart = true;
        else if (name === 'insecure') opts.insecure = true;
        else if (name === 'secure') opts.insecure = false;
        continue;
      }
      const values = takeValues();
      const value = values[0];
      switch (name) {
        case 'game':
          opts.game = required(arg, value);
          break;
        case 'port':
          opts.port = portNumber(arg, value);
          break;
        case 'clientport':
          opts.clientPort = portNumber(arg, value);
          break;
        case 'ip':
          opts.ip = required(arg, value);
          break;
        case 'tickrate':
          opts.tickrate = positiveInt(arg, value, 1000);
          break;
        case 'maxplayers':
          opts.maxPlayers = positiveInt(arg, value, 255);
          break;
        default:
          opts.ignored.push([arg, ...values].join(' '));
          continue;
      }
      if (values.length > 1) opts.ignored.push(...values.slice(1));
      continue;
    }

    // '+' arguments are console commands; a few are really launch options.
    const values = takeValues();
    const value = values[0];
    switch (name) {
      case 'map':
        opts.map = required(arg, value);
        break;
      case 'ip':
        opts.ip = required(arg, value);
        break;
      case 'port':
      case 'hostport':
        opts.port = portNumber(arg, value);
        break;
      case 'clientport':
        opts.clientPort = portNumber(arg, value);
        break;
      case 'maxplayers':
        opts.maxPlayers = positiveInt(arg, value, 255);
        break;
      default:
        if (name === '') {
          opts.ignored.push(arg);
          break;
        }
        opts.consoleCommands.push([arg.slice(1), ...values.map(quoteArg)].join(' '));
        continue;
    }
    if (values.length > 1) opts.ignored.push(...values.slice(1));
  }
  return opts;
}

// Negative numbers ("+sv_gravity -800") are values, not options.
function isOption(arg: string): boolean {
  return (arg.startsWith('-') || arg.startsWith('+')) && !/^[-+]\d/.test(arg);
}

function required(arg: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new LaunchArgsError(`${arg} needs a value`);
  return value;
}

function portNumber(arg: string, value: string | undefined): number {
  const n = Number(required(arg, value));
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new LaunchArgsError(`${arg} ${value}: not a port number (1-65535)`);
  }
  return n;
}

function positiveInt(arg: string, value: string | undefined, max: number): number {
  const n = Number(required(arg, value));
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new LaunchArgsError(`${arg} ${value}: expected a whole number from 1 to ${max}`);
  }
  return n;
}
