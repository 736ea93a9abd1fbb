import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FileHandle } from 'node:fs/promises';
import { ownedInstance, requireAdmin, userOf, visibleDocument } from '../access.js';
import { BuildLogError, openBuildLog, readFrom, tailLines } from '../build-log.js';
import type { WebContext } from '../context.js';
import { ApiError, notFound } from '../errors.js';
import { isCursor, readJournal, serverUnit, type JournalLine } from '../journal.js';
import type { SseHub } from '../sse.js';

const DEFAULT_TAIL = 200;
const MAX_TAIL = 5000;

const logQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tail: { type: 'integer', minimum: 1, maximum: MAX_TAIL, default: DEFAULT_TAIL },
    // 1/0 as well as true/false: `?follow=1` is what people type.
    follow: { type: 'string', enum: ['1', '0', 'true', 'false'], default: '0' },
    build: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' },
  },
} as const;
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 253 } } } as const;

interface LogQuery {
  tail: number;
  follow: '1' | '0' | 'true' | 'false';
  build?: string;
}

const following = (q: LogQuery) => q.follow === '1' || q.follow === 'true';

const serverLogAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['lines'],
  properties: {
    lines: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['time', 'message'], properties: { time: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;

export interface LogsDeps {
  ctx: WebContext;
  /** Followers of server and build logs. */
  hub: SseHub;
  journalctl: readonly string[];
  namespace: string;
  pollMs: number;
}

/**
 * `GET /api/v1/instances/NAME/log` (owner or admin): the server's last
 * `tail` journal lines as JSON; with `follow=1` an SSE stream of `line`
 * events (the tail first), each with the journal cursor as its id so a
 * reconnect resumes after the last line it got.
 */
export function logsRoutes(app: FastifyInstance, deps: LogsDeps): void {
  const { ctx, hub } = deps;
  app.get<{ Params: { name: string }; Querystring: LogQuery }>(
    '/api/v1/instances/:name/log',
    { schema: { params: nameParams, querystring: logQuery, response: { 200: serverLogAnswer } } },
    async (req, reply) => {
      await ownedInstance(ctx, req, req.params.name);
      const q = { namespace: deps.namespace, unit: serverUnit(req.params.name), tail: req.query.tail, follow: following(req.query) };
      if (!following(req.query)) {
        const lines: JournalLine[] = [];
        const r = readJournal(deps.journalctl, q, (l) => {
          if (lines.length < MAX_TAIL) lines.push(l);
        });
        // The client went before the answer: journalctl has nobody to read for.
        reply.raw.on('close', () => r.stop());
        const { code, stderr } = await r.done;
        if (code !== 0 && lines.length === 0) {
          req.log.warn({ code, stderr }, 'journalctl failed');
          throw new ApiError(503, 'the server log could not be read; the service log has the details');
        }
        return { lines: lines.map(({ time, message }) => ({ time, message })) };
      }
      const user = userOf(req).name;
      hub.reserve(user);
      const last = req.headers['last-event-id'];
      const afterCursor = typeof last === 'string' && isCursor(last) ? last : undefined;
      const stream = hub.start(req, reply, user);
      const r = readJournal(deps.journalctl, { ...q, afterCursor }, (l) => stream.send('line', { time: l.time, message: l.message }, l.cursor));
      stream.onClose(() => r.stop());
      void r.done.then(({ code, stderr }) => {
        if (stream.closed) return;
        if (code !== 0) req.log.warn({ code, stderr }, 'journalctl failed');
        stream.send('end', { reason: code === 0 ? 'the journal reader stopped' : 'the server log could not be read' });
        stream.close();
      });
    },
  );

  for (const kind of ['Overlay', 'Installation'] as const) {
    const plural = kind === 'Overlay' ? 'overlays' : 'installations';
    app.get<{ Params: { name: string }; Querystring: LogQuery }>(
      `/api/v1/${plural}/:name/build-log`,
      { schema: { params: nameParams, querystring: logQuery } },
      async (req, reply) => {
        // Installation logs name the Steam account: admins only.
        if (kind === 'Installation') requireAdmin(req);
        await visibleDocument(ctx, req, kind, req.params.name);
        return buildLog(deps, kind, plural, req, reply);
      },
    );
  }
}

/** Which log a request means: `?build=ID`, else the newest attempt the status names. */
async function logOf(ctx: WebContext, kind: 'Overlay' | 'Installation', plural: string, name: string, build: string | undefined): Promise<string> {
  if (build !== undefined) return `logs/${plural}/${name}/${build}.log`;
  const st = await ctx.status.read(kind, name);
  const rel = st?.building?.log ?? st?.build?.log;
  if (!rel) throw notFound(`a build log of ${kind.toLowerCase()} "${name}" (it has not been built yet)`);
  return rel;
}

/** Whether the status says the build that writes `rel` is over: it records that log as its outcome and no build or install is running. */
async function buildOver(ctx: WebContext, kind: 'Overlay' | 'Installation', name: string, rel: string): Promise<boolean> {
  const st = await ctx.status.read(kind, name);
  return st?.build?.log === rel && st.progress === undefined && st.building === undefined;
}

async function buildLog(deps: LogsDeps, kind: 'Overlay' | 'Installation', plural: string, req: FastifyRequest<{ Params: { name: string }; Querystring: LogQuery }>, reply: FastifyReply) {
  const { ctx, hub } = deps;
  const name = req.params.name;
  const rel = await logOf(ctx, kind, plural, name, req.query.build);
  let fh: FileHandle;
  try {
    fh = await openBuildLog(ctx.opts.dataDir, rel);
  } catch (err) {
    if (!(err instanceof BuildLogError)) throw err;
    if (err.why === 'refused') req.log.warn({ kind, name }, `build log refused: ${err.message}`);
    throw new ApiError(err.why === 'missing' ? 404 : err.why === 'denied' ? 403 : 500, `build log of ${kind.toLowerCase()} "${name}": ${err.message}`);
  }
  if (!following(req.query)) {
    try {
      const { lines, end } = await tailLines(fh, req.query.tail);
      const rest = (await readFrom(fh, end)).toString('utf8');
      if (rest !== '') lines.push(rest);
      const last = lines.slice(-req.query.tail);
      // Plain text, never HTML: a build log is whatever the build printed.
      return reply.type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff').send(last.length ? `${last.join('\n')}\n` : '');
    } finally {
      await fh.close();
    }
  }
  const user = userOf(req).name;
  try {
    hub.reserve(user);
  } catch (err) {
    await fh.close();
    throw err;
  }
  const stream = hub.start(req, reply, user);
  let timer: NodeJS.Timeout | undefined;
  stream.onClose(() => {
    clearTimeout(timer);
    void fh.close().catch(() => undefined);
  });
  const { lines, end } = await tailLines(fh, req.query.tail);
  for (const l of lines) stream.send('line', { message: l });
  let offset = end;
  let partial = '';
  // A poll, not a watcher: the log grows by appends from another account's process, and a poll also notices the build ending.
  const poll = async () => {
    if (stream.closed) return;
    const over = await buildOver(ctx, kind, name, rel);
    const chunk = await readFrom(fh, offset);
    offset += chunk.length;
    const text = partial + chunk.toString('utf8');
    const cut = text.lastIndexOf('\n');
    partial = cut >= 0 ? text.slice(cut + 1) : text;
    if (cut >= 0) for (const l of text.slice(0, cut).split('\n')) if (!stream.send('line', { message: l })) return;
    // The status is read before the file: once it says the build is over, the read after it holds every line.
    if (over && chunk.length === 0) {
      if (partial !== '') stream.send('line', { message: partial });
      stream.send('end', { reason: 'the build is over' });
      stream.close();
      return;
    }
    timer = setTimeout(() => void poll().catch(() => stream.close()), deps.pollMs);
  };
  await poll();
}
