/**
 * Where a document came from when it is not the local state directory: a git
 * source's checkout. The loader reads each SourceRoot beside the local tree;
 * a document read from one carries a DocumentOrigin, which is what makes it
 * read-only to `left4me apply`/`delete` and the web API, and what `describe`
 * and `get` show. Types only.
 */

/** A git source's documents as the loader reads them. */
export interface SourceRoot {
  /** The source's name (controller.yaml `sources[].name`). */
  name: string;
  /** The documents directory as this process reads it: `<checkout of commit>/<path>`. */
  dir: string;
  /** The full commit id whose tree `dir` is. */
  commit: string;
  /** `dir` relative to the repository root (`.` for the root). */
  path: string;
}

/** The git source, commit and repository-relative file a document was read from. */
export interface DocumentOrigin {
  source: string;
  commit: string;
  /** The file, relative to the repository root (e.g. `hosts/eu/instances/a.yaml`). */
  file: string;
}
