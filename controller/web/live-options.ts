/**
 * The knobs of the live capabilities (events, logs): defaults suit a host;
 * tests shorten the intervals and, for the journal, say how to reach the
 * journal of the host under test.
 */
export interface LiveOptions {
  /** `: ping` comment interval of every stream (default 15 s). */
  heartbeatMs?: number;
  /** Bytes a client may leave unread before its stream is dropped (default 1 MiB). */
  maxBuffered?: number;
  /** Event streams one account may hold at once (default 8). */
  eventStreamsPerUser?: number;
  /** Event streams open at once across all accounts (default 1024). */
  eventStreams?: number;
  /** Events kept for resuming with Last-Event-ID (default 1024). */
  ringSize?: number;
  /** Full comparison of the status directory this often (default 30 s). */
  rescanMs?: number;
  /**
   * The journalctl command line before its arguments (default `['journalctl']`);
   * a test host puts its nsenter/setpriv prefix here.
   */
  journalctl?: readonly string[];
  /** The journal namespace of the game servers (default `left4me`). */
  journalNamespace?: string;
  /** Log followers (server and build logs) open at once, across all accounts (default 32); one account may hold a quarter. */
  logFollowers?: number;
  /** How often a followed build log is read again (default 500 ms). */
  buildLogPollMs?: number;
}
