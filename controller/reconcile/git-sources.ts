/**
 * The controller's git sources: one SourceSync per configured source
 * (controller.yaml `sources:`), the webhook secrets the web checks forges'
 * signatures with, and the trigger directory through which a webhook asks
 * for a fetch now. A sync flips a source's `current` only after the whole
 * state it would make (local documents, the other sources as they serve now,
 * and the candidate commit) has no problem in the candidate's documents;
 * after a flip the controller reloads, and the next load reads the new
 * commit (readActiveSources, on every load).
 */
import type { Logger } from 'pino';
import type { ControllerConfig } from '../config.js';
import { loadState, type LoadOptions } from '../documents/loader.js';
import type { SourceRoot } from '../documents/origin.js';
import type { Problem } from '../documents/problems.js';
import { layoutOnHost } from '../host/layout.js';
import { SourceSync, type SyncDeps } from '../sources/sync.js';
import { prepareTriggersDir, watchTriggers, type TriggerWatch } from '../sources/triggers.js';
import { ensureWebhookSecrets } from '../sources/webhook-secrets.js';
import { errorMessage } from './errors.js';

export interface GitSourcesDeps {
  log: Logger;
  /** How the controller loads desired state now (with the active sources). */
  loadOptions(): Promise<LoadOptions>;
  /** A source now serves a new commit: read the documents again. */
  served(name: string, commit: string): void;
  /** The web account's group, when the host has one (webhook secrets and the trigger directory are shared with it). */
  webGid?: number;
  /** Test seams of the sync (an ssh stand-in, caps). */
  sync?: Partial<Pick<SyncDeps, 'sshProgram' | 'limits' | 'fetchTimeoutMs' | 'maxFetchBytes'>>;
}

/** Whether a problem lies in the candidate commit's documents: what refuses that commit. */
export function concernsCandidate(p: Problem, candidate: SourceRoot): boolean {
  return p.origin?.source === candidate.name && p.origin.commit === candidate.commit;
}

export class GitSources {
  private readonly syncs = new Map<string, SourceSync>();
  private triggers: TriggerWatch | undefined;

  constructor(
    private readonly cfg: ControllerConfig,
    private readonly deps: GitSourcesDeps,
  ) {}

  /** The syncs by source name (status, tests). */
  get sources(): ReadonlyMap<string, SourceSync> {
    return this.syncs;
  }

  /**
   * Starts every source: webhook secrets made where missing (their paths
   * logged, never their contents), the trigger directory watched, and each
   * source fetched now and then every interval. What a source served before
   * a restart keeps serving meanwhile: the loader reads `current` from disk.
   */
  async start(opts: { poll?: boolean } = {}): Promise<void> {
    if (this.cfg.sources.length === 0) return;
    const layout = layoutOnHost(this.cfg.units.layout, this.cfg.fsRoot);
    const names = this.cfg.sources.map((s) => s.name);
    const secrets = await ensureWebhookSecrets(layout, names, this.deps.webGid);
    for (const name of secrets.created) {
      this.deps.log.info({ source: name, file: `${this.cfg.units.layout.webhookSecretsDir}/${name}` }, 'made a webhook secret for this git source; give its contents to the forge (as root: cat the file)');
    }
    await prepareTriggersDir(layout, this.deps.webGid);
    for (const src of this.cfg.sources) {
      const log = this.deps.log.child({ source: src.name });
      const sync = new SourceSync(src, layout, {
        validate: (candidate) => this.validate(candidate),
        log,
        onServe: (name, commit) => this.deps.served(name, commit),
        ...this.deps.sync,
      });
      this.syncs.set(src.name, sync);
      if (opts.poll !== false) sync.start();
    }
    // `controller --once`: one fetch of each source, awaited, before the one pass; no polling, no webhooks.
    if (opts.poll === false) {
      await Promise.all([...this.syncs.values()].map((s) => s.fetchNow('once')));
      return;
    }
    this.triggers = watchTriggers(layout, {
      names: () => [...this.syncs.keys()],
      onTrigger: async (name) => {
        await this.syncs.get(name)?.fetchNow('webhook');
      },
      log: this.deps.log,
    });
  }

  /** Fetches one source now, as a webhook would (`left4me`'s own verbs, tests). */
  fetchNow(name: string, reason = 'asked') {
    const sync = this.syncs.get(name);
    if (!sync) throw new Error(`no git source named ${name}`);
    return sync.fetchNow(reason);
  }

  /**
   * The whole state a candidate commit would make: the local documents, the
   * other sources as they serve now, and the candidate in place of what its
   * source serves. Only problems in the candidate's own documents refuse it
   * (a name it shares with a local document is one, on its copy); a problem
   * in a local document is that document's, reported as always.
   */
  private async validate(candidate: SourceRoot): Promise<Problem[]> {
    const opts = await this.deps.loadOptions();
    const others = (opts.sources ?? []).filter((s) => s.name !== candidate.name);
    const state = await loadState(this.cfg.stateDir, { ...opts, sources: [...others, candidate] });
    return state.problems.filter((p) => concernsCandidate(p, candidate));
  }

  async stop(): Promise<void> {
    await this.triggers?.close().catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'closing the trigger watch failed'));
    await Promise.all([...this.syncs.values()].map((s) => s.stop()));
  }
}
