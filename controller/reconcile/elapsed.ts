/**
 * How long something has been waiting, by a clock that does not jump. The
 * controller's timed decisions (a whenEmpty restart's maxUpdateDelay, the
 * trash's retention, an overlay's refresh) start from timestamps it persists
 * in wall-clock time, but the wall clock can be stepped (NTP, an operator's
 * `date -s`) by a day either way while the controller runs. The rules:
 *
 * - Within one controller's life, a wait is measured on the monotonic clock:
 *   a step of the wall clock neither ends it early (forward) nor stretches it
 *   (backward). The first time the controller meets a wait it adopts its
 *   persisted stamp's wall-clock age; from then on only monotonic time counts.
 * - A stamp in the future (the clock was stepped back since it was written)
 *   adopts as age 0: "began now". It cannot be older than that by any clock
 *   we can read, and waiting from now is bounded; a stamp that is not a time
 *   at all adopts as age 0 too.
 * - An age larger than any plausible one cannot be told from a real one
 *   across a controller restart (nothing monotonic survives the process), so
 *   a wall-clock age met at adoption is believed: a forward step while no
 *   controller ran ends waits early, once. Callers that persist a stamp write
 *   back `wall now − age`, so a stamp stays consistent with the current wall
 *   clock and a restart after a step adopts the true age.
 */

/** Ages of keyed waits, adopted from wall-clock stamps, then counted on a monotonic clock. */
export class ElapsedClock {
  /** Key → the monotonic time at which its age was 0. */
  private readonly zero = new Map<string, number>();

  constructor(
    private readonly wall: () => number,
    private readonly monotonic: () => number = () => performance.now(),
  ) {}

  /** The age (ms) of `key`: adopted from `stamp` (wall-clock ms) the first time, monotonic since. */
  age(key: string, stamp: number): number {
    const mono = this.monotonic();
    let zero = this.zero.get(key);
    if (zero === undefined) {
      const age = this.wall() - stamp;
      zero = mono - (Number.isFinite(age) && age > 0 ? age : 0);
      this.zero.set(key, zero);
    }
    return mono - zero;
  }

  /** Starts `key` at age 0 now (the controller itself just began the wait). */
  begin(key: string): void {
    this.zero.set(key, this.monotonic());
  }

  /** Forgets `key` (its wait is over); the next age() adopts its stamp again. */
  forget(key: string): void {
    this.zero.delete(key);
  }

  /** Forgets the keys under `prefix` that are not in `keep` (waits whose subject is gone). */
  forgetExcept(prefix: string, keep: ReadonlySet<string>): void {
    for (const k of this.zero.keys()) if (k.startsWith(prefix) && !keep.has(k)) this.zero.delete(k);
  }
}
