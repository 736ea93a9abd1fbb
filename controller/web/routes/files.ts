import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { openDirBeneath, UnsafePathError, type Dir } from '../../fs/beneath.js';
import { ownedInstance, visibleDocument } from '../access.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import { browse, pathSegments } from '../file-tree.js';

/**
 * `GET /api/v1/overlays/NAME/files/PATH` (the overlay's ready build, for
 * whoever may see the overlay) and `GET /api/v1/instances/NAME/files/PATH`
 * (the instance's writable layer, for its owner or an admin): a directory
 * answers a JSON listing, a regular file its bytes as an attachment. Nothing
 * outside those trees is reachable (file-tree.ts).
 */
export function filesRoutes(app: FastifyInstance, ctx: WebContext): void {
  const schema = {
    params: { type: 'object', properties: { name: { type: 'string', maxLength: 63 }, '*': { type: 'string' } }, required: ['name'] },
    response: { 200: { $ref: 'left4me-web/file-listing#' } },
  };
  for (const resource of ['overlays', 'instances'] as const) {
    const handler = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
      const name = req.params.name;
      const root = resource === 'overlays' ? await overlayTree(ctx, req, name) : await writableLayer(ctx, req, name);
      try {
        return await answer(reply, root, requestedPath(req.url));
      } finally {
        await root.close();
      }
    };
    app.get(`/api/v1/${resource}/:name/files`, { schema }, handler);
    app.get(`/api/v1/${resource}/:name/files/*`, { schema }, handler);
  }
}

/** The raw (still percent-encoded) part of the URL after `/api/v1/<resource>/<name>/files`; decoded per component by pathSegments. */
function requestedPath(url: string): string {
  const path = url.split('?', 1)[0]!;
  const parts = path.split('/'); // '', 'api', 'v1', resource, name, 'files', ...
  return parts.length > 6 ? `/${parts.slice(6).join('/')}` : '';
}

/** The ready build of an overlay the caller may see, opened as the tree's root. */
async function overlayTree(ctx: WebContext, req: FastifyRequest, name: string): Promise<Dir> {
  await visibleDocument(ctx, req, 'Overlay', name);
  const build = (await ctx.status.read('Overlay', name))?.build?.ready;
  if (!build) throw new ApiError(404, `overlay "${name}" has no ready build yet`);
  return openRoot(ctx.layout.overlaysDir, [name, build], { tree: `overlay "${name}" build ${build}`, missing: `overlay "${name}" build ${build} is not on disk` });
}

/** The writable layer (`upper`) of an instance the caller owns, opened as the tree's root. */
async function writableLayer(ctx: WebContext, req: FastifyRequest, name: string): Promise<Dir> {
  await ownedInstance(ctx, req, name);
  return openRoot(ctx.layout.instancesDir, [name, 'upper'], { tree: `the writable layer of instance "${name}"`, missing: `instance "${name}" has no writable layer yet (it has not been started)` });
}

/** Opens a tree's root below a layout directory, following no link below it. */
async function openRoot(base: string, segments: string[], say: { tree: string; missing: string }): Promise<Dir> {
  try {
    return await openDirBeneath(base, segments, { reading: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ApiError(404, say.missing);
    if (code === 'EACCES' || code === 'EPERM') throw new ApiError(403, `the web service may not read ${say.tree}: the host must let the left4me-web group read it`);
    if (err instanceof UnsafePathError) throw new ApiError(500, 'a link stands where a tree should be; the controller must repair the data directory');
    throw err;
  }
}

/** A listing as JSON, or the file's bytes as a download. */
async function answer(reply: FastifyReply, root: Dir, rawPath: string) {
  const found = await browse(root, pathSegments(rawPath));
  if ('listing' in found) return found.listing;
  const { fh, size, name, mtime } = found.file;
  reply
    .header('content-type', 'application/octet-stream')
    .header('content-disposition', contentDisposition(name))
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'private, no-store')
    .header('last-modified', mtime.toUTCString())
    .header('content-length', size);
  if (size === 0) {
    await fh.close();
    return reply.send(Buffer.alloc(0));
  }
  // Exactly the size fstat saw: a file that grows while it is sent is cut at the size announced (and the cap).
  return reply.send(fh.createReadStream({ start: 0, end: size - 1, autoClose: true }));
}

/** `attachment` with an ASCII fallback name and the exact name in RFC 5987 form, so no header injection and no guessing. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}
