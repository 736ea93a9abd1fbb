/**
 * The web service's one way to change the state tree: the writer `left4me
 * apply` uses (whole tree checked on a copy, each file written atomically),
 * one write at a time within this service, and the kept state forgotten
 * after each. Refusals become ApiErrors carrying the writer's problems, at
 * the lines of the body as the client sent it.
 */
import { relative, sep } from 'node:path';
import { applyDocuments, deleteDocument, type WriteResult } from '../documents/writer.js';
import type { Kind } from '../documents/kinds.js';
import type { DesiredState } from '../documents/loader.js';
import type { Problem } from '../documents/problems.js';
import { BODY, problemsFor, type AuthoredBody } from './authoring.js';
import type { WebContext } from './context.js';
import { ApiError } from './errors.js';
import type { WebUser } from './users.js';

export class DocumentWrites {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: WebContext) {}

  /**
   * Runs `fn` after every write this service started before it. An If-Match
   * check and the write it guards run inside one turn, so two requests of
   * this service cannot both pass a check against the same version; the
   * writer itself refuses to overwrite a file changed by anyone else since it
   * read it (the window left is between that read and this check's load).
   */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    // Checks inside read the tree as it is now, not as the watcher last saw it: an edit by
    // `left4me apply` or an editor a moment ago must make an old If-Match stale at once.
    const fresh = () => {
      this.ctx.state.invalidate();
      return fn();
    };
    const run = this.tail.then(fresh, fresh);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Applies (or dry-runs) an authored body; throws 422 with the problems when the writer refuses (in a dry run only when asked to). */
  async apply(user: WebUser, body: AuthoredBody, dryRun = false, throwRefused = !dryRun): Promise<WriteResult> {
    const result = await applyDocuments(this.ctx.opts.stateDir, [body.input], { ...(await this.ctx.state.loadOptions()), dryRun });
    if (!dryRun) this.ctx.state.invalidate();
    if (result.refused && throwRefused) {
      const state = await this.ctx.state.get();
      const problems = this.problems(user, state, result.refused.problems, body);
      throw new ApiError(422, this.headline(user, result.refused.message, problems), { problems });
    }
    return result;
  }

  /** Deletes a document; throws 422 when others still use it. */
  async delete(user: WebUser, kind: Kind, name: string): Promise<void> {
    const result = await deleteDocument(this.ctx.opts.stateDir, kind, name, await this.ctx.state.loadOptions());
    this.ctx.state.invalidate();
    if (result.refused) {
      const state = await this.ctx.state.get();
      const problems = this.problems(user, state, result.refused.problems);
      // The writer names the documents that still need this one; a user must not learn other users' names from it.
      const message = user.role === 'admin' ? result.refused.message : `${kind.toLowerCase()}/${name} is still used by other documents: change or delete those first; nothing was deleted`;
      throw new ApiError(422, message, { problems });
    }
  }

  /** The writer's headline names the documents a change would break; a user hears only how many problems it may see. */
  headline(user: WebUser, message: string, shown: Problem[]): string {
    return user.role === 'admin' ? message : `nothing applied: ${shown.length} problem${shown.length === 1 ? '' : 's'}`;
  }

  /**
   * Problems as the client sees them: the body's at the lines it sent, the
   * tree's relative to the state directory (the host's paths are not the
   * client's business), a git source's by its repository path, and for users only what they may see.
   */
  problems(user: WebUser, state: DesiredState, problems: Problem[], body?: AuthoredBody, alsoVisible?: ReadonlySet<string>): Problem[] {
    const stateDir = this.ctx.opts.stateDir;
    const shown = problems.map((p) => {
      const message = p.message.split(stateDir + sep).join('');
      if (p.file === BODY) return { ...p, line: body ? body.originalLine(p.line) : p.line, message };
      // A git source's file is shown as `SOURCE@<commit>:<repository path>` already: no host path in it.
      if (p.origin) return { ...p, message };
      const rel = relative(stateDir, p.file);
      return { ...p, file: rel === '' || rel.startsWith('..') ? '-' : rel, message };
    });
    return problemsFor(user, state, shown, alsoVisible);
  }
}
