// An SSE client for tests: reads a real HTTP response as the browser's
// EventSource would (events split on blank lines, `id:`/`event:`/`data:`
// fields, comments kept apart so heartbeats can be seen).

/** One event as received. */
export interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

/** An open stream: events and comments in arrival order. */
export interface SseClient {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  /** Polls until `pred` holds for some received event (returns it) or fails after `timeoutMs`. */
  waitFor(what: string, pred: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

/** Opens a stream; `onEvent` is called as each event is parsed (a benchmark stamps its arrival time there). */
export async function openSse(url: string, headers: Record<string, string>, onEvent?: (e: SseEvent) => void): Promise<SseClient> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let buf = '';
  const parse = () => {
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const e: { id?: string; event?: string; data?: string } = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comments.push(line.slice(1).trim());
        else if (line.startsWith('id: ')) e.id = line.slice(4);
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) e.data = (e.data === undefined ? '' : `${e.data}\n`) + line.slice(6);
      }
      if (e.data === undefined) continue;
      const event: SseEvent = { id: e.id, event: e.event ?? 'message', data: JSON.parse(e.data) };
      events.push(event);
      onEvent?.(event);
    }
  };
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        parse();
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    ended,
    async waitFor(what, pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => ac.abort(),
  };
}

/** An answer's text; an event stream (it never ends) is read for a moment, then left. */
export async function bodyOf(r: Response, forMs = 1000): Promise<string> {
  if (!(r.headers.get('content-type') ?? '').includes('text/event-stream')) return r.text();
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + forMs;
  while (Date.now() < deadline) {
    const next = await Promise.race([reader.read(), new Promise<undefined>((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())))]);
    if (!next || next.done) break;
    text += decoder.decode(next.value, { stream: true });
  }
  await reader.cancel();
  return text;
}
