/**
 * `POST /api/v1/instances/NAME/rcon` {command}: one console command on the
 * instance's server, its output back as text. Owner or admin only; each
 * user has a small budget of commands; every command is audited (user,
 * instance, command, ok or failed; never the output or a password).
 */
import type { FastifyInstance } from 'fastify';
import { RconError, rconCommand } from '../../game/rcon.js';
import { ownedInstance, userOf } from '../access.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { GameServices } from '../plugins/game.js';

/** The longest command taken; srcds' own line limit is larger, a console line rarely needs more. */
export const MAX_COMMAND = 512;

/**
 * Why a command is refused, or undefined. One line of printable text; one
 * command: srcds splits a line at `;` outside double quotes, which would
 * run several commands on one budget entry and one audit line. And not
 * rcon_password: the controller keeps it (rcon.json), and a server with
 * another would shut the web and the controller out until its restart.
 */
export function commandProblem(command: string): string | undefined {
  if (command.trim() === '') return 'the command is empty';
  if (command.length > MAX_COMMAND) return `a command has at most ${MAX_COMMAND} characters`;
  if (/[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u.test(command)) return 'a command is one line of printable text: no control characters or line breaks';
  let quoted = false;
  for (const c of command) {
    if (c === '"') quoted = !quoted;
    else if (c === ';' && !quoted) return 'one command per request: a ";" outside double quotes would chain commands';
  }
  if (/^\s*"?rcon_password\b/i.test(command)) return 'rcon_password is kept by the controller; changing it would shut the web service and the controller out of this server';
  return undefined;
}

/** The command as the audit log keeps it: a password cvar's value is not kept. */
function auditable(command: string, password: string): string {
  const text = command.replaceAll(password, '[redacted]');
  const m = /^(\s*"?[A-Za-z0-9_]*password[A-Za-z0-9_]*"?)\s+\S/i.exec(text);
  return m ? `${m[1]} [redacted]` : text;
}

export function rconRoutes(app: FastifyInstance, ctx: WebContext, game: GameServices): void {
  app.post<{ Params: { name: string }; Body: { command: string } }>(
    '/api/v1/instances/:name/rcon',
    {
      schema: {
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 253 } } },
        body: { type: 'object', additionalProperties: false, required: ['command'], properties: { command: { type: 'string', minLength: 1, maxLength: MAX_COMMAND } } },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['output', 'truncated'],
            properties: { output: { type: 'string', description: 'what the server printed, as text (never HTML)' }, truncated: { type: 'boolean', description: 'the output was cut at 64 KiB' } },
          },
        },
      },
    },
    async (req, reply) => {
      const user = userOf(req);
      const doc = await ownedInstance(ctx, req, req.params.name);
      const { command } = req.body;
      const problem = commandProblem(command);
      if (problem) throw new ApiError(400, problem);
      try {
        game.spend(user.name);
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 429) void reply.header('Retry-After', String(err.extra.retryAfter));
        throw err;
      }
      const name = doc.metadata.name;
      let target: Awaited<ReturnType<GameServices['target']>>;
      let password: string;
      try {
        target = await game.target(doc);
        password = await game.password(name);
      } catch (err) {
        game.audit({ user: user.name, instance: name, command: auditable(command, '\0'), ok: false, error: (err as Error).message });
        throw err;
      }
      try {
        const result = await rconCommand({ ...target, password }, command);
        game.audit({ user: user.name, instance: name, command: auditable(command, password), ok: true });
        // A server may print its own password (a cvar query, a cvar list): it never leaves.
        return { output: result.output.replaceAll(password, '[redacted]'), truncated: result.truncated };
      } catch (err) {
        const message = err instanceof RconError ? err.message : 'RCON failed';
        game.audit({ user: user.name, instance: name, command: auditable(command, password), ok: false, error: message });
        throw new ApiError(502, `the server of instance "${name}" did not take the command: ${message}`);
      }
    },
  );
}
