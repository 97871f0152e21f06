// The history figures of issue 21 (part of `npm run bench -- scale`, or alone as `scale-history [logRows]
// [fillMinutes]`): a database filled server-side (insert … select generate_series, not through the app) with
// `logRows` log rows (default 100M) of finished deliveries, a month of them per history range (each range's
// partitions loaded as plain tables, indexed, then attached: loadMonth), then
// - `campaign status` (in-process, as the CLI runs it, and its read alone) and GET /deliveries/ID.json,
//   median of 20;
// - the feedback bench's pipeline run beside those rows, against the same run in an empty database;
// - `campaign purge` of the oldest month (one range's partitions dropped).
// The fill stops at `fillMinutes` (default 45) and the figures are measured at the size reached
// (`logRowsReached`). The database is dropped at the end. The fill loads both cores for its whole length.
import os from 'node:os';
import pino from 'pino';
import { deliveryStatus } from '../db/delivery-status';
import { purgeHistory } from '../db/purge';
import { runCliCaptured } from '../workers/cli/in-process';
import { startProcess } from '../workers/start/process';
import { type PipelineRun, pipelineRun } from './feedback';
import { machine, percentile } from './limits';
import { type BenchWorld, openBenchWorld } from './world';

/** Deliveries a month, and months: 10 × 10 deliveries of logRows / 100 rows each. */
const PER_MONTH = 10;
const MONTHS = 10;
/** Feedback and tracking events per log row: a twentieth each (the history holds some of both). */
const EVENT_SHARE = 20;
/** Events of the feedback runs (the feedback bench's stream, half of them on each of two deliveries). */
const FEEDBACK_EVENTS = 100_000;
const SAMPLES = 20;

const load = () => os.loadavg().map((l) => Math.round(l * 100) / 100);
const ms = (since: number) => Math.round((performance.now() - since) * 100) / 100;

interface Fill {
  logRows: number;
  feedbackRows: number;
  trackingRows: number;
  deliveries: number;
  months: number;
  seconds: number;
  rowsPerSecond: number;
  complete: boolean;
  /** The deliveries of the oldest month (the range the purge drops), and one of the newest. */
  oldestRange: { lo: number; hi: number };
  sample: string;
}

/** Month `m` (0 the oldest) ends this many days before now: ten 30-day months, the newest 35 days ago. */
const monthStart = (m: number) => new Date(Date.now() - (35 + (MONTHS - 1 - m) * 30) * 86_400_000);

/** The indexes a range's partitions carry (as the partitioned parents define them), built after the load. */
const INDEXES: Record<string, string[]> = {
  delivery_logs: [
    'primary key (delivery_id, seq)',
    'unique index (message_id, delivery_id)',
    'index (email)',
    'index (delivery_id, retry_at) where retry_at is not null',
    'index (retry_at) where retry_at is not null',
  ],
  feedback_events: ['unique index (delivery_id, event_id)', 'index (delivery_id, seq)'],
  tracking_events: [
    'primary key (delivery_id, id)',
    'unique index (delivery_id, event_id)',
    'index (delivery_id, seq, type)',
    'index (xact)',
  ],
};

/**
 * A month's range loaded the way a bulk load is done: its partitions filled as plain tables, indexed in one
 * sort each, then attached (PostgreSQL adopts the matching indexes and checks the rows fit the range): a
 * few times the speed of inserting 100M rows through every index one at a time. The result is the same
 * tables and indexes the pipeline's own ranges have.
 */
async function loadMonth(world: BenchWorld, m: number, lo: number, perDelivery: number, deadline: number) {
  const { sql } = world;
  const at = monthStart(m);
  for (const t of Object.keys(INDEXES)) {
    await sql.unsafe(
      `create table ${t}_p${lo} (like ${t} including defaults including constraints)${t === 'delivery_logs' ? ' with (fillfactor = 80)' : ''}`,
    );
  }
  let loaded = 0;
  for (let i = 0; i < PER_MONTH && performance.now() < deadline; i++) {
    await sql.begin(async (tx) => {
      await tx`set local synchronous_commit = off`;
      const [d] = await tx`
        insert into deliveries (id, label, state, validity_seconds, retry_interval_seconds, sender, subject, token,
          to_send, created_at, confirmed_at, sending_at, sent_at, valid_until, finished_at)
        values (${lo + i}, ${`history ${m}.${i}`}, 'finished', 259200, 3600, 'bench@bench.test', 'history', 'tok',
          ${perDelivery}, ${at}, ${at}, ${at}, ${at}, ${at}::timestamptz + interval '3 days',
          ${at}::timestamptz + interval '3 days')
        returning id`;
      const id = Number(d!.id);
      await tx.unsafe(`
        insert into delivery_logs_p${lo} (delivery_id, seq, email, status, attempts, message_id, failure_type,
          failure_reason, handed_off_at, updated_at)
        select ${id}, g, 'user' || g || '@history.test',
          (case when g % 50 = 0 then 'failed' else 'sent' end)::log_status, 1,
          '1.' || g || '.' || ${id} || '.tok@history.test',
          case when g % 50 = 0 then 'hard'::failure_type end, case when g % 50 = 0 then 'user unknown' end,
          '${at.toISOString()}', '${at.toISOString()}'
        from generate_series(0, ${perDelivery - 1}) g`);
      await tx.unsafe(`
        insert into feedback_events_p${lo} (event_id, message_id, delivery_id, seq, attempt, type, occurred_at,
          outcome, received_at)
        select 'h-' || g, '1.' || g || '.' || ${id} || '.tok@history.test', ${id}, g, 1, 'delivered',
          '${at.toISOString()}', 'applied', '${at.toISOString()}'
        from generate_series(0, ${perDelivery - 1}, ${EVENT_SHARE}) g`);
      await tx.unsafe(`
        insert into tracking_events_p${lo} (event_id, message_id, delivery_id, seq, type, occurred_at)
        select 't-' || g, '1.' || g || '.' || ${id} || '.tok@history.test', ${id}, g, 'open', '${at.toISOString()}'
        from generate_series(1, ${perDelivery - 1}, ${EVENT_SHARE}) g`);
      await tx`
        insert into delivery_kpis (delivery_id, sent, delivered, failed, opens, stats_computed_at)
        values (${id}, ${perDelivery}, ${perDelivery - Math.ceil(perDelivery / 50)}, ${Math.ceil(perDelivery / 50)},
          ${Math.floor((perDelivery - 1) / EVENT_SHARE) + 1}, ${at})`;
    });
    loaded++;
    console.log(
      `  fill: month ${m + 1}/${MONTHS}, delivery ${i + 1}/${PER_MONTH} loaded, load ${load().join(' ')}`,
    );
  }
  for (const [t, indexes] of Object.entries(INDEXES)) {
    for (const index of indexes) {
      // Primary keys are constraints on the parents, the other unique ones plain unique indexes: alike here.
      if (index.startsWith('primary key')) await sql.unsafe(`alter table ${t}_p${lo} add ${index}`);
      else {
        const [kind, columns] = index.split(/ (?=\()/);
        await sql.unsafe(`create ${kind} on ${t}_p${lo} ${columns}`);
      }
    }
    await sql.unsafe(
      `alter table ${t} attach partition ${t}_p${lo} for values from (${lo}) to (${lo + PER_MONTH})`,
    );
  }
  await sql`insert into history_partitions (lo, hi) values (${lo}, ${lo + PER_MONTH})`;
  return loaded;
}

async function fill(world: BenchWorld, logRows: number, budgetMs: number): Promise<Fill> {
  const { sql } = world;
  const perDelivery = Math.max(1, Math.round(logRows / (PER_MONTH * MONTHS)));
  const started = performance.now();
  const deadline = started + budgetMs;
  // Ids from 65: the migration's first range [1, 65) is left to the feedback run's deliveries 1 and 2.
  const first = 65;
  let deliveries = 0;
  let months = 0;
  for (let m = 0; m < MONTHS && performance.now() < deadline; m++) {
    deliveries += await loadMonth(world, m, first + m * PER_MONTH, perDelivery, deadline);
    months++;
    const seconds = (performance.now() - started) / 1000;
    const logs = deliveries * perDelivery;
    console.log(
      `  fill: ${logs.toLocaleString('en')} log rows (${months} months), ${Math.round(logs / seconds)} rows/s`,
    );
  }
  const complete = deliveries === PER_MONTH * MONTHS;
  await sql`select setval('deliveries_id_seq', ${first + months * PER_MONTH - 1})`;
  const logs = deliveries * perDelivery;
  const seconds = (performance.now() - started) / 1000;
  console.log('  fill: analyze');
  await sql`analyze deliveries`;
  await sql`analyze delivery_logs`;
  await sql`analyze feedback_events`;
  await sql`analyze tracking_events`;
  const [counts] = await sql`
    select (select count(*) from delivery_logs)::bigint as logs, (select count(*) from feedback_events)::bigint as feedback,
           (select count(*) from tracking_events)::bigint as tracking`;
  if (Number(counts!.logs) !== logs) throw new Error(`filled ${counts!.logs} log rows, expected ${logs}`);
  return {
    logRows: logs,
    feedbackRows: Number(counts!.feedback),
    trackingRows: Number(counts!.tracking),
    deliveries,
    months,
    seconds: Math.round(seconds),
    rowsPerSecond: Math.round(logs / seconds),
    complete,
    oldestRange: { lo: first, hi: first + PER_MONTH },
    sample: String(first + deliveries - 1),
  };
}

/** Median and p95 of `SAMPLES` runs of `fn` (after two warm-up runs), in ms. */
async function timed(fn: () => Promise<unknown>) {
  for (let i = 0; i < 2; i++) await fn();
  const values: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t = performance.now();
    await fn();
    values.push(ms(t));
  }
  return { medianMs: percentile(values, 0.5), p95Ms: percentile(values, 0.95) };
}

/** `campaign status ID --json` in-process (a connection of its own each run, as the CLI makes). */
async function statusTimes(world: BenchWorld, id: string) {
  return timed(async () => {
    const run = await runCliCaptured(['status', id, '--json'], world.env);
    if (run.code !== 0) throw new Error(`campaign status ${id}: ${run.stderr}`);
  });
}

/** GET /deliveries/ID.json from the metrics role of a process of its own. */
async function pageTimes(world: BenchWorld, ids: string[]) {
  const proc = await startProcess(['metrics'], world.config, pino({ level: 'warn' }, pino.destination(2)));
  await proc.ready;
  try {
    const out: Record<string, { medianMs: number; p95Ms: number }> = {};
    for (const id of ids) {
      out[id] = await timed(async () => {
        const response = await fetch(`http://127.0.0.1:${proc.port()}/deliveries/${id}.json`);
        if (response.status !== 200) throw new Error(`/deliveries/${id}.json: ${response.status}`);
        await response.text();
      });
    }
    return out;
  } finally {
    await proc.stop();
  }
}

export async function benchScaleHistory(args: number[]): Promise<Record<string, unknown>> {
  const target = args[0] || 100_000_000;
  const budgetMs = (args[1] || 45) * 60_000;
  const loadAtStart = load();
  const world = await openBenchWorld(
    'scale-history',
    { METRICS_PORT: '0', METRICS_CACHE_TTL: '1s' },
    { sqlMax: 4 },
  );
  try {
    const filled = await fill(world, target, budgetMs);
    const loadAfterFill = load();
    console.log(`  filled ${filled.logRows} log rows in ${filled.seconds} s`);
    const status = await statusTimes(world, filled.sample);
    // The read itself on an open connection: the command's figure also carries its connection and the
    // migration check every CLI command makes first (db/migrate.ts), which no history size changes.
    const statusQuery = await timed(() => deliveryStatus(world.sql, filled.sample));
    console.log(`  status: ${status.medianMs} ms (its read: ${statusQuery.medianMs} ms)`);
    // The feedback run's deliveries 1 and 2 (of FEEDBACK_EVENTS / 2 messages each) beside the history.
    const withHistory: PipelineRun = await pipelineRun(FEEDBACK_EVENTS, world);
    const empty: PipelineRun = await pipelineRun(FEEDBACK_EVENTS);
    console.log(
      `  feedback: ${withHistory.eventsPerSecond} events/s beside the history, ${empty.eventsPerSecond} empty`,
    );
    const pages = await pageTimes(world, [filled.sample, '1']);
    const statusSmall = await statusTimes(world, '1');
    console.log(`  /deliveries/ID.json: ${JSON.stringify(pages)}`);
    const before = new Date(monthStart(0).getTime() + 10 * 86_400_000);
    const purgeStarted = performance.now();
    const purge = await purgeHistory(world.sql, { before, now: new Date(), dryRun: false });
    const purgeSeconds = Math.round((performance.now() - purgeStarted) / 10) / 100;
    console.log(`  purge of the oldest month: ${purgeSeconds} s, ${purge.totals.deliveryLogs} log rows`);
    const [size] = await world.sql`select pg_database_size(current_database())::bigint as bytes`;
    return {
      logRowsTarget: target,
      logRowsReached: filled.logRows,
      fillComplete: filled.complete,
      statusMsAt100MLogs: status.medianMs,
      statusP95Ms: status.p95Ms,
      statusQueryMsAt100MLogs: statusQuery.medianMs,
      statusMsSmallDelivery: statusSmall.medianMs,
      deliveryJsonMsAt100MLogs: pages[filled.sample]!.medianMs,
      deliveryJsonMsSmallDelivery: pages['1']!.medianMs,
      deliveryJsonNote: `the JSON counts the failures of the delivery's own logs: ${Math.round(filled.logRows / Math.max(1, filled.deliveries)).toLocaleString('en')} rows for the large one, ${FEEDBACK_EVENTS / 2} for the small one`,
      feedbackEventsPerSecondAt100MLogs: withHistory.eventsPerSecond,
      feedbackEventsPerSecondEmpty: empty.eventsPerSecond,
      feedbackRatioAt100MLogs:
        Math.round((withHistory.eventsPerSecond / empty.eventsPerSecond) * 1000) / 1000,
      purgeMonthSeconds: purgeSeconds,
      purgeMonthRows: purge.totals,
      purgeMonthRanges: purge.dropped.map((d) => `[${d.lo}, ${d.hi})`),
      databaseGbAtFill: Math.round(Number(size!.bytes) / 1e8) / 10,
      fill: filled,
      loadAtStart,
      loadAfterFill,
      loadAtEnd: load(),
      ...machine(),
      runs: { feedbackWithHistory: withHistory, feedbackEmpty: empty },
    };
  } finally {
    await world.close();
  }
}
