import { printableLine } from './printable.js';

/** Renders rows as left-aligned columns separated by three spaces, kubectl style; a cell is one line, its controls escaped. */
export function renderTable(header: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(printableLine));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
