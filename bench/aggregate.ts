// `npm run bench -- aggregate`: 10,000,000 tracking events over 100 deliveries (the largest 1,000,000
// messages). Measures ingestion of the last hour's 500,000 events through the queue, the hourly run over
// them, and compute-stats of the largest delivery; checks the counters against a recount.

import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import pino from 'pino';
import type postgres from 'postgres';
import { computeDeliveryStats, runAggregationTick } from '../db/aggregate';
import { trackingQueue } from '../shared/queues';
import { startProcess } from '../workers/start/process';
import { cpuSnapshot, cpuSplit } from './cpu';
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

/** The last hour's events, in jobs as a tracker sends them: a third of them from recipients new to opening. */
function* lastHour(total: number): Generator<Record<string, unknown>[]> {
  const rnd = random(7);
  const messages = LARGEST + (DELIVERIES - 1) * OTHERS;
  let batch: Record<string, unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const pick = Math.floor(rnd() * messages);
    const id = pick < LARGEST ? 1 : 2 + Math.floor((pick - LARGEST) / OTHERS);
    const seq = Math.floor(rnd() * size(id) * 0.6);
    batch.push({
      eventId: `n-${i}`,
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
  return { value, seconds: Math.round(seconds * 100) / 100, cpu };
}

export async function benchAggregate(sizes: number[]): Promise<Record<string, unknown>> {
  const total = sizes[0] ?? 10_000_000;
  const recent = Math.min(total, sizes[1] ?? 500_000);
  const world = await openBenchWorld('agg', {
    AGGREGATION_SCHEDULE: '0 0 1 1 *',
    TRACKING_CONCURRENCY: process.env.TRACKING_CONCURRENCY ?? '4',
  });
  const { sql, config } = world;
  const queue = new Queue(trackingQueue.name, { connection: world.redis, prefix: config.QUEUE_PREFIX });
  const now = () => new Date();
  try {
    const seeding = await timed('seeding deliveries and logs', () => seedDeliveries(sql));
    const history = await timed(`seeding ${total - recent} older events`, () =>
      seedHistory(sql, total - recent),
    );
    await sql`vacuum analyze`;
    const catchUp = await timed('first run over the older events', () =>
      runAggregationTick(sql, new Date(Date.now() - 3600_000), now),
    );

    let jobs = 0;
    for (const batch of lastHour(recent)) {
      await queue.add('trk', { events: batch }, trackingQueue.jobOptions);
      jobs++;
    }
    const proc = await startProcess(['tracking'], config, pino({ level: 'warn' }, pino.destination(2)));
    await proc.ready;
    const ingestion = await timed(`ingesting ${recent} events (${jobs} jobs)`, async () => {
      for (;;) {
        const counts = await queue.getJobCounts('completed', 'failed');
        if ((counts.completed ?? 0) + (counts.failed ?? 0) >= jobs) return counts;
        await sleep(100);
      }
    });
    await proc.stop();

    const hourly = await timed('hourly run over the last hour', () =>
      runAggregationTick(sql, new Date(), now),
    );
    const stats = await timed(`compute-stats of the ${LARGEST}-message delivery`, () =>
      computeDeliveryStats(sql, '1', now),
    );
    const [recount] = await sql`
      select count(distinct seq)::int as opens, (count(distinct seq) filter (where type = 'click'))::int as clicks
      from tracking_events where delivery_id = 1`;
    const [kpi] = await sql`select opens, clicks from delivery_kpis where delivery_id = 1`;
    const [events] = await sql`select count(*)::int as n from tracking_events`;
    const result = {
      trackingEvents: events!.n,
      deliveries: DELIVERIES,
      largestDelivery: LARGEST,
      hourlyEvents: recent,
      trackingEventsPerSecond: Math.round(recent / ingestion.seconds),
      hourlyRunSeconds: hourly.seconds,
      computeStatsSeconds: stats.seconds,
      computeStatsDrift: stats.value?.drift,
      recountEqual: recount!.opens === kpi!.opens && recount!.clicks === kpi!.clicks,
      failedJobs: ingestion.value.failed ?? 0,
      phases: { seeding, history, catchUp, ingestion, hourly, stats: { ...stats, value: undefined } },
      cores: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      settings: { jobEvents: JOB_EVENTS, trackingConcurrency: config.TRACKING_CONCURRENCY },
    };
    console.log(
      `ingestion ${result.trackingEventsPerSecond} events/s, hourly run ${result.hourlyRunSeconds} s, ` +
        `compute-stats ${result.computeStatsSeconds} s, recount ${result.recountEqual ? 'equal' : 'DIFFERENT'}`,
    );
    return result;
  } finally {
    await queue.close();
    await world.close();
  }
}
