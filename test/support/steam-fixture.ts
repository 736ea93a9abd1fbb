// A stand-in for the Steam Web API and Steam's download host (DESIGN §5):
// answers ISteamRemoteStorage/GetPublishedFileDetails and GetCollectionDetails
// with bodies shaped like the documented ones, parses the form-encoded POST
// like Steam does (a count, then publishedfileids[0..N-1]), and serves each
// item's VPK at its file_url. Tests set items and collections, then read the
// request counters and the parsed forms to prove caching and encoding.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One workshop item as a test wants Steam to describe it. */
export interface FixtureItem {
  id: string;
  title?: string;
  /** Revision (Unix seconds); default 1600000000. */
  timeUpdated?: number;
  /** The VPK's bytes; default a small VPK-looking blob naming the id and revision. */
  content?: string | Buffer;
  /** Steam EResult; 9 = removed or private (Steam then sends only the id and result). */
  result?: number;
  banned?: boolean;
  /** consumer_app_id; default 550 (Left 4 Dead 2). */
  appId?: number;
  /** Send this file_url instead of the stand-in's own (a hostile answer pointing elsewhere). */
  fileUrl?: string;
  /** Send an empty file_url (items only the Steam client can download). */
  emptyFileUrl?: boolean;
  /** Advertise this file_size instead of the content's length. */
  fileSize?: number;
  /** Send file_size as a digit string, as some Steam answers do. */
  fileSizeAsString?: boolean;
  /** Answer 404 for the file (a file_url that no longer resolves). */
  fileMissing?: boolean;
}

/** One collection: children in the order given, each an item (filetype 0) or a nested collection (filetype 2). */
export interface FixtureCollection {
  id: string;
  children: Array<{ id: string; filetype?: number; sortorder?: number }>;
  result?: number;
}

/** A running stand-in; `close()` it when done. */
export interface SteamFixture {
  /** Base URL to use as steamApiBase (ends with '/'). */
  base: string;
  setItem(item: FixtureItem): void;
  setCollection(collection: FixtureCollection): void;
  /** Requests seen per URL path. */
  count(path: string): number;
  /** Requests seen for an item's current file. */
  downloads(id: string): number;
  /** Every form posted to an API method, parsed (path → list of key/value maps). */
  forms(path: string): Array<Record<string, string>>;
  /** Replaces the next answers of an API method (path) with raw text and a status, until cleared with `undefined`. */
  override(path: string, answer: { status: number; body: string; contentType?: string } | undefined): void;
  /** Delays every file download by this many ms (to overlap concurrent builds). */
  setDownloadDelay(ms: number): void;
  close(): Promise<void>;
}

/** API paths as Steam serves them. */
export const DETAILS_PATH = '/ISteamRemoteStorage/GetPublishedFileDetails/v1/';
export const COLLECTION_PATH = '/ISteamRemoteStorage/GetCollectionDetails/v1/';

const STEAM_BAD_REQUEST =
  '<html><head><title>Bad Request</title></head><body><h1>Bad Request</h1>Please verify that all required parameters are being sent</body></html>';

/** Starts the stand-in on 127.0.0.1 on a free port. */
export async function startSteamFixture(): Promise<SteamFixture> {
  const items = new Map<string, FixtureItem>();
  const collections = new Map<string, FixtureCollection>();
  const counts = new Map<string, number>();
  const forms = new Map<string, Array<Record<string, string>>>();
  const overrides = new Map<string, { status: number; body: string; contentType?: string }>();
  let downloadDelay = 0;
  let base = '';

  const fileUrlPath = (item: FixtureItem) => `/ugc/${item.id}/${revisionOf(item)}/${item.id}.vpk`;
  const contentOf = (item: FixtureItem) =>
    item.content === undefined ? Buffer.concat([VPK_MAGIC, Buffer.from(` workshop ${item.id} revision ${revisionOf(item)}\n`)]) : Buffer.from(item.content);

  function itemDetails(id: string): Record<string, unknown> {
    const item = items.get(id);
    if (!item) return { publishedfileid: id, result: 9 };
    if ((item.result ?? 1) !== 1) return { publishedfileid: id, result: item.result };
    const size = item.fileSize ?? contentOf(item).length;
    // Field set and types as ISteamRemoteStorage/GetPublishedFileDetails/v1 sends them.
    return {
      publishedfileid: id,
      result: 1,
      creator: '76561197960287930',
      creator_app_id: 550,
      consumer_app_id: item.appId ?? 550,
      filename: `${item.id}.vpk`,
      file_size: item.fileSizeAsString ? String(size) : size,
      file_url: item.emptyFileUrl ? '' : (item.fileUrl ?? new URL(fileUrlPath(item).slice(1), base).href),
      hcontent_file: '1234567890123456789',
      preview_url: '',
      hcontent_preview: '0',
      title: item.title ?? `Item ${item.id}`,
      description: '',
      time_created: 1500000000,
      time_updated: revisionOf(item),
      visibility: 0,
      banned: item.banned ? 1 : 0,
      ban_reason: item.banned ? 'Violates the terms of service' : '',
      subscriptions: 1000,
      favorited: 10,
      lifetime_subscriptions: 5000,
      lifetime_favorited: 20,
      views: 9000,
      tags: [{ tag: 'Campaigns' }],
    };
  }

  function collectionDetails(id: string): Record<string, unknown> {
    const c = collections.get(id);
    if (!c || (c.result ?? 1) !== 1) return { publishedfileid: id, result: c?.result ?? 9 };
    const children = c.children.map((ch, i) => ({ publishedfileid: ch.id, sortorder: ch.sortorder ?? i + 1, filetype: ch.filetype ?? 0 }));
    // Steam leaves out `children` for an empty collection.
    return children.length ? { publishedfileid: id, result: 1, children } : { publishedfileid: id, result: 1 };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);

    if (path === DETAILS_PATH || path === COLLECTION_PATH) {
      if (req.method !== 'POST') return send(res, 404, STEAM_BAD_REQUEST, 'text/html');
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      forms.set(path, [...(forms.get(path) ?? []), form]);
      const override = overrides.get(path);
      if (override) return send(res, override.status, override.body, override.contentType ?? 'application/json');
      const countField = path === DETAILS_PATH ? 'itemcount' : 'collectioncount';
      const n = Number(form[countField]);
      const ids = Array.from({ length: Number.isInteger(n) ? n : 0 }, (_, i) => form[`publishedfileids[${i}]`]);
      // Like Steam: a missing count or id is a 400 with an HTML page; we also hold callers to batches of 100.
      if (!Number.isInteger(n) || n < 1 || n > 100 || ids.some((v) => v === undefined || !/^[0-9]+$/.test(v))) {
        return send(res, 400, STEAM_BAD_REQUEST, 'text/html');
      }
      const list = ids.map((id) => (path === DETAILS_PATH ? itemDetails(id!) : collectionDetails(id!)));
      const key = path === DETAILS_PATH ? 'publishedfiledetails' : 'collectiondetails';
      return send(res, 200, JSON.stringify({ response: { result: 1, resultcount: list.length, [key]: list } }), 'application/json; charset=UTF-8');
    }

    const item = [...items.values()].find((it) => fileUrlPath(it) === path);
    if (!item || item.fileMissing || req.method !== 'GET') return send(res, 404, 'Not Found', 'text/plain');
    if (downloadDelay) await new Promise((r) => setTimeout(r, downloadDelay));
    const body = contentOf(item);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, String(err), 'text/plain'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  return {
    base,
    setItem: (item) => void items.set(item.id, item),
    setCollection: (c) => void collections.set(c.id, c),
    count: (path) => counts.get(path) ?? 0,
    downloads: (id) => {
      const item = items.get(id);
      return item ? (counts.get(fileUrlPath(item)) ?? 0) : 0;
    },
    forms: (path) => forms.get(path) ?? [],
    override: (path, answer) => void (answer ? overrides.set(path, answer) : overrides.delete(path)),
    setDownloadDelay: (ms) => void (downloadDelay = ms),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** The signature every VPK directory file starts with (0x55aa1234, little-endian). */
const VPK_MAGIC = Buffer.from([0x34, 0x12, 0xaa, 0x55]);

function revisionOf(item: FixtureItem): number {
  return item.timeUpdated ?? 1600000000;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
