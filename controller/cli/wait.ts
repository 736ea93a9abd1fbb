/**
 * Waiting for documents to settle (`left4me apply --wait`): polls the status
 * store until every named document's status speaks of its current
 * generation and is Ready, or has failed (Stalled, or a failed newest build),
 * printing each change of what it is doing. Reads the status store only.
 */
import { kindKey, type Kind } from '../documents/kinds.js';
import type { DocumentStatus, StatusStore } from '../status/store.js';
import type { Io } from './io.js';

/** One document to wait for: its kind, name and the spec generation that was written. */
export interface Awaited {
  kind: Kind;
  name: string;
  generation: string;
}

/** How a document's wait ended. */
export type Settled = 'ready' | 'failed' | 'pending';

/** How often the store is read. */
const POLL_MS = 250;

/** Where a document stands, from its status alone: settled or not, and one line saying what it is doing. */
export function progressOf(doc: Awaited, st: DocumentStatus | undefined): { settled: Settled; line: string } {
  const who = `${kindKey(doc.kind)}/${doc.name}`;
  if (!st || st.observedGeneration !== doc.generation) {
    const building = st?.progress ? `: steamcmd ${st.progress.state} ${st.progress.percent.toFixed(0)}% (pass ${st.progress.pass}/${st.progress.passes}, ${st.progress.platform})` : '';
    return { settled: 'pending', line: `${who}: waiting for the controller${building}` };
  }
  const stalled = st.conditions.find((c) => c.type === 'Stalled');
  if (stalled) return { settled: 'failed', line: `${who}: stalled (${stalled.reason}): ${stalled.message}` };
  const ready = st.conditions.find((c) => c.type === 'Ready');
  if (st.build?.result === 'Failed' && st.build.generation === doc.generation) {
    return { settled: 'failed', line: `${who}: build failed: ${st.lastError?.message ?? ready?.message ?? 'see left4me logs'}` };
  }
  if (ready?.status === 'True') return { settled: 'ready', line: `${who}: Ready (${ready.message})` };
  if (st.progress) return { settled: 'pending', line: `${who}: steamcmd ${st.progress.state} ${st.progress.percent.toFixed(0)}% (pass ${st.progress.pass}/${st.progress.passes}, ${st.progress.platform})` };
  // The first condition that does not hold yet says what it waits for (Mounted, Running: starting, Healthy…).
  const waiting = st.conditions.find((c) => c.type !== 'Ready' && c.status !== 'True');
  return { settled: 'pending', line: `${who}: ${waiting ? `${waiting.type} ${waiting.reason}: ${waiting.message}` : `${ready?.reason ?? 'Progressing'}: ${ready?.message ?? ''}`}` };
}

/**
 * Waits until every document is ready or failed, or the deadline passes.
 * Prints a line whenever a document's progress line changes. Resolves to
 * the exit code: 0 all ready, 1 any failed or still pending at the deadline.
 */
export async function waitForDocuments(store: StatusStore, docs: readonly Awaited[], timeoutMs: number, io: Io): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const shown = new Map<string, string>();
  const settled = new Map<string, Settled>();
  for (;;) {
    for (const doc of docs) {
      const key = `${doc.kind}/${doc.name}`;
      if (settled.get(key) !== undefined && settled.get(key) !== 'pending') continue;
      const p = progressOf(doc, await store.read(doc.kind, doc.name).catch(() => undefined));
      if (shown.get(key) !== p.line) io.out(`${p.line}\n`);
      shown.set(key, p.line);
      settled.set(key, p.settled);
    }
    const states = [...settled.values()];
    if (states.every((s) => s !== 'pending')) {
      const failed = states.filter((s) => s === 'failed').length;
      if (failed > 0) io.err(`${failed} of ${docs.length} document(s) failed\n`);
      return failed > 0 ? 1 : 0;
    }
    if (Date.now() > deadline) {
      const left = docs.filter((d) => settled.get(`${d.kind}/${d.name}`) === 'pending').map((d) => `${kindKey(d.kind)}/${d.name}`);
      io.err(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${left.join(', ')} (is the controller running? left4me describe shows more)\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
