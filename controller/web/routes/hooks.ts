/**
 * `POST /api/v1/hooks/git/NAME`: a forge's push webhook asks the controller
 * to fetch git source NAME now. A forge cannot log in, so the route needs no
 * account, session or CSRF token (plugins/auth.ts exempts exactly this
 * route); the proof is a signature over the raw body with the source's
 * webhook secret (`<webhookSecretsDir>/NAME`, made by the controller, read
 * at every call so that a new one takes effect at once). The only effect of
 * a good call is the trigger file `<triggersDir>/git-NAME` (the time, nothing
 * from the request); the controller's watcher turns it into a fetch.
 *
 * Formats, told apart by header (every one present must verify, and one
 * must be present):
 *   GitHub  `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
 *   Gitea   `X-Gitea-Signature: <hex HMAC-SHA256 of the body>` (Gitea sends the GitHub header too)
 *   GitLab  `X-Gitlab-Token: <the secret itself>`
 *   plain   `X-Left4me-Signature: sha256=<hex HMAC-SHA256 of the body>` (scripts, CI)
 * Every comparison is timingSafeEqual over equal lengths: hex signatures are
 * decoded to their 32 bytes, a GitLab token is hashed before it is compared.
 *
 * Answers: 202 triggered (any event, GitHub's `ping` included: a fetch is
 * idempotent, and the ping then proves the whole path); 401 unsigned or
 * wrongly signed (nothing written); 404, one answer for an unknown source and
 * one without a secret, so names cannot be probed; 413 over 1 MiB; 429 past
 * the per-source rate. Neither the secret nor a signature is ever logged or
 * answered.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../fs/atomic.js';
import { SOURCE_NAME, sourcePaths } from '../../sources/types.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';
import { GIT_HOOK_ROUTE } from '../plugins/auth.js';
import type { FailureLimiter } from '../rate-limit.js';

/** The largest body a forge may send (GitHub caps its payloads at 25 MB, but a push of a few commits is kilobytes). */
export const HOOK_BODY_LIMIT = 1 << 20;
/** The longest secret read from a file; a longer file is not a secret. */
const MAX_SECRET_BYTES = 4096;

export type HookFormat = 'github' | 'gitea' | 'gitlab' | 'left4me';

/** The signature headers, by format. */
const HEADERS: Record<HookFormat, string> = {
  github: 'x-hub-signature-256',
  gitea: 'x-gitea-signature',
  gitlab: 'x-gitlab-token',
  left4me: 'x-left4me-signature',
};

/** The outcome of checking a call's signatures. */
export type HookVerdict = { ok: true; formats: HookFormat[] } | { ok: false; reason: 'unsigned' | 'bad-signature'; formats: HookFormat[] };

/** Whether two byte strings are equal, in time that does not depend on where they differ. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The 32 bytes of a hex SHA-256 signature (`sha256=` prefix when `prefixed`), or undefined when malformed. */
function hexSignature(value: string, prefixed: boolean): Buffer | undefined {
  const m = (prefixed ? /^sha256=([0-9a-fA-F]{64})$/ : /^([0-9a-fA-F]{64})$/).exec(value.trim());
  return m ? Buffer.from(m[1]!, 'hex') : undefined;
}

/** Checks every signature header a call carries against `secret`. Pure: the request's headers and raw body. */
export function verifyHook(headers: Record<string, string | string[] | undefined>, body: Buffer, secret: string): HookVerdict {
  const formats = (Object.keys(HEADERS) as HookFormat[]).filter((f) => headers[HEADERS[f]] !== undefined);
  if (formats.length === 0) return { ok: false, reason: 'unsigned', formats };
  const hmac = createHmac('sha256', secret).update(body).digest();
  for (const format of formats) {
    const value = headers[HEADERS[format]];
    if (typeof value !== 'string') return { ok: false, reason: 'bad-signature', formats };
    let good: boolean;
    if (format === 'gitlab') {
      // Hashed first: equal lengths whatever was sent, and the secret's length is not told by timing either.
      good = sameBytes(createHash('sha256').update(value).digest(), createHash('sha256').update(secret).digest());
    } else {
      const sent = hexSignature(value, format !== 'gitea');
      good = sent !== undefined && sameBytes(sent, hmac);
    }
    if (!good) return { ok: false, reason: 'bad-signature', formats };
  }
  return { ok: true, formats };
}

/**
 * The source's webhook secret: the file's text without trailing whitespace
 * (an operator's `echo secret > file` adds a newline). Undefined when there
 * is none usable: no file, not a regular file, empty, too long or with
 * control characters (the last kinds are logged, by path and never content).
 */
export async function readWebhookSecret(ctx: WebContext, name: string, log: Pick<Logger, 'warn'>): Promise<string | undefined> {
  const file = join(ctx.layout.webhookSecretsDir, name);
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') log.warn({ source: name, file, err: code ?? 'unreadable' }, `cannot read the webhook secret (the controller makes it readable by the group ${ctx.layout.webGroup}); answering 404`);
    return undefined;
  }
  try {
    if (!(await fh.stat()).isFile()) {
      log.warn({ source: name, file }, 'the webhook secret is not a regular file; answering 404');
      return undefined;
    }
    const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8').replace(/\s+$/, '');
    if (bytesRead > MAX_SECRET_BYTES || text === '' || /[\u0000-\u001f\u007f]/.test(text)) {
      log.warn({ source: name, file }, `the webhook secret file is empty, longer than ${MAX_SECRET_BYTES} bytes or holds control characters; answering 404`);
      return undefined;
    }
    return text;
  } finally {
    await fh.close();
  }
}

const ERROR = { $ref: 'left4me-web/error#' };
const ACCEPTED = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'fetch'],
  properties: { source: { type: 'string' }, fetch: { type: 'string', enum: ['requested'] } },
} as const;

/** One answer for an unknown source and for one without a secret. */
const NO_HOOK = 'no webhook here: unknown source, or no webhook secret for it';

/** An event name worth logging (forges send `push`, `ping`, `Push Hook`); anything else is left out. */
function eventOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  for (const h of ['x-github-event', 'x-gitea-event', 'x-gitlab-event']) {
    const v = headers[h];
    if (typeof v === 'string' && /^[A-Za-z _]{1,40}$/.test(v)) return v;
  }
  return undefined;
}

export interface HookDeps {
  ctx: WebContext;
  /** Calls per source name, good or bad (see plugins/hooks.ts). */
  limiter: FailureLimiter;
  log: Pick<Logger, 'info' | 'warn'>;
}

export function hookRoutes(app: FastifyInstance, deps: HookDeps): void {
  const { ctx, limiter, log } = deps;
  // What is signed is the bytes as sent: every body, whatever its type, reaches the route as a Buffer, unparsed.
  // Content-type parsers are encapsulated: this replaces them in this plugin's scope only.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: HOOK_BODY_LIMIT }, (_req, body, done) => done(null, body));
  app.post<{ Params: { name: string } }>(
    GIT_HOOK_ROUTE,
    {
      bodyLimit: HOOK_BODY_LIMIT,
      schema: { response: { 202: ACCEPTED, 401: ERROR, 404: ERROR, 413: ERROR, 429: ERROR, 503: ERROR } },
    },
    async (req, reply) => {
      const { name } = req.params;
      if (!SOURCE_NAME.test(name)) throw new ApiError(404, NO_HOOK);
      // Counted before anything is looked up, for every well-formed name alike: a 429 says nothing about whether a name exists.
      const wait = limiter.retryAfter(name);
      if (wait > 0) {
        void reply.header('retry-after', String(wait));
        throw new ApiError(429, `too many webhook calls for this source; try again in ${wait} seconds`);
      }
      limiter.fail(name);
      const secret = await readWebhookSecret(ctx, name, log);
      if (secret === undefined) throw new ApiError(404, NO_HOOK);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const verdict = verifyHook(req.headers, body, secret);
      const event = eventOf(req.headers);
      if (!verdict.ok) {
        log.warn({ hook: 'git', source: name, formats: verdict.formats, reason: verdict.reason, ip: req.ip }, 'webhook refused');
        throw new ApiError(401, verdict.reason === 'unsigned' ? 'unsigned webhook: send X-Hub-Signature-256, X-Gitea-Signature, X-Gitlab-Token or X-Left4me-Signature' : 'wrong webhook signature');
      }
      try {
        await writeFileAtomic(sourcePaths(ctx.layout, name).trigger, `${new Date().toISOString()}\n`, 0o640);
      } catch (err) {
        log.warn({ hook: 'git', source: name, dir: ctx.layout.triggersDir, err: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'cannot write the trigger file');
        throw new ApiError(503, 'the web service cannot reach the controller now (its triggers directory is not writable); the source is still fetched at its interval');
      }
      log.info({ hook: 'git', source: name, formats: verdict.formats, ...(event !== undefined ? { event } : {}) }, 'webhook accepted: fetch requested');
      return reply.code(202).send({ source: name, fetch: 'requested' });
    },
  );
}
