/**
 * Unsaved work that leaving would lose. An element with such work (the
 * documents editor) holds a LeaveGuard controller while it is on the page:
 * the shell asks `mayLeave()` before it follows a new hash, and the browser
 * asks its own question before a reload or a closed tab (`beforeunload`: a
 * page may not word that prompt, nor replace it with its own dialog).
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

interface Guard {
  /** True while leaving would lose something. */
  dirty(): boolean;
  /** Asks the person whether to leave anyway (the element's own accessible dialog). */
  ask(): Promise<boolean>;
}

const guards = new Set<Guard>();

/** True when some element on the page holds unsaved work. */
export function unsaved(): boolean {
  return [...guards].some((g) => g.dirty());
}

/** Asks every element with unsaved work, one after another; true when all agree to leave (or none has any). */
export async function mayLeave(): Promise<boolean> {
  for (const g of [...guards]) if (g.dirty() && !(await g.ask())) return false;
  return true;
}

/** A host's guard, active while the host is connected; `dirty` and `ask` are the host's. */
export class LeaveGuard implements ReactiveController, Guard {
  private readonly onBeforeUnload = (e: BeforeUnloadEvent) => {
    if (!this.dirty()) return;
    // Both: preventDefault is the standard, returnValue what older engines still read.
    e.preventDefault();
    e.returnValue = '';
  };

  constructor(
    host: ReactiveControllerHost,
    readonly dirty: () => boolean,
    readonly ask: () => Promise<boolean>,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    guards.add(this);
    window.addEventListener('beforeunload', this.onBeforeUnload);
  }

  hostDisconnected(): void {
    guards.delete(this);
    window.removeEventListener('beforeunload', this.onBeforeUnload);
  }
}
