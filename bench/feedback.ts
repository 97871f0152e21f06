// `npm run bench -- feedback [events]`: MTA events over a sent delivery pair (half EFS), in jobs of 1,000 with
// 10 % duplicates and 5 % out of order, through the feedback worker; beside it, its limit measured in the same
// run: the same rows updated and the same events inserted by bare set-based SQL, in transactions of the same
// size and as many at once. Three rounds, interleaved; events/s, p99 job time, recount check.

import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, Queue } from 'bullmq';
import pino from 'pino';
import type postgres from 'postgres';
import { feedbackQueue } from '../shared/queues';
import { startProcess } from '../workers/start/process';
import { cpuSnapshot, cpuSplit } from './cpu';
import { type Ev, JOB_EVENTS, jobs, seed } from './feedback-stream';
import { interleave, machine, percentile, rateFigure } from './limits';
import { type SampledStatement, samplePostgres } from './pg-sampler';
import { type BenchWorld, openBenchWorld } from './world';

const CONCURRENCY = Number(process.env.FEEDBACK_CONCURRENCY ?? 4);
/** Events a feedback transaction applies (TRANSACTION_EVENTS in workers/feedback/handler.ts). */
const TRANSACTION_EVENTS = 500;

/** Enqueues the stream as feedback jobs; returns how many jobs and events. */
export async function enqueueStream(queue: Queue, perDelivery: number, total: number) {
  let events = 0;
  let jobCount = 0;
  let pending: { name: string; data: { events: Ev[] }; opts: typeof feedbackQueue.jobOptions }[] = [];
  for (const batch of jobs(perDelivery, total)) {
    events += batch.length;
    jobCount++;
    pending.push({ name: 'fb', data: { events: batch }, opts: feedbackQueue.jobOptions });
    if (pending.length === 50) {
      await queue.addBulk(pending);
      pending = [];
    }
  }
  if (pending.length) await queue.addBulk(pending);
  return { events, jobCount };
}

export interface PipelineRun {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  p99JobMs: number;
  medianJobMs: number;
  failedJobs: number;
  recountEqual: boolean;
  cpu: ReturnType<typeof cpuSplit>;
  postgres: SampledStatement[];
}

/**
 * The stream through the feedback worker, over deliveries 1 and 2 seeded in a fresh world, or in `inWorld`
 * (bench/scale-history.ts: beside 100M log rows of other deliveries), which it leaves open.
 */
export async function pipelineRun(total: number, inWorld?: BenchWorld): Promise<PipelineRun> {
  const perDelivery = Math.round(total / 2);
  const world = inWorld ?? (await openBenchWorld('fb', { FEEDBACK_CONCURRENCY: String(CONCURRENCY) }));
  const { sql, config } = world;
  const queue = new Queue(feedbackQueue.name, { connection: world.redis, prefix: config.QUEUE_PREFIX });
  try {
    await seed(sql, perDelivery);
    const { events, jobCount } = await enqueueStream(queue, perDelivery, total);
    const proc = await startProcess(['feedback'], config, pino({ level: 'warn' }, pino.destination(2)));
    await proc.ready;
    const sampler = samplePostgres(sql, world.database);
    const cpuBefore = cpuSnapshot();
    const started = performance.now();
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if ((counts.completed ?? 0) + (counts.failed ?? 0) >= jobCount) break;
      await sleep(100);
    }
    const wall = (performance.now() - started) / 1000;
    const cpu = cpuSplit(cpuBefore, cpuSnapshot(), wall);
    const postgres = await sampler.stop();
    await proc.stop();
    const done: Job[] = await queue.getJobs(['completed'], 0, jobCount);
    const durations = done.map((j) => (j.finishedOn ?? 0) - (j.processedOn ?? 0));
    const recount = await sql`
      select k.delivered, k.failed,
             (select count(*) from delivery_logs l where l.delivery_id = k.delivery_id and l.status = 'sent')::int as sent_rows,
             (select count(*) from delivery_logs l where l.delivery_id = k.delivery_id and l.status = 'failed')::int as failed_rows
      from delivery_kpi_totals k where k.delivery_id in (1, 2) order by k.delivery_id`;
    return {
      events,
      seconds: Math.round(wall * 100) / 100,
      eventsPerSecond: Math.round(events / wall),
      p99JobMs: percentile(durations, 0.99),
      medianJobMs: percentile(durations, 0.5),
      failedJobs: jobCount - done.length,
      recountEqual: recount.every((r) => r.delivered === r.sent_rows && r.failed === r.failed_rows),
      cpu,
      postgres,
    };
  } finally {
    await queue.close();
    if (!inWorld) await world.close();
  }
}

const STATUS: Record<string, string> = { delivered: 'sent', hard_bounce: 'failed', soft_bounce: 'pending' };

/** One transaction of the limit: the rows updated and the events inserted, each by one set-based statement. */
async function bareTransaction(sql: postgres.Sql, events: Ev[], now: Date) {
  const rows = new Map<string, Ev & { deliveryId: number; seq: number }>();
  for (const e of events) {
    const [, seq, deliveryId] = e.messageId.split('.');
    rows.set(`${deliveryId}:${seq}`, { ...e, deliveryId: Number(deliveryId), seq: Number(seq) });
  }
  // Locked in one order (as the worker does), so concurrent transactions never deadlock.
  const list = [...rows.values()].sort((a, b) => a.deliveryId - b.deliveryId || a.seq - b.seq);
  const sorted = [...new Map(events.map((e) => [e.eventId, e])).values()].sort((a, b) =>
    a.eventId < b.eventId ? -1 : 1,
  );
  await sql.begin(async (tx) => {
    await tx`
      update delivery_logs l set status = u.status::log_status, outcome_attempt = 1, outcome_kind = u.kind,
        outcome_at = u.at, outcome_event_id = u.event_id, updated_at = ${now}
      from unnest(${list.map((r) => r.deliveryId)}::bigint[], ${list.map((r) => r.seq)}::int[],
        ${list.map((r) => STATUS[r.type]!)}::text[], ${list.map((r) => r.type)}::text[],
        ${list.map((r) => r.occurredAt)}::timestamptz[], ${list.map((r) => r.eventId)}::text[])
        as u(delivery_id, seq, status, kind, at, event_id)
      where l.delivery_id = u.delivery_id and l.seq = u.seq`;
    await tx`
      insert into feedback_events (event_id, message_id, delivery_id, seq, attempt, type, occurred_at, smtp_code,
        enhanced_status, diagnostic, outcome, received_at)
      select u.*, 'applied', ${now}::timestamptz from unnest(
        ${sorted.map((e) => e.eventId)}::text[], ${sorted.map((e) => e.messageId)}::text[],
        ${sorted.map((e) => Number(e.messageId.split('.')[2]))}::bigint[],
        ${sorted.map((e) => Number(e.messageId.split('.')[1]))}::int[], ${sorted.map(() => 1)}::smallint[],
        ${sorted.map((e) => e.type)}::text[], ${sorted.map((e) => e.occurredAt)}::timestamptz[],
        ${sorted.map((e) => e.smtpCode ?? null) as number[]}::smallint[],
        ${sorted.map((e) => e.enhancedStatus ?? null) as string[]}::text[],
        ${sorted.map((e) => e.diagnostic ?? null) as string[]}::text[]) as u
      on conflict (delivery_id, event_id) do nothing`;
  });
}

/** The limit: the stream's events applied by bare SQL, `CONCURRENCY` transactions of 500 at once. */
async function limitRun(total: number): Promise<number> {
  const perDelivery = Math.round(total / 2);
  const world = await openBenchWorld('fb-limit', {}, { sqlMax: CONCURRENCY });
  const { sql } = world;
  try {
    await seed(sql, perDelivery);
    const chunks: Ev[][] = [];
    let events = 0;
    for (const job of jobs(perDelivery, total)) {
      events += job.length;
      for (let i = 0; i < job.length; i += TRANSACTION_EVENTS)
        chunks.push(job.slice(i, i + TRANSACTION_EVENTS));
    }
    let next = 0;
    const now = new Date();
    const started = performance.now();
    const writer = async () => {
      while (next < chunks.length) await bareTransaction(sql, chunks[next++]!, now);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, writer));
    return events / ((performance.now() - started) / 1000);
  } finally {
    await world.close();
  }
}

export async function benchFeedback(sizes: number[]): Promise<Record<string, unknown>> {
  const total = sizes[0] ?? 200_000;
  const runs: PipelineRun[] = [];
  const v = await interleave([
    ['limit', () => limitRun(total)],
    [
      'pipeline',
      async () => {
        const run = await pipelineRun(total);
        runs.push(run);
        return run.eventsPerSecond;
      },
    ],
  ]);
  const figure = rateFigure('feedback', 'events/s', v.pipeline, 'dbLimitEventsPerSecond', v.limit, {
    of: 'share',
    atLeast: 0.6,
  });
  return {
    events: total,
    eventsPerSecond: figure.value.median,
    dbLimitEventsPerSecond: figure.limit!.median,
    shareOfLimit: figure.share!.median,
    recountEqual: runs.every((r) => r.recountEqual),
    failedJobs: runs.reduce((n, r) => n + r.failedJobs, 0),
    p99JobMs: Math.max(...runs.map((r) => r.p99JobMs)),
    figures: [figure],
    ...machine(),
    settings: {
      jobEvents: JOB_EVENTS,
      feedbackConcurrency: CONCURRENCY,
      transactionEvents: TRANSACTION_EVENTS,
    },
    runs,
  };
}
