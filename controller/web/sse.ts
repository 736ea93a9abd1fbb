/**
 * Server-sent event streams: the one way the web service writes a stream, so
 * every stream has the same limits. A stream takes over the raw response
 * (fastify's reply is hijacked), sends a `: ping` comment every heartbeat so
 * proxies keep it open, and is dropped — not buffered without bound — when
 * its client stops reading. Every open stream is tracked so that the app's
 * close ends them all.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

export interface SseLimits {
  /** Comment sent this often (default 15 s). */
  heartbeatMs: number;
  /** Bytes a client may leave unread before it is dropped (default 1 MiB). */
  maxBuffered: number;
}

export const DEFAULT_SSE_LIMITS: SseLimits = { heartbeatMs: 15_000, maxBuffered: 1 << 20 };

/** One open stream. */
export interface SseStream {
  /** Sends one event; data is JSON. Returns false once the stream is closed. */
  send(event: string, data: unknown, id?: string): boolean;
  close(): void;
  readonly closed: boolean;
  /** Called once when the stream ends, whoever ends it. */
  onClose(fn: () => void): void;
}

/**
 * Streams of one kind (events, logs), with a cap on how many one account
 * may hold at a time. Owns its open streams.
 */
export class SseHub {
  private readonly open = new Set<SseStream>();
  private readonly perUser = new Map<string, number>();

  constructor(
    private readonly limits: SseLimits,
    /** Streams one account may hold at once. */
    private readonly maxPerUser: number,
    private readonly what: string,
    /** Streams open at once across all accounts. */
    private readonly maxTotal = Infinity,
  ) {}

  /** Refuses (429) before anything is sent when `user` already holds its share. */
  reserve(user: string): void {
    if (this.open.size >= this.maxTotal) throw new ApiError(503, `the service already follows ${this.maxTotal} ${this.what} streams; try again later`);
    if ((this.perUser.get(user) ?? 0) >= this.maxPerUser) {
      throw new ApiError(429, `${user} already has ${this.maxPerUser} open ${this.what} streams; close one first`);
    }
  }

  /** Starts a stream on `reply` for `user` (call reserve first). */
  start(req: FastifyRequest, reply: FastifyReply, user: string): SseStream {
    this.reserve(user);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // nginx buffers proxied answers unless told not to.
      'x-accel-buffering': 'no',
      // The socket ends with the stream (it is destroyed then): a client must never send its next request on it.
      connection: 'close',
    });
    // The reconnection delay browsers use; a comment-free first write also flushes the headers.
    res.write('retry: 3000\n\n');
    this.perUser.set(user, (this.perUser.get(user) ?? 0) + 1);
    const closers: Array<() => void> = [];
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(ping);
      this.open.delete(stream);
      const n = (this.perUser.get(user) ?? 1) - 1;
      if (n > 0) this.perUser.set(user, n);
      else this.perUser.delete(user);
      for (const fn of closers) fn();
      if (!res.writableEnded) res.end();
      // A client that stopped reading never drains what was written: end() alone would wait for it.
      res.destroy();
    };
    const write = (text: string): boolean => {
      if (closed) return false;
      // What is still unsent from earlier writes decides: one large event to a reader that keeps up is fine.
      if (res.writableLength > this.limits.maxBuffered) {
        close();
        return false;
      }
      res.write(text);
      return true;
    };
    const ping = setInterval(() => write(': ping\n\n'), this.limits.heartbeatMs);
    const stream: SseStream = {
      send: (event, data, id) => write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
      close,
      get closed() {
        return closed;
      },
      onClose: (fn) => {
        if (closed) fn();
        else closers.push(fn);
      },
    };
    this.open.add(stream);
    req.raw.on('close', close);
    res.on('close', close);
    res.on('error', close);
    return stream;
  }

  /** Ends every open stream (the app is closing). */
  closeAll(): void {
    for (const s of [...this.open]) s.close();
  }

  /** How many streams are open (for tests and metrics). */
  get size(): number {
    return this.open.size;
  }
}
