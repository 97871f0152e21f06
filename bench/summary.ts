// `npm run bench -- all` runs every benchmark in its own process and gathers bench/results/summary.json;
// `npm run bench -- readme` rewrites README's performance section (between its markers) from that file.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machineBusySeconds } from './cpu';
import { type Figure, machine } from './limits';

const RESULTS = path.join(__dirname, 'results');
const SUMMARY = path.join(RESULTS, 'summary.json');
const README = path.join(__dirname, '..', 'README.md');
const START =
  '<!-- bench:summary:start (npm run bench -- readme writes this table from bench/results/summary.json) -->';
const END = '<!-- bench:summary:end -->';

/** A summary line: a benchmark's figure, its limit and its share. */
export interface SummaryFigure extends Omit<Figure, 'value' | 'limit' | 'share'> {
  bench: string;
  value: number;
  valueSpread: number;
  limit: number | null;
  share: number | null;
  shareSpread: number | null;
}

function figuresOf(bench: string, result: Record<string, unknown>): SummaryFigure[] {
  const figures = result.figures as Figure[] | undefined;
  if (Array.isArray(figures)) {
    return figures.map((f) => ({
      ...f,
      bench,
      value: f.value.median,
      valueSpread: f.value.spread,
      limit: f.limit?.median ?? null,
      share: f.share?.median ?? null,
      shareSpread: f.share?.spread ?? null,
    }));
  }
  // A benchmark without figures in this form: its top-level numbers, reported without a limit (its shares,
  // rates and times when it names some that way, else every number).
  const numbers = Object.entries(result).filter(([k, v]) => typeof v === 'number' && k !== 'cores');
  const named = numbers.filter(([k]) => /(Share|PerSecond|Ms|Seconds)$/.test(k));
  return (named.length > 0 ? named : numbers).map(([name, v]) => ({
    bench,
    name,
    unit: '',
    value: v as number,
    valueSpread: 0,
    limitName: null,
    limit: null,
    share: null,
    shareSpread: null,
    note: 'reported by the benchmark without a limit',
  }));
}

export async function runAll(
  names: string[],
  sizes: Record<string, string[]>,
  quick: boolean,
): Promise<void> {
  const started = new Date();
  const benches: Record<string, unknown>[] = [];
  const figures: SummaryFigure[] = [];
  for (const name of names) {
    const before = machineBusySeconds();
    const at = Date.now();
    const load = os.loadavg()[0];
    console.log(`\n=== ${name} ===`);
    const child = spawnSync(
      process.execPath,
      [...process.execArgv, path.join(__dirname, 'run.ts'), name, ...(sizes[name] ?? [])],
      {
        stdio: 'inherit',
        env: process.env,
      },
    );
    const after = machineBusySeconds();
    const file = path.join(RESULTS, `${name}.json`);
    const result = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
      : null;
    const fresh = result !== null && Date.parse(String(result.at)) >= at - 1000;
    const ok = child.status === 0 && fresh;
    benches.push({
      bench: name,
      ok,
      seconds: Math.round((Date.now() - at) / 100) / 10,
      // Every core's busy share during the benchmark (its own work included) and the load when it began.
      machineBusy:
        Math.round(((after - before) / Math.max(0.1, (Date.now() - at) / 1000) / os.cpus().length) * 100) /
        100,
      loadAverageAtStart: Math.round((load ?? 0) * 100) / 100,
      ...(ok
        ? {}
        : { error: `exit ${child.status ?? child.signal}${fresh ? '' : ', no fresh result file'}` }),
    });
    if (ok) figures.push(...figuresOf(name, result!));
  }
  const summary = {
    at: started.toISOString(),
    quick,
    finishedAt: new Date().toISOString(),
    ...machine(),
    benches,
    figures,
  };
  writeFileSync(SUMMARY, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), SUMMARY)}: ${figures.length} figures`);
  writeReadme();
}

const fmt = (n: number | null, unit = '') => {
  if (n === null) return '—';
  if (unit === '%') return `${Math.round(n * 100)} %`;
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en');
  return String(Math.round(n * 100) / 100);
};

const targetText = (f: SummaryFigure) => {
  if (!f.target) return '';
  const of = f.target.of === 'share' ? 'share' : f.unit;
  const bound =
    f.target.atLeast !== undefined
      ? `≥ ${f.target.of === 'share' ? fmt(f.target.atLeast, '%') : fmt(f.target.atLeast)}`
      : `≤ ${f.target.of === 'share' ? fmt(f.target.atMost!, '%') : fmt(f.target.atMost!)}`;
  return `${bound}${of === 'share' ? '' : ` ${of}`} ${f.met ? '(met)' : '(missed)'}`;
};

/** The README table: one line a figure, its limit from the same run and its share, then the machine. */
export function summaryTable(summary: Record<string, unknown>): string {
  const figures = summary.figures as SummaryFigure[];
  const lines = [
    '| benchmark | figure | median (spread) | limit, same run | share of limit | target |',
    '|---|---|---:|---|---:|---|',
    ...figures.map(
      (f) =>
        `| ${f.bench} | ${f.name} | ${fmt(f.value)} ${f.unit} (±${Math.round((f.valueSpread / 2) * 100)} %) | ` +
        `${f.limitName ? `${f.limitName} ${fmt(f.limit)}` : '—'} | ${fmt(f.share, '%')} | ${targetText(f)} |`,
    ),
  ];
  const benches = summary.benches as { bench: string; ok: boolean; machineBusy: number; error?: string }[];
  const failed = benches.filter((b) => !b.ok);
  return [
    ...lines,
    '',
    `${summary.cores} cores (${summary.cpuModel}), Node ${summary.node}, run ${String(summary.at).slice(0, 16)} UTC` +
      ` on a machine shared with other work (busy share of all cores per benchmark: ${benches
        .map((b) => `${b.bench} ${Math.round(b.machineBusy * 100)} %`)
        .join(', ')}).` +
      (summary.quick ? ' Quick sizes (`all quick`): not figures to compare.' : '') +
      (failed.length > 0
        ? ` Did not finish: ${failed.map((b) => `${b.bench} (${b.error})`).join(', ')}.`
        : ''),
  ].join('\n');
}

export function writeReadme(): void {
  const summary = JSON.parse(readFileSync(SUMMARY, 'utf8')) as Record<string, unknown>;
  const readme = readFileSync(README, 'utf8');
  const block = `${START}\n${summaryTable(summary)}\n${END}`;
  const at = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (at < 0 || end < 0) throw new Error(`README.md has no ${START} … ${END} markers`);
  writeFileSync(README, readme.slice(0, at) + block + readme.slice(end + END.length));
  // Biome aligns a Markdown table's columns; `biome ci` (lint in .ci/run) refuses the table as written above.
  const formatted = spawnSync(
    path.join(__dirname, '..', 'node_modules', '.bin', 'biome'),
    ['format', '--write', README],
    {
      encoding: 'utf8',
    },
  );
  if (formatted.status !== 0) throw new Error(`biome format README.md failed: ${formatted.stderr}`);
  console.log('README.md: performance table rewritten from bench/results/summary.json');
}
