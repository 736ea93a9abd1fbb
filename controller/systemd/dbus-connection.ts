// One D-Bus connection to systemd's bus, kept alive across bus restarts.
//
// dbus-next is used at its lowest level only: raw Message method calls and
// the bus 'message' event. Its gaps are covered here: calls it never settles
// (the socket closed under them) are rejected by us, every call has a
// timeout, 'error' always has a listener, and a closed socket leads to a
// reconnect with backoff that re-runs the caller's setup (match rule,
// Subscribe) before any call goes out on the new connection.
import dbus from 'dbus-next';
import type { Message, MessageBus } from 'dbus-next';
import type { Socket } from 'node:net';
import { SystemdError } from './adapter.js';

/** One method call to systemd (destination org.freedesktop.systemd1 unless given). */
export interface CallSpec {
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
  destination?: string;
}

/** Counters for tests and benchmarks. */
export interface ConnectionStats {
  /** Method calls sent (setup calls included). */
  calls: number;
  /** Signals received. */
  signals: number;
  /** Successful connects; 1 after the first, more after bus restarts. */
  connects: number;
}

/** Hooks a DbusConnection calls; the adapter owns what they do. */
export interface ConnectionHooks {
  /** Runs on every fresh connection before it is handed to callers (AddMatch, Subscribe). */
  setup(call: (spec: CallSpec) => Promise<unknown[]>): Promise<void>;
  /** Every signal, in arrival order, synchronously. */
  signal(msg: Message): void;
  /** The connection was lost (or closed); pending calls have been rejected. */
  disconnected(err: SystemdError): void;
  /** A connection after the first one is ready. */
  reconnected(): void;
}

const SYSTEMD = 'org.freedesktop.systemd1';
const SIGNAL = (dbus as unknown as { MessageType: { SIGNAL: number } }).MessageType.SIGNAL;
const CONNECT_TIMEOUT_MS = 5_000;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 2_000;

interface Pending {
  reject(err: SystemdError): void;
}

/** A self-healing connection to one bus address; owns the socket and the reconnect loop. */
export class DbusConnection {
  /** Counters since construction. */
  readonly stats: ConnectionStats = { calls: 0, signals: 0, connects: 0 };
  /** Increments on every successful connect; caches filled under an older generation are stale. */
  generation = 0;
  private bus: MessageBus | null = null;
  private ready: Promise<MessageBus>;
  private resolveReady!: (bus: MessageBus) => void;
  private readonly pending = new Set<Pending>();
  private closed = false;
  private lastError: unknown;

  constructor(
    private readonly address: string,
    private readonly hooks: ConnectionHooks,
    private readonly callTimeoutMs = 30_000,
  ) {
    this.ready = this.newReady();
    void this.connectLoop();
  }

  /** Sends one method call and returns the reply body; rejects with SystemdError. */
  async call(spec: CallSpec, timeoutMs = this.callTimeoutMs): Promise<unknown[]> {
    const bus = await this.waitReady(timeoutMs);
    return this.send(bus, spec, timeoutMs);
  }

  /** Closes the socket for good; pending and future calls reject with code `closed`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new SystemdError('closed', 'systemd adapter closed');
    const bus = this.bus;
    this.bus = null;
    this.failPending(err);
    if (bus) destroy(bus);
    this.hooks.disconnected(err);
  }

  private send(bus: MessageBus, spec: CallSpec, timeoutMs: number): Promise<unknown[]> {
    this.stats.calls++;
    const msg = new dbus.Message({
      destination: spec.destination ?? SYSTEMD,
      path: spec.path,
      interface: spec.interface,
      member: spec.member,
      signature: spec.signature ?? '',
      body: spec.body ?? [],
    });
    return new Promise((resolve, reject) => {
      const entry: Pending = { reject };
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(entry);
      };
      entry.reject = (err) => {
        done();
        reject(err);
      };
      const timer = setTimeout(
        () => entry.reject(new SystemdError('timeout', `${spec.interface}.${spec.member} got no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.add(entry);
      bus.call(msg).then(
        (reply) => {
          if (!this.pending.has(entry)) return;
          done();
          resolve(reply?.body ?? []);
        },
        (err: unknown) => {
          if (!this.pending.has(entry)) return;
          done();
          reject(callError(spec, err));
        },
      );
    });
  }

  private async waitReady(timeoutMs: number): Promise<MessageBus> {
    if (this.closed) throw new SystemdError('closed', 'systemd adapter closed');
    if (this.bus) return this.bus;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SystemdError('timeout', `no connection to ${this.address} within ${timeoutMs} ms: ${String(this.lastError ?? 'connecting')}`)),
        timeoutMs,
      );
    });
    // Registered as pending so that close() also ends the wait.
    const waiter: Pending = { reject: () => undefined };
    const closed = new Promise<never>((_, reject) => {
      waiter.reject = reject;
    });
    this.pending.add(waiter);
    try {
      return await Promise.race([this.ready, timeout, closed]);
    } finally {
      clearTimeout(timer);
      this.pending.delete(waiter);
    }
  }

  private newReady(): Promise<MessageBus> {
    return new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  private async connectLoop(): Promise<void> {
    let delay = BACKOFF_MIN_MS;
    while (!this.closed) {
      try {
        await this.open();
        return;
      } catch (err) {
        this.lastError = err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      }
    }
  }

  // Adopts the connection in the same callback that sees setup finish, so a
  // socket closing right after can never go unnoticed.
  private open(): Promise<void> {
    // sessionBus() is dbus-next's only constructor that takes an address; the
    // bus it connects to is whatever the address names (here: a system bus).
    const bus = dbus.sessionBus({ busAddress: this.address });
    const stream = socketOf(bus);
    return new Promise((resolve, reject) => {
      let settled = false;
      let live = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        destroy(bus);
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`connecting to ${this.address} timed out`)), CONNECT_TIMEOUT_MS);
      // Without a listener an 'error' event would crash the process.
      bus.on('error', (err: unknown) => {
        this.lastError = err;
        fail(err);
      });
      stream.once('close', () => {
        if (!live) return fail(new Error(`connection to ${this.address} closed during setup`));
        this.lost(bus);
      });
      bus.on('message', (msg: Message) => {
        if (msg.type !== SIGNAL) return;
        this.stats.signals++;
        try {
          this.hooks.signal(msg);
        } catch {
          // A subscriber's bug must not turn into an error reply to systemd's signal.
        }
      });
      bus.once('connect', () => {
        this.hooks
          .setup((spec) => this.send(bus, spec, CONNECT_TIMEOUT_MS))
          .then(() => {
            if (settled) return;
            if (this.closed) return fail(new SystemdError('closed', 'systemd adapter closed'));
            settled = true;
            live = true;
            clearTimeout(timer);
            this.bus = bus;
            this.generation++;
            this.stats.connects++;
            this.resolveReady(bus);
            if (this.stats.connects > 1) this.hooks.reconnected();
            resolve();
          }, fail);
      });
    });
  }

  private lost(bus: MessageBus): void {
    if (this.bus !== bus) return;
    this.bus = null;
    const err = new SystemdError('disconnected', `lost the connection to ${this.address}`);
    this.failPending(err);
    this.hooks.disconnected(err);
    if (this.closed) return;
    this.ready = this.newReady();
    void this.connectLoop();
  }

  private failPending(err: SystemdError): void {
    const all = [...this.pending];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}

function callError(spec: CallSpec, err: unknown): SystemdError {
  const e = err as { type?: string; text?: string; message?: string };
  if (e instanceof SystemdError) return e;
  const text = e.text ?? e.message ?? String(err);
  return new SystemdError('call', `${spec.member}: ${text}`, e.type);
}

// dbus-next exposes neither the socket's 'close' nor a way to destroy it;
// both are needed to notice a restarted bus and to not leak sockets.
function socketOf(bus: MessageBus): Socket {
  return (bus as unknown as { _connection: { stream: Socket } })._connection.stream;
}

function destroy(bus: MessageBus): void {
  try {
    socketOf(bus).destroy();
  } catch {
    // Already gone.
  }
}
