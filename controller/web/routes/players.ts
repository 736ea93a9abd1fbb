/**
 * `GET /api/v1/instances/NAME/players`: who is on the server. A2S_PLAYER
 * gives name, score and time; RCON `status` adds SteamIDs (joined by name:
 * A2S has none); the Steam Web API adds persona names and avatars when the
 * operator gave a key, from a cache that never holds the answer up. Owner or
 * admin only, as the issue asks of players: the A2S part is public on the
 * game port anyway, but SteamIDs come from RCON.
 */
import type { FastifyInstance } from 'fastify';
import { queryPlayers } from '../../game/a2s.js';
import { rconCommand } from '../../game/rcon.js';
import { parseStatus, type StatusPlayer } from '../../game/status.js';
import { ownedInstance } from '../access.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { GameServices } from '../plugins/game.js';

const PLAYER = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'score', 'durationSeconds'],
  properties: {
    name: { type: 'string' },
    score: { type: 'integer' },
    durationSeconds: { type: 'integer' },
    steamId: { type: 'string', description: 'SteamID64, from RCON status' },
    persona: { type: 'string', description: 'Steam persona name (GetPlayerSummaries)' },
    avatar: { type: 'string', description: 'the Steam avatar, served by this service (GET /api/v1/steam/avatars/STEAMID)' },
  },
} as const;

/** Pairs A2S players with status lines by name, in order, each status line used once. Pure. */
export function steamIdsByPlayer(names: readonly string[], status: readonly StatusPlayer[]): Array<string | undefined> {
  const left = [...status];
  return names.map((name) => {
    const i = left.findIndex((p) => p.name === name);
    if (i < 0) return undefined;
    return left.splice(i, 1)[0]!.steamId;
  });
}

export function playersRoutes(app: FastifyInstance, ctx: WebContext, game: GameServices): void {
  app.get<{ Params: { name: string } }>(
    '/api/v1/instances/:name/players',
    {
      schema: {
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 253 } } },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['items', 'steamIds', 'personas'],
            properties: {
              items: { type: 'array', items: PLAYER },
              steamIds: { type: 'boolean', description: 'RCON status answered, so SteamIDs are known' },
              personas: { type: 'boolean', description: 'a Steam Web API key is set; names missing now arrive in a later answer' },
            },
          },
        },
      },
    },
    async (req) => {
      const doc = await ownedInstance(ctx, req, req.params.name);
      const target = await game.target(doc);
      const [players, status] = await Promise.all([
        queryPlayers(target.port, target.host),
        // SteamIDs are a bonus: without the password or an answer the list still comes.
        game
          .password(doc.metadata.name)
          .then((password) => rconCommand({ ...target, password, timeoutMs: 3000 }, 'status'))
          .then((r) => parseStatus(r.output).players)
          .catch(() => undefined),
      ]);
      if (!players) throw new ApiError(502, `the server of instance "${doc.metadata.name}" did not answer A2S_PLAYER on port ${target.port}`);
      const ids = steamIdsByPlayer(players.map((p) => p.name), status ?? []);
      const personas = game.steamNames.lookup(ids.filter((id): id is string => id !== undefined));
      return {
        items: players.map((p, i) => {
          const steamId = ids[i];
          const persona = steamId ? personas.get(steamId) : undefined;
          return {
            name: p.name,
            score: p.score,
            durationSeconds: p.durationSeconds,
            ...(steamId ? { steamId } : {}),
            // The avatar through this service: the dashboard's CSP loads images from its own origin only.
            ...(persona ? { persona: persona.name, ...(persona.avatar && steamId ? { avatar: `/api/v1/steam/avatars/${steamId}` } : {}) } : {}),
          };
        }),
        steamIds: status !== undefined,
        personas: game.steamNames.enabled,
      };
    },
  );

  // Steam avatars of players this service has listed, proxied: fetched from Steam's avatar CDN only, cached, never another host.
  app.get<{ Params: { id: string } }>(
    '/api/v1/steam/avatars/:id',
    { schema: { params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: '^[0-9]{17}$' } } } } },
    async (req, reply) => {
      const img = await game.steamNames.avatar(req.params.id);
      if (!img) throw new ApiError(404, 'no avatar is known for this SteamID (it shows once a player list has named the player)');
      return reply.type(img.type).header('cache-control', 'private, max-age=3600').header('x-content-type-options', 'nosniff').send(img.bytes);
    },
  );
}
