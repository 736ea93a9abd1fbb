/**
 * Runs async sections one at a time, in the order they were asked for. A
 * store whose changes are computed from its memory, written, and only then
 * kept (a lease or uid table: nothing is believed that did not reach the
 * disk) must not let two of them interleave: the later one would compute
 * from a table the earlier one is replacing, and one of the two changes
 * would be lost (a deleted instance's lease brought back, a new one
 * dropped). A section that fails does not stop the ones after it.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T>): Promise<T> {
    const next = this.tail.catch(() => undefined).then(section);
    this.tail = next;
    return next;
  }
}
