// A small client for the two keyless ISteamRemoteStorage methods the
// workshop source needs. It validates every answer's shape before anything
// trusts it: the Web API is someone else's server, and a proxy or an outage
// page in between answers HTML with status 200 often enough.
import { EgressRefusedError, guardedRequest, type EgressGuard } from './egress.js';

/** Where and how long to ask. */
export interface SteamApiOptions {
  /** Base URL of the Web API, e.g. `https://api.steampowered.com/` (tests point it at a local stand-in). */
  base: string;
  /** Aborted when the build is cancelled or times out; every request also stops after `timeoutMs`. */
  signal: AbortSignal;
  /** Longest wait for one request (default 60 s), so a hung API fails the step before the build's own timeout. */
  timeoutMs?: number;
  /** Which addresses the API may be reached at: `base` is operator-set, but goes through the same guard as every download. */
  egress: EgressGuard;
}

/** One entry of GetPublishedFileDetails' `publishedfiledetails`, normalised (Steam omits most fields when `result` is not 1). */
export interface PublishedFileDetails {
  publishedfileid: string;
  /** Steam EResult: 1 = OK, 9 = not found (removed, private or never existed), others rarer. */
  result: number;
  /** Direct download URL; empty when the item is only reachable through the Steam client. */
  file_url: string;
  filename: string;
  /** Bytes; Steam sends a number or a digit string depending on the interface version. */
  file_size: number | undefined;
  /** Unix seconds of the last update: the item's revision. */
  time_updated: number | undefined;
  title: string;
  consumer_app_id: number | undefined;
  banned: boolean;
}

/** One child of a collection. */
export interface CollectionChild {
  publishedfileid: string;
  sortorder: number;
  /** Steam EWorkshopFileType: 0 = item, 2 = collection. */
  filetype: number;
}

/** One entry of GetCollectionDetails' `collectiondetails`. */
export interface CollectionDetails {
  publishedfileid: string;
  result: number;
  /** Empty when the collection has no children (Steam then omits the key). */
  children: CollectionChild[];
}

/** The Web API failed or answered something we cannot read; usually transient, so the step is retried. */
export class SteamApiError extends Error {
  override name = 'SteamApiError';
  constructor(
    /** `GetPublishedFileDetails` or `GetCollectionDetails`. */
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`Steam Web API ${endpoint}: ${message}`, options);
  }
}

/** Most ids Steam is asked about in one request. */
export const STEAM_BATCH_SIZE = 100;
const DEFAULT_TIMEOUT_MS = 60_000;
/** Largest answer read: 100 items' details are well under 1 MiB, and a hostile or broken server must not fill memory. */
const MAX_ANSWER_BYTES = 16 * 2 ** 20;

/** Reads details of published files (workshop items) in batches of 100; returns one record per id Steam answered for, in Steam's order. */
export async function getPublishedFileDetails(ids: readonly string[], opts: SteamApiOptions): Promise<PublishedFileDetails[]> {
  const endpoint = 'GetPublishedFileDetails';
  const out: PublishedFileDetails[] = [];
  for (const batch of batches(ids)) {
    const response = await post(endpoint, 'itemcount', batch, opts);
    const list = response.publishedfiledetails;
    if (!Array.isArray(list)) throw malformed(endpoint, 'response.publishedfiledetails is not a list');
    list.forEach((raw, i) => out.push(fileDetails(raw, `response.publishedfiledetails[${i}]`, endpoint)));
  }
  return out;
}

/** Reads the children of collections in batches of 100; returns one record per id Steam answered for, in Steam's order. */
export async function getCollectionDetails(ids: readonly string[], opts: SteamApiOptions): Promise<CollectionDetails[]> {
  const endpoint = 'GetCollectionDetails';
  const out: CollectionDetails[] = [];
  for (const batch of batches(ids)) {
    const response = await post(endpoint, 'collectioncount', batch, opts);
    const list = response.collectiondetails;
    if (!Array.isArray(list)) throw malformed(endpoint, 'response.collectiondetails is not a list');
    list.forEach((raw, i) => out.push(collectionDetails(raw, `response.collectiondetails[${i}]`, endpoint)));
  }
  return out;
}

function* batches(ids: readonly string[]): Generator<readonly string[]> {
  for (let i = 0; i < ids.length; i += STEAM_BATCH_SIZE) yield ids.slice(i, i + STEAM_BATCH_SIZE);
}

/** POSTs one form-encoded batch and returns the validated `response` object. */
async function post(endpoint: string, countField: string, ids: readonly string[], opts: SteamApiOptions): Promise<Record<string, unknown>> {
  const url = endpointUrl(opts.base, endpoint);
  // Steam's documented form: a count, then publishedfileids[0..N-1]; no key is needed for these two methods.
  const form = new URLSearchParams({ [countField]: String(ids.length) });
  ids.forEach((id, i) => form.append(`publishedfileids[${i}]`, id));
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS)]);

  let status: number;
  let statusText: string;
  let text: string;
  try {
    const res = await guardedRequest(new URL(url), {
      guard: opts.egress,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal,
    });
    status = res.statusCode ?? 0;
    statusText = res.statusMessage ?? '';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > MAX_ANSWER_BYTES) {
        res.destroy();
        throw new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof EgressRefusedError) throw new SteamApiError(endpoint, `steamApiBase: ${err.message}`, { cause: err });
    throw new SteamApiError(endpoint, `request to ${url} failed: ${reason(err, signal)}; retry later`, { cause: err });
  }
  if (status < 200 || status > 299) {
    throw new SteamApiError(endpoint, `${url} answered HTTP ${status}${statusText ? ` ${statusText}` : ''}; retry later, or check steamApiBase if it persists`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SteamApiError(endpoint, `${url} answered something that is not JSON (starts with ${JSON.stringify(text.slice(0, 60))}); retry later, or check steamApiBase if it persists`);
  }
  if (!isObject(body) || !isObject(body.response)) throw malformed(endpoint, 'the answer has no "response" object');
  const response = body.response;
  if (response.result !== undefined && response.result !== 1) {
    throw new SteamApiError(endpoint, `Steam refused the request (response.result ${JSON.stringify(response.result)}); retry later`);
  }
  return response;
}

function endpointUrl(base: string, endpoint: string): string {
  const root = base.endsWith('/') ? base : `${base}/`;
  return new URL(`ISteamRemoteStorage/${endpoint}/v1/`, root).href;
}

function fileDetails(raw: unknown, where: string, endpoint: string): PublishedFileDetails {
  if (!isObject(raw)) throw malformed(endpoint, `${where} is not an object`);
  const field = (name: string) => ({ value: raw[name], where: `${where}.${name}`, endpoint });
  return {
    publishedfileid: id(field('publishedfileid')),
    result: integer(field('result')),
    file_url: optionalString(field('file_url')) ?? '',
    filename: optionalString(field('filename')) ?? '',
    file_size: optionalInteger(field('file_size')),
    time_updated: optionalInteger(field('time_updated')),
    title: optionalString(field('title')) ?? '',
    consumer_app_id: optionalInteger(field('consumer_app_id')),
    banned: flag(field('banned')),
  };
}

function collectionDetails(raw: unknown, where: string, endpoint: string): CollectionDetails {
  if (!isObject(raw)) throw malformed(endpoint, `${where} is not an object`);
  const children = raw.children;
  if (children !== undefined && !Array.isArray(children)) throw malformed(endpoint, `${where}.children is not a list`);
  return {
    publishedfileid: id({ value: raw.publishedfileid, where: `${where}.publishedfileid`, endpoint }),
    result: integer({ value: raw.result, where: `${where}.result`, endpoint }),
    children: (children ?? []).map((child: unknown, i: number) => {
      const at = `${where}.children[${i}]`;
      if (!isObject(child)) throw malformed(endpoint, `${at} is not an object`);
      return {
        publishedfileid: id({ value: child.publishedfileid, where: `${at}.publishedfileid`, endpoint }),
        sortorder: optionalInteger({ value: child.sortorder, where: `${at}.sortorder`, endpoint }) ?? i,
        filetype: integer({ value: child.filetype, where: `${at}.filetype`, endpoint }),
      };
    }),
  };
}

interface Field {
  value: unknown;
  where: string;
  endpoint: string;
}

function id(f: Field): string {
  // Ids are 64-bit: Steam sends strings; a number is accepted only while it is exact.
  if (typeof f.value === 'string' && /^[1-9][0-9]{0,19}$/.test(f.value)) return f.value;
  if (typeof f.value === 'number' && Number.isSafeInteger(f.value) && f.value > 0) return String(f.value);
  throw malformed(f.endpoint, `${f.where} is ${describe(f.value)}, not a published file id`);
}

function integer(f: Field): number {
  const n = optionalInteger(f);
  if (n === undefined) throw malformed(f.endpoint, `${f.where} is missing`);
  return n;
}

function optionalInteger(f: Field): number | undefined {
  if (f.value === undefined || f.value === null) return undefined;
  if (typeof f.value === 'number' && Number.isSafeInteger(f.value)) return f.value;
  if (typeof f.value === 'string' && /^-?[0-9]{1,15}$/.test(f.value)) return Number(f.value);
  throw malformed(f.endpoint, `${f.where} is ${describe(f.value)}, not an integer`);
}

function optionalString(f: Field): string | undefined {
  if (f.value === undefined || f.value === null) return undefined;
  if (typeof f.value === 'string') return f.value;
  throw malformed(f.endpoint, `${f.where} is ${describe(f.value)}, not a string`);
}

function flag(f: Field): boolean {
  if (f.value === undefined || f.value === null) return false;
  if (typeof f.value === 'boolean') return f.value;
  if (f.value === 0 || f.value === 1) return f.value === 1;
  throw malformed(f.endpoint, `${f.where} is ${describe(f.value)}, not 0, 1 or a boolean`);
}

function malformed(endpoint: string, what: string): SteamApiError {
  return new SteamApiError(endpoint, `unexpected answer: ${what}; retry later, or check steamApiBase if it persists`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function reason(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const r: unknown = signal.reason;
    if (r instanceof Error && r.name === 'TimeoutError') return 'no answer in time';
    return r instanceof Error ? r.message : String(r);
  }
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  return String(err);
}
