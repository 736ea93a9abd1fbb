const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds in a schema duration such as `1h30m`; throws on text the schema would refuse. */
export function parseDuration(text: string): number {
  const parts = text.match(/[0-9]+[smhd]/g);
  if (!parts || parts.join('') !== text) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return parts.reduce((ms, p) => ms + Number(p.slice(0, -1)) * UNIT_MS[p.at(-1) as keyof typeof UNIT_MS], 0);
}
