/**
 * The Source console's text rules, shared by `.cfg` files, `+` launch
 * commands and RCON: commands end at a newline or an unquoted `;`, `//`
 * outside quotes starts a comment, and arguments are whitespace-separated
 * or double-quoted.
 */

/** One console command after tokenizing: its name, arguments, and the raw text after the name (Source's `ArgS`). Plain data. */
export interface ConsoleCommand {
  name: string;
  args: string[];
  argS: string;
}

/** Splits console text into command strings (comments dropped, blanks skipped); pure, owns nothing. */
export function splitCommands(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let inQuote = false;
  const flush = (): void => {
    const trimmed = current.trim();
    if (trimmed !== '') out.push(trimmed);
    current = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      // Source never carries a quote across lines: an unterminated one closes here.
      inQuote = false;
      flush();
      continue;
    }
    if (c === '\r') continue;
    if (c === '"') {
      inQuote = !inQuote;
      current += c;
      continue;
    }
    if (!inQuote && c === ';') {
      flush();
      continue;
    }
    if (!inQuote && c === '/' && text[i + 1] === '/') {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl - 1;
      continue;
    }
    current += c;
  }
  flush();
  return out;
}

/** Tokenizes one command string (as produced by `splitCommands`); pure. Returns null for an empty command. */
export function tokenizeCommand(command: string): ConsoleCommand | null {
  const tokens: string[] = [];
  let i = 0;
  let nameEnd = -1;
  while (i < command.length) {
    while (i < command.length && isSpace(command[i]!)) i++;
    if (i >= command.length) break;
    let token = '';
    if (command[i] === '"') {
      const close = command.indexOf('"', i + 1);
      const end = close === -1 ? command.length : close;
      token = command.slice(i + 1, end);
      i = close === -1 ? command.length : close + 1;
    } else {
      const start = i;
      while (i < command.length && !isSpace(command[i]!) && command[i] !== '"') i++;
      token = command.slice(start, i);
    }
    tokens.push(token);
    if (nameEnd === -1) nameEnd = i;
  }
  const [name, ...args] = tokens;
  if (name === undefined || name === '') return null;
  return { name, args, argS: command.slice(nameEnd).trim() };
}

/**
 * The value a `name value…` command assigns to a cvar; pure. Like Source, a
 * single argument is taken as is and several unquoted words are kept
 * together (`hostname My Server` names the server "My Server").
 */
export function cvarValue(cmd: ConsoleCommand): string {
  if (cmd.args.length === 1) return cmd.args[0]!;
  const s = cmd.argS;
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"') && !s.slice(1, -1).includes('"')) {
    return s.slice(1, -1);
  }
  return s;
}

/** Quotes one argument so `splitCommands`/`tokenizeCommand` give it back unchanged (a `"` inside cannot survive, as in Source); pure. */
export function quoteArg(arg: string): string {
  const clean = arg.replaceAll('"', '');
  return clean === '' || /[\s;]|\/\//.test(clean) ? `"${clean}"` : clean;
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\v' || c === '\f';
}
