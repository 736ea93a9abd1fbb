// Where a `source: directory` installation may live. Its path becomes the
// bottom layer of every instance that uses it, mounted by root; a document
// author must not be able to name another server's config (RCON password
// included), the secrets, the state or the whole file system. So the path
// must lie strictly below a root the operator chose, and every component must
// be a real directory, not a link that could lead out of the root.
import { onHostPath } from '../host/layout.js';
import { lstat } from 'node:fs/promises';

/** Where directory installations may live when the operator names no root (`--installation-root` replaces it). */
export const DEFAULT_INSTALLATION_ROOTS: readonly string[] = ['/srv/left4me/installations'];

/** Whether `path` is `dir` or lies below it, by whole components (so `/a/bc` is not inside `/a/b`). */
export function isInsideDir(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

/**
 * Why a directory installation may not use `path` on this host, or undefined
 * when it may. `path` is a schema-valid absolute path; `roots` are host
 * paths; the file system is read through `fsRoot` (lstat of each component,
 * never following a link). A component that does not exist ends the walk:
 * nothing below it can be a link yet, and the Installation reports the
 * missing tree itself.
 */
export async function installationPathProblem(path: string, roots: readonly string[], fsRoot = '/'): Promise<string | undefined> {
  if (roots.length === 0) {
    return 'directory installations are not allowed on this host (the controller has no --installation-root); use source: steam, or ask the operator to allow a directory';
  }
  if (roots.includes(path)) return `"${path}" is an installation root itself; put the game tree in a directory below it, e.g. ${path}/l4d2`;
  if (!roots.some((r) => isInsideDir(path, r))) {
    return `"${path}" is not below an installation root of this host (${roots.join(', ')}): put the game tree in a directory there, or ask the operator to allow its parent with --installation-root`;
  }
  let at = '';
  for (const part of path.split('/').slice(1)) {
    at = `${at}/${part}`;
    const st = await lstat(onHostPath(fsRoot, at)).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) {
      if ((st as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return `"${path}" cannot be checked: ${at}: ${(st as NodeJS.ErrnoException).code ?? st.message}; make it readable by the controller`;
    }
    if (st.isSymbolicLink()) return `"${path}" goes through a symbolic link at ${at}; a directory installation must be reached without links: use the real path`;
    if (!st.isDirectory()) return `"${path}": ${at} is not a directory`;
  }
  return undefined;
}
