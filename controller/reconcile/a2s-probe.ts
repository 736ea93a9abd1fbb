import { GameDig } from 'gamedig';

/** What an A2S query said about a server. */
export interface ServerProbe {
  name: string;
  map: string;
  players: number;
  maxPlayers: number;
}

/** Asks a game server over A2S (challenge handshake included) how it is; undefined when it does not answer in time. */
export type Probe = (port: number) => Promise<ServerProbe | undefined>;

/** A2S through gamedig, on loopback: servers bind 0.0.0.0, and the controller runs on their host. */
export function a2sProbe(host = '127.0.0.1', timeoutMs = 1500): Probe {
  return async (port) => {
    try {
      const r = await GameDig.query({ type: 'l4d2', host, port, givenPortOnly: true, maxRetries: 1, socketTimeout: timeoutMs, attemptTimeout: timeoutMs * 2 });
      return { name: r.name, map: r.map, players: r.numplayers ?? r.players.length, maxPlayers: r.maxplayers };
    } catch {
      return undefined;
    }
  };
}
