/**
 * The status a reconcile is writing: starts from what the store holds,
 * collects condition updates and field changes from each step, and is turned
 * into the new status once, in the reconcile's `finally` (Ready computed
 * there, events for transitions only). Owns nothing on disk.
 */
import { ConditionType as C } from '../status/conditions.js';
import type { DocumentStatus } from '../status/store.js';
import { applyConditions, emptyStatus, type ConditionUpdate } from './instance-status.js';
import type { Stalled } from './outcome.js';

/** Collects one reconcile's status changes; build() returns the status to write. */
export class StatusBuilder {
  private fields: DocumentStatus;
  private readonly updates: ConditionUpdate[] = [];
  /** The spec generation the conditions speak about; left as it was when undefined (an invalid document). */
  generation: string | undefined;

  constructor(
    readonly prev: DocumentStatus | undefined,
    kind: DocumentStatus['kind'],
    name: string,
    readonly now: Date,
  ) {
    this.fields = prev ?? emptyStatus(kind, name);
    this.generation = prev?.observedGeneration;
  }

  /** The status fields as they stand now (read by steps that continue from the last pass). */
  get current(): DocumentStatus {
    return this.fields;
  }

  /** Sets a condition (applied in order at build()). */
  set(...updates: ConditionUpdate[]): this {
    this.updates.push(...updates);
    return this;
  }

  /** Sets or removes (undefined) top-level fields. */
  patch(fields: { [K in keyof DocumentStatus]?: DocumentStatus[K] | undefined }): this {
    const next: Record<string, unknown> = { ...this.fields };
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    this.fields = next as unknown as DocumentStatus;
    return this;
  }

  /** Records a stall: the Stalled condition, and lastError with where to look. */
  stalled(s: Stalled): this {
    this.set({ type: C.Stalled, status: 'True', reason: s.reason, message: s.message });
    return this.patch({ lastError: { message: s.message, ...s.where, time: this.now.toISOString() } });
  }

  /** Clears the Stalled condition (it exists only while true). */
  notStalled(): this {
    return this.set({ type: C.Stalled, status: 'False', reason: '', message: '' });
  }

  /** The status to write: conditions applied, Ready computed, events for transitions. */
  build(): DocumentStatus {
    return applyConditions(this.fields, this.generation, this.updates, this.now);
  }
}
