/**
 * <l4m-builds .args=…>: the Builds page (route `builds`). `#/builds` lists
 * overlays and (for admins) installations with their build status, a
 * running overlay build's step (and download percent) and a running
 * install's progress, live from the status feed, and the servers
 * whose writable layers can be browsed; `#/builds/overlays/NAME` and
 * `#/builds/installations/NAME` show one build's log (followed while it
 * runs) and, for overlays, the ready build's files;
 * `#/builds/instances/NAME` browses a server's writable layer.
 */
import { ContextConsumer } from '@lit/context';
import { Task } from '@lit/task';
import { css, html, LitElement, nothing } from 'lit';
import { apiContext, feedContext } from '../services/context.js';
import { StatusController, type StatusSummary } from '../services/status-feed.js';
import { theme } from '../theme.js';
import { registerRoute } from './l4m-app.js';
import './l4m-build-log.js';
import './l4m-file-browser.js';

/** A row of GET /api/v1/overlays or /installations, with what the feed adds. */
interface BuildItem {
  name: string;
  owner: string;
  ready: string;
  reason?: string;
  message?: string;
  build?: string;
  building?: string;
  progress?: StatusSummary['progress'];
  buildStep?: StatusSummary['buildStep'];
}

type Plural = 'overlays' | 'installations';
const KIND_OF: Record<Plural, 'Overlay' | 'Installation'> = { overlays: 'Overlay', installations: 'Installation' };
const READY_TEXT: Record<string, string> = { True: 'Ready', False: 'Not ready', Unknown: 'Unknown' };

/** "pass 1/2 · downloading · 45%" */
export function progressText(p: NonNullable<StatusSummary['progress']>): string {
  return `pass ${p.pass}/${p.passes} · ${p.state} · ${Math.round(p.percent)}%`;
}

type BuildStep = NonNullable<StatusSummary['buildStep']>;

/** 12345678 → "11.8 MiB" */
export function bytesText(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/** A download's share done, 0–100 (floored: 100 only when every byte is there); undefined when its size is unknown. */
export function stepPercent(s: BuildStep): number | undefined {
  if (s.bytes === undefined || !s.totalBytes) return undefined;
  return Math.min(100, Math.floor((s.bytes / s.totalBytes) * 100));
}

/** "step 2 of 3 · download maps.7z · 45% (12.0 MiB of 26.7 MiB)" */
export function stepText(s: BuildStep): string {
  const percent = stepPercent(s);
  const bytes =
    percent !== undefined ? ` · ${percent}% (${bytesText(s.bytes!)} of ${bytesText(s.totalBytes!)})` : s.bytes !== undefined ? ` · ${bytesText(s.bytes)}` : '';
  return `step ${s.step} of ${s.steps} · ${s.label}${bytes}`;
}

/** A running overlay build: where it is, and a bar while it downloads (no value: a download of unknown size). */
function stepView(name: string, s: BuildStep) {
  const percent = stepPercent(s);
  const bar =
    percent !== undefined
      ? html`<progress max="100" value=${percent} aria-label="Progress of ${name}"></progress> `
      : s.bytes !== undefined
        ? html`<progress aria-label="Progress of ${name}"></progress> `
        : nothing;
  return html`${bar}<span class="step">${stepText(s)}</span>`;
}

export class L4mBuilds extends LitElement {
  static override properties = { args: { attribute: false } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      section { margin-bottom: 1.5rem; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
      tr.bad { background: var(--row-bad); }
      .True { color: var(--ok); } .False { color: var(--bad); } .Unknown { color: var(--warn); }
      a { color: var(--accent); }
      .muted { color: var(--muted); font-size: 0.9em; }
      progress { width: 8rem; vertical-align: middle; }
      @media (max-width: 700px) { .wide { display: none; } }
    `,
  ];

  /** The route's segments after `builds`. */
  args: string[] = [];
  private readonly api = new ContextConsumer(this, { context: apiContext });
  private readonly feed = new ContextConsumer(this, { context: feedContext });
  private readonly live = new StatusController(this, () => this.feed.value);
  private readonly lists = new Task(this, {
    task: async () => {
      const api = this.api.value!;
      const admin = api.user?.role === 'admin';
      const [overlays, installations, instances] = await Promise.all([
        api.get<{ items: BuildItem[] }>('/api/v1/overlays'),
        admin ? api.get<{ items: BuildItem[] }>('/api/v1/installations') : Promise.resolve({ items: [] as BuildItem[] }),
        api.get<{ items: Array<{ name: string; owner: string; state: string }> }>('/api/v1/instances'),
      ]);
      return { overlays: overlays.items, installations: installations.items, instances: instances.items, admin };
    },
    args: () => [],
  });

  /** A row with the newest live status laid over what the list said. */
  private rowOf(plural: Plural, item: BuildItem): BuildItem {
    const s = this.feed.value?.get(KIND_OF[plural], item.name);
    if (!s) return item;
    return { ...item, ready: s.ready, reason: s.reason, message: s.message, build: s.build, building: s.building, progress: s.progress, buildStep: s.buildStep };
  }

  private buildCell(r: BuildItem) {
    if (r.progress) {
      return html`<progress max="100" value=${r.progress.percent} aria-label="Progress of ${r.name}"></progress> <span>${progressText(r.progress)}</span>`;
    }
    if (r.building && r.buildStep) return stepView(r.name, r.buildStep);
    if (r.building) return html`<span>Building ${r.building}…</span>`;
    return html`<span>${r.build ?? '–'}</span>`;
  }

  private table(plural: Plural, caption: string, items: BuildItem[]) {
    return html`
      <section>
        <h2>${caption}</h2>
        <table aria-label=${caption}>
          <thead><tr><th>Name</th><th>Ready</th><th>Build</th><th class="wide">Owner</th></tr></thead>
          <tbody>
            ${items.map((i) => this.rowOf(plural, i)).map(
              (r) => html`<tr class=${r.ready === 'False' ? 'bad' : ''} data-name=${r.name}>
                <td><a href="#/builds/${plural}/${encodeURIComponent(r.name)}">${r.name}</a></td>
                <td><span class=${r.ready}>${READY_TEXT[r.ready] ?? r.ready}</span> <span class="muted" title=${r.message ?? ''}>${r.reason ?? ''}</span></td>
                <td>${this.buildCell(r)}</td>
                <td class="wide">${r.owner}</td>
              </tr>`,
            )}
          </tbody>
        </table>
      </section>
    `;
  }

  private overview() {
    return this.lists.render({
      pending: () => html`<p>Loading builds…</p>`,
      error: (e) => html`<p role="alert">Could not load the builds: ${e instanceof Error ? e.message : String(e)}</p>`,
      complete: (l) => html`
        <h1>Builds</h1>
        ${this.table('overlays', 'Overlays', l.overlays)}
        ${l.admin ? this.table('installations', 'Installations', l.installations) : nothing}
        <section>
          <h2>Writable layers</h2>
          <p class="muted">What each server wrote (logs, downloaded maps, plugin data), read-only.</p>
          <table aria-label="Writable layers">
            <thead><tr><th>Server</th><th>State</th><th class="wide">Owner</th></tr></thead>
            <tbody>
              ${l.instances.map(
                (i) => html`<tr data-name=${i.name}>
                  <td><a href="#/builds/instances/${encodeURIComponent(i.name)}" aria-label="Files of ${i.name}">${i.name}</a></td>
                  <td>${i.state}</td>
                  <td class="wide">${i.owner}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        </section>
      `,
    });
  }

  private detail(plural: Plural, name: string) {
    const s = this.feed.value?.get(KIND_OF[plural], name);
    const running = Boolean(s?.building || s?.progress);
    return html`
      <p><a href="#/builds">← Builds</a></p>
      <h1>${name}</h1>
      <p>
        ${s ? html`<span class=${s.ready}>${READY_TEXT[s.ready] ?? s.ready}</span> <span class="muted">${s.reason ?? ''} ${s.message ?? ''}</span>` : nothing}
      </p>
      ${s?.progress ? html`<p><progress max="100" value=${s.progress.percent} aria-label="Progress of ${name}"></progress> ${progressText(s.progress)}</p>` : nothing}
      ${s?.building ? html`<p>Building ${s.building}${s.buildStep ? html`: ${stepView(name, s.buildStep)}` : '…'}</p>` : nothing}
      <section>
        <h2>Build log</h2>
        <l4m-build-log .plural=${plural} .name=${name} .live=${running}></l4m-build-log>
      </section>
      ${plural === 'overlays'
        ? html`<section>
            <h2>Files of the ready build</h2>
            <l4m-file-browser .base=${`/api/v1/overlays/${encodeURIComponent(name)}/files`} label="Files of overlay ${name}"></l4m-file-browser>
          </section>`
        : nothing}
    `;
  }

  private writableLayer(name: string) {
    return html`
      <p><a href="#/builds">← Builds</a> · <a href="#/servers/${encodeURIComponent(name)}">Server ${name}</a></p>
      <h1>${name}: writable layer</h1>
      <l4m-file-browser .base=${`/api/v1/instances/${encodeURIComponent(name)}/files`} label="Files of server ${name}"></l4m-file-browser>
    `;
  }

  override render() {
    void this.live;
    const [what, name] = this.args;
    if ((what === 'overlays' || what === 'installations') && name) return this.detail(what, name);
    if (what === 'instances' && name) return this.writableLayer(name);
    return this.overview();
  }
}

customElements.define('l4m-builds', L4mBuilds);

registerRoute({ name: 'builds', label: 'Builds', render: (args) => html`<l4m-builds .args=${args}></l4m-builds>` });
