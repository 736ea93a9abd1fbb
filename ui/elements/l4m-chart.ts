/**
 * <l4m-chart .points=… label="…">: a small SVG line chart of one series over
 * time. Drawn by hand (no chart library: it would cost more than the whole
 * page). A null value is unknown — the server did not answer, or was not
 * running — so the line breaks there instead of dropping to zero: each run of
 * known values is its own polyline, and a lone known value is a dot.
 */
import { css, html, LitElement, nothing, svg } from 'lit';
import { theme } from '../theme.js';

/** One sample: when (ms since the epoch) and what, or null when unknown. */
export interface ChartPoint {
  t: number;
  v: number | null;
}

const W = 300;
const H = 80;
const PAD = 2;

export class L4mChart extends LitElement {
  static override properties = { points: { attribute: false }, label: { type: String }, format: { attribute: false }, min: { type: Number }, max: { type: Number } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      figure { margin: 0; }
      figcaption { display: flex; justify-content: space-between; gap: 0.5rem; font-size: 0.9em; }
      .now { color: var(--muted); }
      svg { display: block; width: 100%; height: 5rem; background: var(--input-bg); border: 1px solid var(--line); border-radius: 4px; }
      polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
      circle { fill: var(--accent); }
      line.axis { stroke: var(--line); vector-effect: non-scaling-stroke; }
      .range { display: flex; justify-content: space-between; color: var(--muted); font-size: 0.8em; }
    `,
  ];

  points: ChartPoint[] = [];
  label = '';
  /** How a value reads (axis, newest value). */
  format: (v: number) => string = (v) => String(Math.round(v * 100) / 100);
  /** The lowest value of the scale (default 0: a count or a usage). */
  min = 0;
  /** The highest value of the scale; by default the series' highest value. */
  max: number | undefined = undefined;

  /** The runs of known values, in order: each becomes one polyline. */
  static runs(points: ChartPoint[]): ChartPoint[][] {
    const runs: ChartPoint[][] = [];
    let run: ChartPoint[] = [];
    for (const p of points) {
      if (p.v === null || !Number.isFinite(p.v)) {
        if (run.length > 0) runs.push(run);
        run = [];
      } else run.push(p);
    }
    if (run.length > 0) runs.push(run);
    return runs;
  }

  override render() {
    const pts = [...this.points].sort((a, b) => a.t - b.t);
    const known = pts.filter((p): p is { t: number; v: number } => p.v !== null && Number.isFinite(p.v));
    const t0 = pts[0]?.t ?? 0;
    const t1 = pts[pts.length - 1]?.t ?? 1;
    const lo = this.min;
    const hi = Math.max(this.max ?? Math.max(lo, ...known.map((p) => p.v)), lo + Number.EPSILON);
    const x = (t: number) => (t1 === t0 ? W / 2 : PAD + ((t - t0) / (t1 - t0)) * (W - 2 * PAD));
    const y = (v: number) => H - PAD - ((Math.min(v, hi) - lo) / (hi - lo)) * (H - 2 * PAD);
    const newest = known[known.length - 1];
    const summary = known.length === 0 ? 'no data' : `newest ${this.format(newest!.v)}, highest ${this.format(Math.max(...known.map((p) => p.v)))}`;
    return html`
      <figure>
        <figcaption><span>${this.label}</span><span class="now">${newest ? this.format(newest.v) : '–'}</span></figcaption>
        <svg role="img" aria-label=${this.label} viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">
          <title>${this.label}: ${summary}</title>
          <line class="axis" x1="0" y1=${H - PAD} x2=${W} y2=${H - PAD}></line>
          ${L4mChart.runs(pts).map((run) =>
            run.length === 1
              ? svg`<circle cx=${x(run[0]!.t)} cy=${y(run[0]!.v!)} r="1.5"></circle>`
              : svg`<polyline points=${run.map((p) => `${x(p.t).toFixed(1)},${y(p.v!).toFixed(1)}`).join(' ')}></polyline>`,
          )}
        </svg>
        ${pts.length > 0
          ? html`<div class="range" aria-hidden="true"><span>${clock(t0)}</span><span>max ${this.format(hi)}</span><span>${clock(t1)}</span></div>`
          : nothing}
      </figure>
    `;
  }
}

function clock(t: number): string {
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

customElements.define('l4m-chart', L4mChart);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-chart': L4mChart;
  }
}
