/**
 * Live status for the whole dashboard: one EventSource on /api/v1/events,
 * shared by every element (through context). It keeps the newest summary per
 * document and tells listeners what changed. The browser resumes a dropped
 * stream itself with Last-Event-ID; when the server closes it for good (a
 * 401, a restart), the feed reconnects with capped exponential backoff and
 * the server answers with a fresh snapshot.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { StatusSummary } from '../../controller/web/wire.js';

/** What an event says of one document: the API's own type. */
export type { StatusSummary };

const key = (kind: string, name: string) => `${kind}/${name}`;

export class StatusFeed extends EventTarget {
  readonly summaries = new Map<string, StatusSummary>();
  /** When the newest event arrived (performance.now()), for the dashboard's own latency figure. */
  lastEventAt = 0;
  connected = false;
  private source: EventSource | undefined;
  private retryMs = 500;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly url = '/api/v1/events') {
    super();
  }

  get(kind: StatusSummary['kind'], name: string): StatusSummary | undefined {
    return this.summaries.get(key(kind, name));
  }

  start(): void {
    if (this.source) return;
    const es = new EventSource(this.url, { withCredentials: true });
    this.source = es;
    es.addEventListener('open', () => {
      this.connected = true;
      this.retryMs = 500;
      this.changed();
    });
    es.addEventListener('snapshot', (e) => {
      const { items } = JSON.parse((e as MessageEvent<string>).data) as { items: StatusSummary[] };
      this.summaries.clear();
      for (const s of items) this.summaries.set(key(s.kind, s.name), s);
      this.changed();
    });
    es.addEventListener('status', (e) => {
      const s = JSON.parse((e as MessageEvent<string>).data) as StatusSummary;
      this.summaries.set(key(s.kind, s.name), s);
      this.changed();
    });
    es.addEventListener('deleted', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as { kind: string; name: string };
      this.summaries.delete(key(d.kind, d.name));
      this.changed();
    });
    es.addEventListener('error', () => {
      this.connected = false;
      this.changed();
      // CONNECTING: the browser retries on its own (with Last-Event-ID). CLOSED: it gave up; so do we, then try again later.
      if (es.readyState === EventSource.CLOSED) {
        this.source = undefined;
        this.timer = setTimeout(() => this.start(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 30_000);
      }
    });
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.source?.close();
    this.source = undefined;
    this.connected = false;
  }

  private changed(): void {
    this.lastEventAt = performance.now();
    this.dispatchEvent(new Event('change'));
  }
}

/** Re-renders its host whenever the feed changes (a ReactiveController: subscribes while the host is connected). */
export class StatusController implements ReactiveController {
  private readonly onChange = () => this.host.requestUpdate();

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly feed: () => StatusFeed | undefined,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.feed()?.addEventListener('change', this.onChange);
  }

  hostDisconnected(): void {
    this.feed()?.removeEventListener('change', this.onChange);
  }
}
