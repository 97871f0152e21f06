// `npm run bench -- aggregate [events] [hourly]`: tracking events over 100 deliveries (the largest 1,000,000
// messages). Each round ingests an hour's events through the queue, runs the hourly job over them and
// compute-stats of the largest delivery, each beside its limit measured in the same round: a bare `unnest`
// insert of as many events, the window's uniques grouped into an empty copy of the unique table, and the
// bare recount reads. Counters are checked against a recount.

import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import pino from 'pino';
import type postgres from 'postgres';
import { computeDeliveryStats, runAggregationTick } from '../db/aggregate';
import { trackingQueue } from '../shared/queues';
import { startProcess } from '../workers/start/process';
import { cpuSnapshot, cpuSplit } from './cpu';
import { interleave, machine, rateFigure, timeFigure } from './limits';
import { type SampledStatement, samplePostgres } from './pg-sampler';
import { openBenchWorld } from './world';

const TOKEN = 'bec0ffee0123';
const DELIVERIES = 100;
const LARGEST = 1_000_000;
const OTHERS = 20_000;
const JOB_EVENTS = 1000;

/** A deterministic generator, so that two runs replay the same story. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const size = (id: number) => (id === 1 ? LARGEST : OTHERS);
const messageId = (id: number, seq: number) => `1.${seq}.${id}.${TOKEN}@bench.test`;

async function seedDeliveries(sql: postgres.Sql) {
  await sql`
    insert into deliveries (id, label, state, efs, validity_seconds, retry_interval_seconds, sender, subject, token,
      to_send, valid_until, confirmed_at, sending_at, sent_at)
    select g, 'bench ' || g, 'sent', false, 259200, 3600, 'bench@bench.test', 's', ${TOKEN},
      case when g = 1 then ${LARGEST}::int else ${OTHERS}::int end, now() + interval '3 days', now(), now(), now()
    from generate_series(1, ${DELIVERIES}) g`;
  await sql`
    insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, handed_off_at, updated_at)
    select d.id, g, 'user' || g || '-' || d.id || '@bench.test', 'sent', 1,
           '1.' || g || '.' || d.id || '.' || ${TOKEN} || '@bench.test', now(), now()
    from deliveries d, generate_series(0, d.to_send - 1) g`;
  await sql`
    insert into delivery_kpis (delivery_id, sent, delivered) select id, to_send, to_send from deliveries`;
}

/** Older events, written straight to the table a few deliveries a statement (each its own transaction). */
async function seedHistory(sql: postgres.Sql, total: number) {
  const messages = LARGEST + (DELIVERIES - 1) * OTHERS;
  for (let first = 1; first <= DELIVERIES; first += first === 1 ? 1 : 20) {
    const last = first === 1 ? 1 : Math.min(DELIVERIES, first + 19);
    // 40 % of each delivery's recipients open, several times each; one event in ten is a click.
    await sql`
      insert into tracking_events (event_id, message_id, delivery_id, seq, type, occurred_at)
      select 'h-' || d.id || '-' || g, '1.' || x.seq || '.' || d.id || '.' || ${TOKEN} || '@bench.test', d.id, x.seq,
             case when g % 10 = 0 then 'click' else 'open' end, now() - interval '2 hours'
      from deliveries d,
           generate_series(0, (d.to_send::bigint * ${total} / ${messages})::int - 1) g,
           lateral (select ((g::bigint * 7919) % (d.to_send * 4 / 10))::int as seq) x
      where d.id between ${first} and ${last}`;
  }
}

/** An hour's events, in jobs as a tracker sends them: a third of them from recipients new to opening. */
function* lastHour(total: number, seedNumber: number, prefix: string): Generator<Record<string, unknown>[]> {
  const rnd = random(seedNumber);
  const messages = LARGEST + (DELIVERIES - 1) * OTHERS;
  let batch: Record<string, unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const pick = Math.floor(rnd() * messages);
    const id = pick < LARGEST ? 1 : 2 + Math.floor((pick - LARGEST) / OTHERS);
    const seq = Math.floor(rnd() * size(id) * 0.6);
    batch.push({
      eventId: `${prefix}-${i}`,
      messageId: messageId(id, seq),
      type: i % 10 === 0 ? 'click' : 'open',
      url: i % 10 === 0 ? 'https://example.com/offer' : undefined,
      occurredAt: new Date().toISOString(),
    });
    if (batch.length === JOB_EVENTS) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function timed<T>(what: string, work: () => Promise<T>) {
  const cpuBefore = cpuSnapshot();
  const started = performance.now();
  const value = await work();
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSplit(cpuBefore, cpuSnapshot(), seconds);
  console.log(`${what}: ${seconds.toFixed(2)} s`);
  return { value, seconds: Math.round(seconds * 1000) / 1000, cpu };
}

const CONCURRENCY = Number(process.env.TRACKING_CONCURRENCY ?? 4);
/** Events a tracking statement stores (STATEMENT_EVENTS in workers/tracking/handler.ts). */
const STATEMENT_EVENTS = 5000;

/** The ingestion limit: as many events inserted bare, `CONCURRENCY` statements at once, no queue, no check. */
async function trackingLimit(sql: postgres.Sql, total: number, round: number): Promise<number> {
  const rows = [...lastHour(total, 100 + round, `l${round}`)].flat();
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < rows.length; i += STATEMENT_EVENTS) chunks.push(rows.slice(i, i + STATEMENT_EVENTS));
  let next = 0;
  const started = performance.now();
  const writer = async () => {
    while (next < chunks.length) {
      const c = chunks[next++]!;
      const col = (k: string) => c.map((r) => (r[k] ?? null) as string);
      const ref = c.map((r) => (r.messageId as string).split('.'));
      await sql`
        insert into tracking_events (event_id, message_id, delivery_id, seq, type, url, occurred_at)
        select * from unnest(${col('eventId')}::text[], ${col('messageId')}::text[],
          ${ref.map((p) => p[2]!)}::bigint[], ${ref.map((p) => Number(p[1]))}::int[], ${col('type')}::text[],
          ${col('url')}::text[], ${col('occurredAt')}::timestamptz[])`;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, writer));
  return rows.length / ((performance.now() - started) / 1000);
}

/** The hourly run's limit: the window's uniques grouped and inserted into an empty copy of the unique table. */
async function hourlyLimit(sql: postgres.Sql): Promise<number> {
  return sql.begin(async (tx) => {
    const [state] =
      await tx`select value->>'xmin' as xmin from pipeline_state where key = 'tracking-aggregation'`;
    await tx`create temporary table uniques_limit (like tracking_uniques including all) on commit drop`;
    const started = performance.now();
    await tx`
      insert into uniques_limit (delivery_id, seq, clicked)
      select delivery_id, seq, bool_or(type = 'click') from tracking_events
      where xact >= ${state?.xmin ?? '0'}::xid8 group by delivery_id, seq
      on conflict do nothing`;
    return (performance.now() - started) / 1000;
  });
}

/** compute-stats' limit: its recount reads alone (logs by status, uniques from the events), no write. */
async function statsLimit(sql: postgres.Sql): Promise<number> {
  const started = performance.now();
  await sql`select count(*), count(*) filter (where status = 'sent') from delivery_logs where delivery_id = 1`;
  await sql`
    select count(*), count(*) filter (where clicked) from (
      select seq, bool_or(type = 'click') as clicked from tracking_events where delivery_id = 1 group by seq) e`;
  return (performance.now() - started) / 1000;
}

export async function benchAggregate(sizes: number[]): Promise<Record<string, unknown>> {
  const total = sizes[0] ?? 5_000_000;
  const recent = Math.min(total, sizes[1] ?? 250_000);
  const world = await openBenchWorld(
    'agg',
    { AGGREGATION_SCHEDULE: '0 0 1 1 *', TRACKING_CONCURRENCY: String(CONCURRENCY) },
    { sqlMax: CONCURRENCY },
  );
  const { sql, config } = world;
  const queue = new Queue(trackingQueue.name, { connection: world.redis, prefix: config.QUEUE_PREFIX });
  const now = () => new Date();
  try {
    const seeding = await timed('seeding deliveries and logs', () => seedDeliveries(sql));
    const history = await timed(`seeding ${total} older events`, () => seedHistory(sql, total));
    await sql`vacuum analyze`;
    const catchUp = await timed('first run over the older events', () =>
      runAggregationTick(sql, new Date(Date.now() - 3600_000), now),
    );
    const proc = await startProcess(['tracking'], config, pino({ level: 'warn' }, pino.destination(2)));
    await proc.ready;
    let round = 0;
    let jobs = 0;
    let failed = 0;
    const hourlyEvents: number[] = [];
    let postgres: SampledStatement[] = [];
    const v = await interleave([
      ['trackingLimit', () => trackingLimit(sql, recent, ++round)],
      [
        'tracking',
        async () => {
          const sampler = samplePostgres(sql, world.database);
          const started = performance.now();
          for (const batch of lastHour(recent, round, `n${round}`)) {
            await queue.add('trk', { events: batch }, trackingQueue.jobOptions);
            jobs++;
          }
          for (;;) {
            const counts = await queue.getJobCounts('completed', 'failed');
            failed = counts.failed ?? 0;
            if ((counts.completed ?? 0) + failed >= jobs) break;
            await sleep(50);
          }
          const seconds = (performance.now() - started) / 1000;
          postgres = await sampler.stop();
          return recent / seconds;
        },
      ],
      ['hourlyLimit', () => hourlyLimit(sql)],
      [
        'hourly',
        async () => {
          const run = await timed('hourly run', () =>
            runAggregationTick(sql, new Date(Date.now() + round), now),
          );
          if (!run.value.alreadyRan) hourlyEvents.push(run.value.events);
          return run.seconds;
        },
      ],
      ['statsLimit', () => statsLimit(sql)],
      [
        'stats',
        async () => (await timed('compute-stats', () => computeDeliveryStats(sql, '1', now))).seconds,
      ],
    ]);
    await proc.stop();
    const stats = await computeDeliveryStats(sql, '1', now);
    const [recount] = await sql`
      select count(distinct seq)::int as opens, (count(distinct seq) filter (where type = 'click'))::int as clicks
      from tracking_events where delivery_id = 1`;
    const [kpi] = await sql`select opens, clicks from delivery_kpi_totals where delivery_id = 1`;
    const [events] =
      await sql`select count(*)::int as n, count(*) filter (where delivery_id = 1)::int as largest from tracking_events`;
    const figures = [
      rateFigure('tracking ingestion', 'events/s', v.tracking, 'dbLimitEventsPerSecond', v.trackingLimit),
      timeFigure('hourly run', 's', v.hourly, 'bareGroupInsertSeconds', v.hourlyLimit),
      timeFigure('compute-stats (1M-message delivery)', 's', v.stats, 'bareRecountSeconds', v.statsLimit),
    ];
    return {
      trackingEvents: events!.n,
      largestDeliveryEvents: events!.largest,
      deliveries: DELIVERIES,
      largestDelivery: LARGEST,
      hourlyEvents,
      trackingEventsPerSecond: figures[0]!.value.median,
      hourlyRunSeconds: figures[1]!.value.median,
      computeStatsSeconds: figures[2]!.value.median,
      computeStatsDrift: stats?.drift,
      recountEqual: recount!.opens === kpi!.opens && recount!.clicks === kpi!.clicks,
      failedJobs: failed,
      figures,
      postgres,
      phases: { seeding, history, catchUp },
      ...machine(),
      settings: { jobEvents: JOB_EVENTS, trackingConcurrency: config.TRACKING_CONCURRENCY, recent },
    };
  } finally {
    await queue.close();
    await world.close();
  }
}
