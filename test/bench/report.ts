/** One measured figure, with the baseline measured in the same run. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  baselineName?: string;
  /** The target ratio (value / baseline) if the project sets one. */
  target?: number;
}

/** Median of samples (the middle one, or the mean of the two middle ones). */
export function median(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A Markdown table of results: what the README shows. */
export function renderReport(results: BenchResult[]): string {
  const rows = results.map((r) => {
    const ratio = r.baseline ? r.value / r.baseline : undefined;
    return `| ${r.name} | ${r.value.toFixed(1)} ${r.unit} | ${r.baseline !== undefined ? `${r.baseline.toFixed(1)} ${r.unit} (${r.baselineName})` : '-'} | ${ratio !== undefined ? `${ratio.toFixed(2)}×` : '-'} | ${r.target !== undefined ? `≤ ${r.target}×` : '-'} |`;
  });
  return ['| benchmark | measured | baseline (same run) | ratio | target |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}
