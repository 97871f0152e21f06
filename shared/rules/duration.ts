// Durations as the CLI and settings write them (500ms, 45s, 10m, 1h, 3d), to and from milliseconds.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `500ms`, `45s`, `10m`, `1h`, `3d` (or a sum such as `1h30m`) into milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(ms|[smhd]))+$/.test(trimmed)) {
    throw new Error(`"${text}" is not a duration; expected a number and a unit, e.g. 45s, 10m, 1h, 3d`);
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|[smhd])/g)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  if (total <= 0) throw new Error(`"${text}" is zero; expected a positive duration`);
  return total;
}

/** Writes milliseconds the way parseDuration reads them, in the largest exact unit. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
