// gamedig 5 ships no type declarations; this covers the part left4me uses.
declare module 'gamedig' {
  export interface QueryOptions {
    type: string;
    host: string;
    port?: number;
    maxRetries?: number;
    socketTimeout?: number;
    attemptTimeout?: number;
    givenPortOnly?: boolean;
    checkOldIDs?: boolean;
    requestRules?: boolean;
  }
  export interface QueryResult {
    name: string;
    map: string;
    password: boolean;
    numplayers: number;
    maxplayers: number;
    players: Array<{ name?: string; raw?: Record<string, unknown> }>;
    bots: unknown[];
    connect: string;
    /** The server's version string (A2S_INFO). */
    version: string;
    ping: number;
    raw?: Record<string, unknown>;
  }
  export class GameDig {
    static query(options: QueryOptions): Promise<QueryResult>;
  }
}
