/**
 * What a reconcile does next, as a tiny vocabulary (controller-runtime's
 * results, Flux's typed errors). A step throws one of these to end the
 * reconcile early; anything else it throws is transient and backs off.
 *
 * - done: the step list ran to the end (or a deletion finished);
 * - Waiting: nothing is wrong, something is not there yet — look again at a
 *   time, or when the thing it waits for enqueues the key;
 * - Stalled: a human must act (an invalid document, a port conflict); the
 *   status says what, and the key is not retried until an input changes;
 * - any other error: transient, retried with capped exponential backoff.
 */
import type { ReconcileResult } from './queue.js';

/** A human must act: recorded as the Stalled condition; not retried until an input changes. */
export class Stalled extends Error {
  override name = 'Stalled';
  constructor(
    /** A Reason constant (status/conditions.ts). */
    readonly reason: string,
    message: string,
    /**
     * For stalls that the host, not a document, may clear (a foreign program
     * holding a port): look again after this long.
     */
    readonly recheckAfterMs?: number,
    /** The document (file:line) a person should look at, when one is to blame. */
    readonly where?: { file: string; line: number },
  ) {
    super(message);
  }
}

/** Nothing is wrong yet; retry at a time, or when what it waits for enqueues the key. */
export class Waiting extends Error {
  override name = 'Waiting';
  constructor(
    readonly reason: string,
    message: string,
    /** Undefined: the awaited event enqueues the key itself (a build finishing). */
    readonly afterMs?: number,
  ) {
    super(message);
  }
}

/** The queue result for a Stalled or Waiting outcome; other errors are rethrown for backoff. */
export function resultOf(err: unknown): ReconcileResult {
  if (err instanceof Stalled) return err.recheckAfterMs !== undefined ? { requeueAfterMs: err.recheckAfterMs } : undefined;
  if (err instanceof Waiting) return err.afterMs !== undefined ? { requeueAfterMs: err.afterMs } : undefined;
  throw err;
}

/** Whether an error is an outcome (Stalled or Waiting) rather than a failure. */
export function isOutcome(err: unknown): err is Stalled | Waiting {
  return err instanceof Stalled || err instanceof Waiting;
}
