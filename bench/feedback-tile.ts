// `npm run bench -- feedback-tile [eventsPerSecond] [seconds]`: what a user feels after an MTA event: the time
// from a probe event's job on mta-feedback to the delivery's tile (`campaign status`'s read, deliveryStatus,
// which /deliveries/ID.json serves) counting it, p50 and p99, while 20,000 events/s of other feedback load
// the same queue (`feedbackToTileP99Ms`).

import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import pino from 'pino';
import type postgres from 'postgres';
import { deliveryStatus } from '../db/delivery-status';
import { feedbackQueue } from '../shared/queues';
import { startProcess } from '../workers/start/process';
import { cpuSnapshot, cpuSplit } from './cpu';
import { JOB_EVENTS, jobs, seed, TOKEN } from './feedback-stream';
import { latencyFigure, machine, percentile, spreadOf } from './limits';
import { openBenchWorld } from './world';

const PROBE_DELIVERY = 3;
const PROBES = 2000;
/** A probe every this many ms at most (one at a time, so each is read alone). */
const PROBE_EVERY_MS = 150;
const POLL_MS = 5;

/** The probe delivery: EFS, sent, its messages pending until the MTA confirms them. */
async function seedProbes(sql: postgres.Sql) {
  await sql`
    insert into deliveries (id, label, state, efs, validity_seconds, retry_interval_seconds, sender, subject, token,
      to_send, valid_until, confirmed_at, sending_at, sent_at)
    values (${PROBE_DELIVERY}, 'bench probes', 'sent', true, 259200, 3600, 'bench@bench.test', 's', ${TOKEN},
      ${PROBES}, now() + interval '3 days', now(), now(), now())`;
  await sql`
    insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, handed_off_at, updated_at)
    select ${PROBE_DELIVERY}, g, 'probe' || g || '@bench.test', 'pending', 1,
           '1.' || g || '.' || ${PROBE_DELIVERY} || '.' || ${TOKEN} || '@bench.test', now(), now()
    from generate_series(0, ${PROBES - 1}) g`;
  await sql`insert into delivery_kpis (delivery_id, sent) values (${PROBE_DELIVERY}, ${PROBES})`;
}

export async function benchFeedbackTile(sizes: number[]): Promise<Record<string, unknown>> {
  const rate = sizes[0] ?? 20_000;
  const seconds = sizes[1] ?? 30;
  const total = rate * seconds;
  const perDelivery = Math.round(total / 2);
  const world = await openBenchWorld('tile', {
    FEEDBACK_CONCURRENCY: process.env.FEEDBACK_CONCURRENCY ?? '4',
  });
  const { sql, config } = world;
  const queue = new Queue(feedbackQueue.name, { connection: world.redis, prefix: config.QUEUE_PREFIX });
  try {
    await seed(sql, perDelivery);
    await seedProbes(sql);
    const loadJobs = [...jobs(perDelivery, total)];
    const proc = await startProcess(['feedback'], config, pino({ level: 'warn' }, pino.destination(2)));
    await proc.ready;
    const cpuBefore = cpuSnapshot();
    const started = performance.now();
    let sent = 0;
    let loading = true;
    // The load: a job of 1,000 events every 1000 / (rate / 1,000) ms, on a fixed schedule (catching up if late).
    const load = (async () => {
      for (let i = 0; i < loadJobs.length; i++) {
        const due = started + (i * JOB_EVENTS * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        await queue.add('fb', { events: loadJobs[i]! }, feedbackQueue.jobOptions);
        sent += loadJobs[i]!.length;
      }
      loading = false;
    })();
    const latencies: number[] = [];
    await sleep(2000); // past the start-up, into the steady load
    for (let seq = 0; loading && seq < PROBES; seq++) {
      const at = performance.now();
      const event = {
        eventId: `probe-${seq}`,
        messageId: `1.${seq}.${PROBE_DELIVERY}.${TOKEN}@bench.test`,
        type: 'delivered',
        occurredAt: new Date().toISOString(),
      };
      await queue.add('fb', { events: [event] }, feedbackQueue.jobOptions);
      for (;;) {
        const status = await deliveryStatus(sql, String(PROBE_DELIVERY));
        if ((status?.delivered ?? 0) > seq) break;
        await sleep(POLL_MS);
      }
      const ms = performance.now() - at;
      latencies.push(ms);
      if (ms < PROBE_EVERY_MS) await sleep(PROBE_EVERY_MS - ms);
    }
    await load;
    const loadSeconds = (performance.now() - started) / 1000;
    const backlog = await queue.getJobCounts('waiting', 'active', 'completed');
    // Load jobs done while it ran (probes are one event each and left out): what the worker kept up with.
    const applied = Math.max(0, (backlog.completed ?? 0) - latencies.length) * JOB_EVENTS;
    const cpu = cpuSplit(cpuBefore, cpuSnapshot(), loadSeconds);
    await proc.stop();
    const p50 = percentile(latencies, 0.5);
    const p99 = percentile(latencies, 0.99);
    const figures = [
      latencyFigure(`MTA event → tile, p50 (${rate.toLocaleString('en')} events/s load)`, [p50]),
      latencyFigure(
        `MTA event → tile, p99 (${rate.toLocaleString('en')} events/s load)`,
        [p99],
        rate >= 20_000 ? { of: 'value', atMost: 1000 } : undefined,
      ),
    ];
    return {
      targetEventsPerSecond: rate,
      offeredEventsPerSecond: Math.round(sent / loadSeconds),
      appliedEventsPerSecond: Math.round(applied / loadSeconds),
      seconds: Math.round(loadSeconds * 10) / 10,
      probes: latencies.length,
      feedbackToTileP50Ms: Math.round(p50),
      feedbackToTileP99Ms: Math.round(p99),
      latencyMs: { ...spreadOf(latencies), runs: undefined },
      backlogAtEnd: (backlog.waiting ?? 0) + (backlog.active ?? 0),
      cpu,
      figures,
      ...machine(),
      settings: { jobEvents: JOB_EVENTS, feedbackConcurrency: config.FEEDBACK_CONCURRENCY, pollMs: POLL_MS },
    };
  } finally {
    await queue.close();
    await world.close();
  }
}
