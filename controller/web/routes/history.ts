/**
 * `GET /api/v1/instances/NAME/history?since=…&step=…`: a visible instance's
 * players, CPU and memory over time, read from the ring file the controller
 * writes (status/history.ts), bucketed by `step`.
 */
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../documents/duration.js';
import { downsample, MAX_POINTS, type HistoryStore } from '../../status/history.js';
import { visibleDocument } from '../access.js';
import type { WebContext } from '../context.js';
import { ApiError } from '../errors.js';

/** What a caller gets without `since`: the last day. */
const DEFAULT_SINCE_MS = 86_400_000;

/** A time: ms since the epoch, an ISO 8601 date, or a duration back from now (`6h`, `7d`). */
function parseSince(text: string | undefined, now: number): number {
  if (text === undefined || text === '') return now - DEFAULT_SINCE_MS;
  if (/^[0-9]{1,15}$/.test(text)) return Number(text);
  if (/^([0-9]+[smhd])+$/.test(text)) return now - parseDuration(text);
  const t = Date.parse(text);
  if (!/^[0-9]{4}-/.test(text) || Number.isNaN(t)) throw new ApiError(400, 'since: give ms since the epoch, an ISO 8601 time (2026-01-31T12:00:00Z) or a duration back from now (6h, 7d)');
  return t;
}

export function historyRoutes(app: FastifyInstance, ctx: WebContext, history: HistoryStore): void {
  app.get<{ Params: { name: string }; Querystring: { since?: string; step?: string } }>(
    '/api/v1/instances/:name/history',
    {
      schema: {
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 63 } } },
        querystring: { type: 'object', additionalProperties: false, properties: { since: { type: 'string', maxLength: 40 }, step: { type: 'string', maxLength: 20 } } },
        response: { 200: { $ref: 'left4me-web/history#' } },
      },
    },
    async (req) => {
      const doc = await visibleDocument(ctx, req, 'Instance', req.params.name);
      const now = Date.now();
      const since = parseSince(req.query.since, now);
      let asked: number | undefined;
      if (req.query.step !== undefined) {
        try {
          asked = parseDuration(req.query.step);
        } catch {
          throw new ApiError(400, 'step: give a duration such as 1m, 5m or 1h');
        }
        if (asked <= 0) throw new ApiError(400, 'step: must be longer than 0');
      }
      const { samples, stepMs: sampleStep } = await history.read(doc.metadata.name, now);
      // Whole samples per bucket, and never more than MAX_POINTS buckets in the range.
      let step = Math.ceil((asked ?? sampleStep) / sampleStep) * sampleStep;
      const span = Math.max(0, now - since);
      if (span / step > MAX_POINTS) step = Math.ceil(span / MAX_POINTS / sampleStep) * sampleStep;
      return { name: doc.metadata.name, since, step, sampleStep, points: downsample(samples, step, since) };
    },
  );
}
