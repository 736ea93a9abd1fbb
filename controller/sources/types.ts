/**
 * Git sources: the shapes every room shares. A source is a repository the
 * controller fetches with the git CLI; a commit whose documents (with the
 * local ones and the other sources') all validate is checked out and flipped
 * in atomically; one that does not leaves the last good commit serving and is
 * reported. This file is types and pure path helpers only: the configuration
 * file (config-file.ts) parses into GitSourceConfig, the sync (sources/) writes
 * the layout and SourceStatus below, and the loader, CLI and web read them.
 *
 * On disk, per source NAME (HostLayout.sourcesDir = `<dataDir>/sources`):
 *   `<sourcesDir>/NAME/repo.git/`            the bare repository (root only)
 *   `<sourcesDir>/NAME/checkouts/<commit>/`  one commit's whole tree, read-only
 *   `<sourcesDir>/NAME/current`              relative symlink `checkouts/<commit>`, flipped with rename(2)
 *   `<statusDir>/sources/NAME.json`          SourceStatus, written atomically
 * The documents of a source are `current/<path>`. A trigger file
 * `<triggersDir>/git-NAME` (written by the web's webhook route) asks the
 * controller to fetch NAME now.
 */
import { join } from 'node:path';
import type { HostLayout } from '../host/layout.js';
import type { Problem } from '../documents/problems.js';

/** One `sources:` entry of controller.yaml, after validation and defaults. */
export interface GitSourceConfig {
  /** `[a-z0-9][a-z0-9-]{0,62}`: names the source in status, the CLI, webhooks and trigger files. */
  name: string;
  /** https://, ssh:// or scp-like `user@host:path`, file://, or an absolute local path. Never holds credentials. */
  url: string;
  /** What to follow: a branch (default `main`) or a tag; exactly one. */
  ref: { branch: string } | { tag: string };
  /** Directory inside the repository holding the documents: relative, no `..`; `.` for the root. */
  path: string;
  /** How often to fetch, in ms (default 60 000). */
  intervalMs: number;
  /**
   * A directory name below `<configDir>/secrets/git/` (root only) holding either
   * `ssh-key` and `known_hosts` (pinned host keys), or `token` (and optionally
   * `username`, default `x-access-token`) for HTTPS.
   */
  credentials?: string;
  /** Fetch submodules too (default false). */
  submodules: boolean;
  /** Accept a new tip that does not descend from the serving commit (default false: reported, nothing changes). */
  allowForcePush: boolean;
}

/** A commit as status shows it. */
export interface CommitInfo {
  commit: string;
  author: string;
  /** Committer date, ISO 8601. */
  date: string;
  subject: string;
}

/** What `left4me get sources`, `describe` and the web show about one source; written by the controller only. */
export interface SourceStatus {
  name: string;
  /** The configured URL with any userinfo removed. */
  url: string;
  ref: { branch: string } | { tag: string };
  path: string;
  intervalMs: number;
  /** The commit whose documents are in force, or null before the first good one. */
  serving: (CommitInfo & { since: string }) | null;
  /** The last fetch attempt: when, and the tip it found (absent when the fetch failed). */
  lastFetch: { at: string; tip?: string } | null;
  /** Why the newest tip is not serving: an unreachable remote, a deleted branch, a force-push, or the tip's problems with file:line. Null once a fetch serves its tip. */
  lastError: {
    at: string;
    /** Short reason: `fetch-failed`, `ref-missing`, `force-push`, `invalid`, `checkout-failed`. */
    reason: string;
    message: string;
    commit?: CommitInfo;
    /** For `invalid`: the problems, with file paths relative to the repository root. */
    problems?: Problem[];
  } | null;
}

/** Where one source's pieces live. */
export interface SourcePaths {
  root: string;
  repo: string;
  checkouts: string;
  current: string;
  status: string;
  trigger: string;
}

export function sourcePaths(layout: HostLayout, name: string): SourcePaths {
  const root = join(layout.sourcesDir, name);
  return {
    root,
    repo: join(root, 'repo.git'),
    checkouts: join(root, 'checkouts'),
    current: join(root, 'current'),
    status: join(layout.statusDir, 'sources', `${name}.json`),
    trigger: join(layout.triggersDir, `git-${name}`),
  };
}

/** Source names follow document names. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
