import { randomBytes } from 'node:crypto';
import { DEFAULT_WEB_DATA_DIR, UserError, UserStore } from '../web/users.js';
import type { StdinIo } from './apply.js';
import { parse, UsageError } from './args.js';
import { renderTable } from './table.js';

/** Options of the account verbs. */
const ACCOUNT_OPTIONS = {
  'web-data-dir': { type: 'string', default: DEFAULT_WEB_DATA_DIR },
  admin: { type: 'boolean' },
  'password-stdin': { type: 'boolean' },
} as const;

/** Reads one password from standard input (its last newline dropped), or makes one to print once. */
async function passwordFrom(io: StdinIo, fromStdin: boolean | undefined): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: randomBytes(15).toString('base64url'), generated: true };
  const text = io.readStdin ? await io.readStdin(4096) : await readAll(4096);
  if (text === null) throw new UsageError('the password on standard input is longer than 4096 bytes');
  return { password: text.replace(/\r?\n$/, ''), generated: false };
}

async function readAll(max: number): Promise<string | null> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.length > max) return null;
  }
  return text;
}

/**
 * `left4me user add NAME [--admin] [--password-stdin] | list | passwd NAME
 * [--password-stdin] | remove NAME`: the web service's accounts. Without
 * --password-stdin a password is generated and printed once.
 */
export async function userCommand(args: string[], io: StdinIo): Promise<number> {
  const { values, positionals } = parse(args, ACCOUNT_OPTIONS);
  const [action, name, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError('user takes one name');
  const store = new UserStore(values['web-data-dir'] as string);
  try {
    switch (action) {
      case 'add': {
        if (!name) throw new UsageError('user add needs a NAME');
        const { password, generated } = await passwordFrom(io, values['password-stdin']);
        const u = await store.add(name, password, values.admin ? 'admin' : 'user');
        io.out(`user ${u.name} added (${u.role})\n`);
        if (generated) io.out(`password: ${password}\n(shown once; only its scrypt hash is kept)\n`);
        return 0;
      }
      case 'passwd': {
        if (!name) throw new UsageError('user passwd needs a NAME');
        const { password, generated } = await passwordFrom(io, values['password-stdin']);
        await store.setPassword(name, password);
        io.out(`password of ${name} changed\n`);
        if (generated) io.out(`password: ${password}\n(shown once; only its scrypt hash is kept)\n`);
        return 0;
      }
      case 'remove':
        if (!name) throw new UsageError('user remove needs a NAME');
        await store.remove(name);
        io.out(`user ${name} removed, with its tokens\n`);
        return 0;
      case 'list': {
        if (name) throw new UsageError('user list takes no name');
        const users = store.list();
        if (users.length === 0) {
          io.err('no users yet: add one with left4me user add NAME --admin\n');
          return 0;
        }
        io.out(renderTable(['NAME', 'ROLE', 'TOKENS', 'CREATED'], users.map((u) => [u.name, u.role, String(store.tokens(u.name).length), u.created])));
        return 0;
      }
      default:
        throw new UsageError('user takes add, list, passwd or remove');
    }
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.err(`left4me user: ${err.message}\n`);
    return 1;
  }
}

/** `left4me token create NAME`: a Bearer token for automation, printed once; only its hash is kept. */
export async function tokenCommand(args: string[], io: StdinIo): Promise<number> {
  const { values, positionals } = parse(args, { 'web-data-dir': ACCOUNT_OPTIONS['web-data-dir'] });
  const [action, name, ...rest] = positionals;
  if (action !== 'create' || !name || rest.length > 0) throw new UsageError('token takes: create NAME');
  try {
    const token = await new UserStore(values['web-data-dir'] as string).createToken(name);
    io.out(`${token}\n`);
    io.err(`token for ${name} created: shown once, only its hash is kept; send it as "Authorization: Bearer <token>"\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.err(`left4me token: ${err.message}\n`);
    return 1;
  }
}
