// A figure beside the limit that bounds it, both measured in the same run: rounds interleaved, medians and spreads.
import os from 'node:os';

/** Median, lowest and highest of a round's values. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, so a figure can be read against its own noise. */
  spread: number;
  runs: number[];
}

/** One reported figure: its value, the limit it is bounded by and its share of it (all medians over rounds). */
export interface Figure {
  name: string;
  unit: string;
  value: Spread;
  /** What bounds it, measured in the same run; null for a latency judged against its target only. */
  limitName: string | null;
  limit: Spread | null;
  /** The median of each round's figure / limit (for a time: limit / figure), so noise shared by a round cancels. */
  share: Spread | null;
  /** A target from the issue: a share (0..1) when `targetOf` is 'share', else a bound on the value. */
  target?: { of: 'share' | 'value'; atLeast?: number; atMost?: number };
  met?: boolean;
  note?: string;
}

const round = (n: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export function spreadOf(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted.length === 0 ? 0 : sorted[Math.floor((sorted.length - 1) / 2)]!;
  const min = sorted[0] ?? 0;
  const max = sorted[sorted.length - 1] ?? 0;
  return {
    median: round(median),
    min: round(min),
    max: round(max),
    spread: median === 0 ? 0 : round((max - min) / median),
    runs: values.map((v) => round(v)),
  };
}

/** The rounds a pair runs: three unless BENCH_ROUNDS says otherwise (1 for a quick look). */
export const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

/**
 * Runs every step once a round, in the given order, `ROUNDS` times: limit and figure alternate, so a
 * burst of load on the shared machine falls on both rather than on one.
 */
export async function interleave<K extends string>(
  steps: [K, () => Promise<number>][],
  rounds = ROUNDS,
): Promise<Record<K, number[]>> {
  const values = Object.fromEntries(steps.map(([k]) => [k, [] as number[]])) as Record<K, number[]>;
  // BENCH_STEPS=a,b runs only those steps (a profile of one side); the others report nothing.
  const only = process.env.BENCH_STEPS?.split(',');
  for (let r = 0; r < rounds; r++) {
    for (const [name, step] of steps) {
      if (only && !only.includes(name)) continue;
      (globalThis as { gc?: () => void }).gc?.();
      const value = await step();
      values[name].push(value);
      console.log(`  round ${r + 1}/${rounds} ${name}: ${value.toFixed(value < 100 ? 2 : 0)}`);
    }
  }
  return values;
}

function paired(
  name: string,
  unit: string,
  values: number[],
  limitName: string,
  limits: number[],
  shares: number[],
  target?: Figure['target'],
): Figure {
  return judge({
    name,
    unit,
    value: spreadOf(values),
    limitName,
    limit: spreadOf(limits),
    share: spreadOf(shares),
    target,
  });
}

/** A rate (higher is better) beside its limit: the share is figure / limit. */
export function rateFigure(
  name: string,
  unit: string,
  values: number[],
  limitName: string,
  limits: number[],
  target?: Figure['target'],
): Figure {
  const shares = values.map((v, i) => (limits[i] ? v / limits[i]! : 0));
  return paired(name, unit, values, limitName, limits, shares, target);
}

/** A duration (lower is better) beside the bare work's duration: the share is limit / figure. */
export function timeFigure(
  name: string,
  unit: string,
  values: number[],
  limitName: string,
  limits: number[],
  target?: Figure['target'],
): Figure {
  const shares = values.map((v, i) => (v ? limits[i]! / v : 0));
  return paired(name, unit, values, limitName, limits, shares, target);
}

/** A latency users feel, judged against its target only. */
export function latencyFigure(name: string, values: number[], target?: Figure['target'], note?: string) {
  return judge({
    name,
    unit: 'ms',
    value: spreadOf(values),
    limitName: null,
    limit: null,
    share: null,
    target,
    note,
  });
}

function judge(f: Figure): Figure {
  if (!f.target) return f;
  const x = f.target.of === 'share' ? f.share?.median : f.value.median;
  if (x === undefined) return f;
  const met =
    (f.target.atLeast === undefined || x >= f.target.atLeast) &&
    (f.target.atMost === undefined || x <= f.target.atMost);
  return { ...f, met };
}

/** What every result file says of the machine it ran on. */
export function machine() {
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** Percentile of a list of numbers (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
