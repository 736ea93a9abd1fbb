/**
 * The dashboard's one way to the web API: fetch with the session cookie, the
 * CSRF token on every change, JSON or YAML bodies. A 401 tells the app (an
 * `l4m-unauthorized` event on `window`) so it shows the login page.
 */

/** An answer that is not 2xx: its status and the API's `{ error, ... }` body. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Headers,
  ) {
    super(typeof body.error === 'string' ? body.error : `HTTP ${status}`);
  }
}

export interface SessionUser {
  name: string;
  role: 'admin' | 'user';
}

export interface Answer<T> {
  status: number;
  headers: Headers;
  body: T;
}

const SAFE = new Set(['GET', 'HEAD']);

export class Api {
  /** The session's CSRF token (from login or GET /api/v1/session). */
  csrfToken: string | undefined;
  user: SessionUser | undefined;

  constructor(readonly base = '') {}

  async request<T>(method: string, path: string, opts: { body?: unknown; yaml?: string; headers?: Record<string, string> } = {}): Promise<Answer<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    let body: string | undefined;
    if (opts.yaml !== undefined) {
      headers['content-type'] = 'application/yaml';
      body = opts.yaml;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    if (!SAFE.has(method) && this.csrfToken) headers['x-csrf-token'] = this.csrfToken;
    const r = await fetch(`${this.base}${path}`, { method, headers, body, credentials: 'same-origin' });
    const text = await r.text();
    let parsed: unknown = undefined;
    if ((r.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
    else parsed = text;
    if (r.status === 401 && path !== '/api/v1/session') window.dispatchEvent(new CustomEvent('l4m-unauthorized'));
    if (!r.ok) throw new ApiError(r.status, (parsed && typeof parsed === 'object' ? parsed : { error: String(parsed || r.statusText) }) as Record<string, unknown>, r.headers);
    return { status: r.status, headers: r.headers, body: parsed as T };
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path).then((a) => a.body);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body }).then((a) => a.body);
  }

  /** Who is logged in (and the CSRF token), or undefined. */
  async whoami(): Promise<SessionUser | undefined> {
    try {
      const s = await this.get<{ user: SessionUser; csrfToken?: string }>('/api/v1/session');
      this.user = s.user;
      this.csrfToken = s.csrfToken;
      return s.user;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return undefined;
      throw err;
    }
  }

  async login(name: string, password: string): Promise<SessionUser> {
    const s = await this.post<{ user: SessionUser; csrfToken: string }>('/api/v1/session', { name, password });
    this.user = s.user;
    this.csrfToken = s.csrfToken;
    return s.user;
  }

  async logout(): Promise<void> {
    await this.request('DELETE', '/api/v1/session').catch(() => undefined);
    this.user = undefined;
    this.csrfToken = undefined;
  }
}
