/**
 * <l4m-sparkline .values=${[…]} label="…">: a small line chart of a series
 * (players over the last day, in the servers table). An SVG drawn from its
 * properties alone; gaps (null: the server did not answer) break the line.
 * The scale starts at 0 and ends at `max` when given (max players), else at
 * the series' highest value. Shown to assistive technology as one image whose
 * name is the label and whose description is the last and highest values.
 */
import { css, html, LitElement, nothing, svg } from 'lit';
import { theme } from '../theme.js';

const WIDTH = 100;
const HEIGHT = 24;

/** The polyline segments of a series in a WIDTH×HEIGHT box: one `x,y x,y …` string per run without gaps. */
export function sparklinePaths(values: ReadonlyArray<number | null>, max?: number): string[] {
  const top = Math.max(max ?? 0, ...values.map((v) => v ?? 0), 1);
  const step = values.length > 1 ? WIDTH / (values.length - 1) : 0;
  const runs: string[] = [];
  let run: string[] = [];
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (run.length) runs.push(run.join(' '));
      run = [];
      return;
    }
    const x = values.length > 1 ? i * step : WIDTH / 2;
    const y = HEIGHT - 1 - (Math.max(0, v) / top) * (HEIGHT - 2);
    run.push(`${round(x)},${round(y)}`);
  });
  if (run.length) runs.push(run.join(' '));
  return runs;
}

const round = (n: number) => Math.round(n * 100) / 100;

export class L4mSparkline extends LitElement {
  static override properties = { values: { attribute: false }, max: { type: Number }, label: { type: String } };
  static override styles = [
    theme,
    css`
      :host { display: inline-block; width: 6rem; height: 1.5rem; vertical-align: middle; }
      svg { width: 100%; height: 100%; overflow: visible; }
      polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
      circle { fill: var(--accent); }
      .base { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
    `,
  ];

  /** The series, oldest first; null where nothing was measured. */
  values: ReadonlyArray<number | null> = [];
  /** The top of the scale (e.g. max players); the series' highest value when unset. */
  max: number | undefined;
  /** The accessible name ("players over 24 h"). */
  label = '';

  /** What the chart says in words: its last and highest values. */
  get description(): string {
    const known = this.values.filter((v): v is number => v !== null && Number.isFinite(v));
    if (known.length === 0) return 'no data';
    return `now ${known[known.length - 1]}, highest ${Math.max(...known)}`;
  }

  override render() {
    const paths = sparklinePaths(this.values, this.max);
    // A lone point draws no line: mark it with a dot.
    const dots = paths.filter((p) => !p.includes(' ')).map((p) => p.split(',').map(Number));
    return html`<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${this.label}: ${this.description}">
      <title>${this.label}: ${this.description}</title>
      ${svg`<line class="base" x1="0" y1=${HEIGHT - 0.5} x2=${WIDTH} y2=${HEIGHT - 0.5}></line>`}
      ${paths.map((p) => svg`<polyline points=${p}></polyline>`)}
      ${dots.length ? dots.map(([x, y]) => svg`<circle cx=${x ?? 0} cy=${y ?? 0} r="1.5"></circle>`) : nothing}
    </svg>`;
  }
}

customElements.define('l4m-sparkline', L4mSparkline);

declare global {
  interface HTMLElementTagNameMap {
    'l4m-sparkline': L4mSparkline;
  }
}
