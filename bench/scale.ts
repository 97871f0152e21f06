// `npm run bench -- scale [importCount] [dispatch1] [dispatch2] [historyLogRows] [historyFillMinutes]` (defaults
// 10,000,000, 1,000,000, 10,000,000, 100,000,000, 45; historyLogRows -1: the last scale-history run's figures):
// the figures of a 10-million-recipient audience, each measured once (a round takes minutes), each in a
// process of its own so that its peak RSS is honest:
// - import: `campaign delivery create --recipients FILE` of `importCount` recipients run as a user runs it,
//   beside its limit measured in the same run (the same rows pre-formatted, COPYed straight into the
//   targets table);
// - dispatch: deliveries of `dispatch1` and `dispatch2` recipients confirmed to `sent` through the dropping
//   transport (bench/dispatch.ts's machinery in bench/scale-dispatch.ts); the large one should keep the
//   small one's rate (within 15 %) and memory (≤ 300 MB, flat).
// - history: bench/scale-history.ts, with 100M log rows in the database: status, /deliveries/ID.json, the
//   feedback bench against its empty-database figure, and the purge of a month (`scale-history` alone).
// Not part of `all`: it writes ~3 GB to PostgreSQL and takes ~15 minutes on 2 cores, and the history part
// ~30 GB and up to its fill budget (45 minutes) more.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { addBenchOperator, CONTENT, writeRecipients } from './delivery-kit';
import { type DispatchRun, dispatchSettings } from './dispatch';
import { copyLimit, copyPieces } from './import';
import { machine, rateFigure } from './limits';
import { benchScaleHistory } from './scale-history';
import { type BenchWorld, openBenchWorld } from './world';

const ROOT = path.resolve(__dirname, '..');
const run = promisify(execFile);
/** The bounds (issue 21) beside LIMITS.md's raw COPY figure on a machine of this kind. */
const LIMITS = {
  importRowsPerSecond: { atLeast: 150_000, limitsMdCopyRowsPerSecond: 215_000 },
  importPeakRssMb: { atMost: 300 },
  dispatchMessagesPerSecond10M: { atLeastShareOf1M: 0.85 },
  dispatchPeakRssMb10M: { atMost: 300 },
};

const load = () => os.loadavg().map((l) => Math.round(l * 100) / 100);

interface ImportRun {
  recipients: number;
  id: string;
  seconds: number;
  rowsPerSecond: number;
  peakRssMb: number;
  toSend: number;
  loadAtStart: number[];
}

/** `campaign delivery create` as a user runs it, in a process of its own; its peak RSS from the kernel. */
async function importRun(world: BenchWorld, count: number, file: string): Promise<ImportRun> {
  const rssFile = path.join(os.tmpdir(), `scale-import-rss-${process.pid}-${count}`);
  const loadAtStart = load();
  const started = performance.now();
  const { stdout } = await run(
    process.execPath,
    [
      '-r',
      path.join(ROOT, 'test', 'helpers', 'peak-rss.cjs'),
      '--import',
      'tsx',
      'workers/cli/main.ts',
      'delivery',
      'create',
      '--label',
      `scale ${count}`,
      '--recipients',
      file,
      '--from',
      CONTENT.sender,
      '--subject',
      CONTENT.subject,
      '--text',
      CONTENT.textBody!,
      '--html',
      CONTENT.htmlBody!,
      '--json',
    ],
    { cwd: ROOT, env: { ...process.env, ...world.env, PEAK_RSS_FILE: rssFile }, maxBuffer: 1 << 20 },
  );
  const seconds = (performance.now() - started) / 1000;
  const result = JSON.parse(stdout) as { id: string; rows: number; toSend: number };
  if (result.rows !== count) throw new Error(`imported ${result.rows} rows of ${count}`);
  const peakRssMb = Math.round(Number(await readFile(rssFile, 'utf8')) / 1024 / 1024);
  await rm(rssFile, { force: true });
  return {
    recipients: count,
    id: result.id,
    seconds: Math.round(seconds * 100) / 100,
    rowsPerSecond: Math.round(count / seconds),
    peakRssMb,
    toSend: result.toSend,
    loadAtStart,
  };
}

/** The prepared delivery `id` confirmed and dispatched to `sent` by bench/scale-dispatch.ts. */
async function dispatchRun(world: BenchWorld, id: string, count: number): Promise<DispatchRun> {
  await addBenchOperator(world.sql);
  const child = run(process.execPath, ['--import', 'tsx', 'bench/scale-dispatch.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...world.env, SCALE_DELIVERY_ID: id, SCALE_COUNT: String(count) },
    maxBuffer: 16 << 20,
  });
  child.child.stderr?.pipe(process.stderr);
  const { stdout } = await child;
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as DispatchRun;
}

/** A world of its own for `count` recipients: imported (measured), then dispatched (measured). */
async function audience(count: number, file: string, dispatch: boolean) {
  const world = await openBenchWorld(`scale-${count}`, dispatchSettings());
  try {
    const imported = await importRun(world, count, file);
    console.log(`  import ${count}: ${imported.rowsPerSecond} rows/s, ${imported.peakRssMb} MB`);
    const dispatched = dispatch ? await dispatchRun(world, imported.id, count) : null;
    if (dispatched)
      console.log(`  dispatch ${count}: ${dispatched.messagesPerSecond} msg/s, ${dispatched.peakRssMb} MB`);
    return { imported, dispatched };
  } finally {
    await world.close();
  }
}

/** The figures of bench/results/scale-history.json, marked as that file's, with its date and machine. */
function lastHistoryRun(): Record<string, unknown> {
  const file = path.join(ROOT, 'bench', 'results', 'scale-history.json');
  const last = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  return {
    ...last,
    source: `bench/results/scale-history.json of ${last.at} (${last.cpuModel}), not this run`,
  };
}

async function copyLimitRun(count: number): Promise<number> {
  const world = await openBenchWorld(`scale-copy-${count}`);
  try {
    return await copyLimit(world.sql, count, copyPieces(count));
  } finally {
    await world.close();
  }
}

export async function benchScale(sizes: number[]): Promise<Record<string, unknown>> {
  const importCount = sizes[0] || 10_000_000;
  const small = sizes[1] || 1_000_000;
  const large = sizes[2] || 10_000_000;
  const loadAtStart = load();
  const copy = await copyLimitRun(importCount);
  console.log(`  COPY limit ${importCount}: ${Math.round(copy)} rows/s`);
  const importFile = await writeRecipients(importCount);
  // The 1M dispatch first: a long 10M run cut short still leaves the figure it is compared with.
  const smallRun = await audience(small, await writeRecipients(small), true);
  const big = await audience(importCount, importFile, importCount === large);
  const largeRun = importCount === large ? big : await audience(large, await writeRecipients(large), true);
  // Last: its fill loads both cores for up to its budget, and its database is dropped before it returns. A
  // negative historyLogRows takes the figures of the last `scale-history` run instead, saying which.
  const history =
    (sizes[3] ?? 0) < 0 ? lastHistoryRun() : await benchScaleHistory([sizes[3] ?? 0, sizes[4] ?? 0]);
  const d1 = smallRun.dispatched!;
  const d10 = largeRun.dispatched!;
  const importFigure = rateFigure(
    `import of ${importCount.toLocaleString('en')} recipients (campaign delivery create)`,
    'rows/s',
    [big.imported.rowsPerSecond],
    'copyRowsPerSecond',
    [copy],
    { of: 'value', atLeast: LIMITS.importRowsPerSecond.atLeast },
  );
  const dispatchFigure = rateFigure(
    `dispatch of ${large.toLocaleString('en')}, dropping transport`,
    'msg/s',
    [d10.messagesPerSecond],
    `dispatchMessagesPerSecond at ${small.toLocaleString('en')}`,
    [d1.messagesPerSecond],
    { of: 'share', atLeast: LIMITS.dispatchMessagesPerSecond10M.atLeastShareOf1M },
  );
  return {
    importRecipients: importCount,
    importRowsPerSecond: big.imported.rowsPerSecond,
    importPeakRssMb: big.imported.peakRssMb,
    copyRowsPerSecond: Math.round(copy),
    importShareOfCopy: Math.round((big.imported.rowsPerSecond / copy) * 1000) / 1000,
    dispatchRecipients: [small, large],
    dispatchMessagesPerSecond1M: d1.messagesPerSecond,
    dispatchMessagesPerSecond10M: d10.messagesPerSecond,
    dispatch10MShareOf1M: Math.round((d10.messagesPerSecond / d1.messagesPerSecond) * 1000) / 1000,
    dispatchPeakRssMb1M: d1.peakRssMb,
    dispatchPeakRssMb10M: d10.peakRssMb,
    logRowsReached: history.logRowsReached,
    statusMsAt100MLogs: history.statusMsAt100MLogs,
    deliveryJsonMsAt100MLogs: history.deliveryJsonMsAt100MLogs,
    feedbackRatioAt100MLogs: history.feedbackRatioAt100MLogs,
    purgeMonthSeconds: history.purgeMonthSeconds,
    historySource: history.source ?? 'this run',
    limits: LIMITS,
    figures: [importFigure, dispatchFigure],
    loadAtStart,
    loadAtEnd: load(),
    ...machine(),
    runs: { imports: [big.imported, smallRun.imported], dispatches: [d1, d10], history },
  };
}
