// The exporter: the shared figures read from the source of truth, bounded labels, the cache, promtool's rules.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../shared/config';
import { confirmQueue, feedbackQueue, queues } from '../shared/queues';
import { type Exporter, startExporter } from '../workers/servers/metrics';
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { debianTool, promtoolCheckMetrics, sample, samples, scrape } from './helpers/exposition';
import { addOperator, createDelivery } from './helpers/fixtures';
import { jobOutcome, startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let redis: Redis;

beforeAll(async () => {
  t = await createTestEnv();
  redis = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  redis.disconnect();
  await t.cleanup();
});

/** An exporter on the test's database and prefix, outside any pipeline, with its own settings. */
function exporter(env: Record<string, string> = {}): Exporter {
  return startExporter({
    sql: t.sql,
    redis,
    config: loadConfig({ ...t.env, ...env }),
    log: pino({ level: 'silent' }),
    now: () => new Date(),
  });
}

/** A delivery written straight into the tables, in a state and with counters of the test's choosing. */
async function insertDelivery(
  state: string,
  counters: { toSend: number; sent: number; delivered: number; failed: number },
  validUntil = new Date(Date.now() + 3600_000),
): Promise<string> {
  const [d] = await t.sql`
    insert into deliveries (label, state, validity_seconds, retry_interval_seconds, valid_until, sender, subject, token, to_send)
    values ('m', ${state}, 3600, 600, ${validUntil}, 'news@example.test', 's', 'tok', ${counters.toSend})
    returning id`;
  await t.sql`insert into delivery_kpis (delivery_id, sent, delivered, failed)
    values (${d!.id}, ${counters.sent}, ${counters.delivered}, ${counters.failed})`;
  return String(d!.id);
}

describe('the shared figures, read from PostgreSQL and Redis', () => {
  let e: Exporter;
  let text: string;
  let running: string[];
  beforeAll(async () => {
    running = [
      await insertDelivery('sending', { toSend: 10, sent: 4, delivered: 3, failed: 1 }),
      await insertDelivery('sent', { toSend: 10, sent: 10, delivered: 5, failed: 2 }),
      await insertDelivery('sent', { toSend: 8, sent: 8, delivered: 8, failed: 0 }),
    ];
    await insertDelivery('finished', { toSend: 5, sent: 5, delivered: 5, failed: 0 });
    // Sent, but its validity period is over: no per-delivery series.
    await insertDelivery(
      'sent',
      { toSend: 1, sent: 1, delivered: 1, failed: 0 },
      new Date(Date.now() - 1000),
    );
    await t.sql`insert into quarantine (email, quarantined_at, reason) values
      ('q1@example.test', now(), 'user unknown'), ('q2@example.test', now(), 'refused')`;
    await t.sql`insert into quarantine (email, error_count) values ('counting@example.test', 2)`;
    await t.sql`insert into dead_letters (queue, reason, payload) values
      ('mta-feedback', 'invalid event: type must be one of delivered', '{}'),
      ('mta-feedback', 'invalid event: occurredAt is missing', '{}'),
      ('mta-feedback', 'unknown message: "x@y" is not a message id of this system', '{}'),
      ('delivery-confirm', 'invalid payload: deliveryId is missing', '{}'),
      ('some-queue-of-the-past', 'something free-form about someone@example.test', '{}')`;
    await t.sql`insert into dead_letters (queue, reason, payload, replayed_at)
      values ('mta-feedback', 'invalid event: replayed', '{}', now())`;
    const confirm = new Queue(confirmQueue.name, { connection: redis, prefix: t.prefix });
    await confirm.add('c', { deliveryId: '1', operator: 'nobody' });
    await confirm.close();
    e = exporter({ METRICS_MAX_DELIVERIES: '2' });
    text = await e.registry.metrics();
  });
  afterAll(() => e.close());

  test('deliveries by state, every state present', () => {
    expect(sample(text, 'campaign_deliveries', { state: 'sending' })).toBe(1);
    expect(sample(text, 'campaign_deliveries', { state: 'sent' })).toBe(3);
    expect(sample(text, 'campaign_deliveries', { state: 'finished' })).toBe(1);
    expect(sample(text, 'campaign_deliveries', { state: 'prepared' })).toBe(0);
  });

  test('messages by log status and channel, from the KPI counters', () => {
    // sent 28 = delivered 22 + failed 3 + pending 3
    expect(sample(text, 'campaign_messages', { status: 'sent', channel: 'email' })).toBe(22);
    expect(sample(text, 'campaign_messages', { status: 'failed', channel: 'email' })).toBe(3);
    expect(sample(text, 'campaign_messages', { status: 'pending', channel: 'email' })).toBe(3);
  });

  test('per-delivery KPIs for the newest deliveries within validity, at most METRICS_MAX_DELIVERIES', () => {
    const ids = samples(text, 'campaign_delivery_delivered_ratio').map((s) => s.labels.delivery_id);
    expect(ids.sort()).toEqual([running[1], running[2]].sort());
    expect(sample(text, 'campaign_delivery_delivered_ratio', { delivery_id: running[1]! })).toBe(0.5);
    expect(sample(text, 'campaign_delivery_bounces_errors_ratio', { delivery_id: running[1]! })).toBe(0.2);
    expect(sample(text, 'campaign_delivery_messages_to_send', { delivery_id: running[2]! })).toBe(8);
    expect(sample(text, 'campaign_delivery_progress_ratio', { delivery_id: running[2]! })).toBe(1);
    expect(sample(text, 'campaign_delivery_series_omitted')).toBe(1);
  });

  test('quarantine size counts quarantined addresses only', () => {
    expect(sample(text, 'campaign_quarantined_addresses')).toBe(2);
  });

  test('dead letters by queue and kind of reason: bounded labels, never free text', () => {
    expect(sample(text, 'campaign_dead_letters', { queue: 'mta-feedback', reason: 'invalid_event' })).toBe(2);
    expect(sample(text, 'campaign_dead_letters', { queue: 'mta-feedback', reason: 'unknown_message' })).toBe(
      1,
    );
    expect(
      sample(text, 'campaign_dead_letters', { queue: 'delivery-confirm', reason: 'invalid_payload' }),
    ).toBe(1);
    expect(sample(text, 'campaign_dead_letters', { queue: 'other', reason: 'other' })).toBe(1);
    expect(text).not.toContain('@');
  });

  test('jobs of every declared queue by state', () => {
    for (const q of queues)
      for (const state of ['waiting', 'active', 'delayed', 'failed', 'completed'])
        expect(sample(text, 'campaign_queue_jobs', { queue: q.name, state })).toBeDefined();
    expect(sample(text, 'campaign_queue_jobs', { queue: confirmQueue.name, state: 'waiting' })).toBe(1);
  });

  test('the last successful aggregation has no sample until its row exists', async () => {
    expect(text).toContain('# TYPE campaign_kpi_aggregation_last_success_timestamp_seconds gauge');
    expect(samples(text, 'campaign_kpi_aggregation_last_success_timestamp_seconds')).toEqual([]);
    await t.sql`insert into pipeline_state (key, value)
      values ('tracking-aggregation', ${t.sql.json({ lastSuccessAt: '2026-11-24T10:00:00.000Z', watermark: 5 })})`;
    const fresh = exporter();
    try {
      const now = await fresh.registry.metrics();
      expect(sample(now, 'campaign_kpi_aggregation_last_success_timestamp_seconds')).toBe(
        Date.parse('2026-11-24T10:00:00Z') / 1000,
      );
    } finally {
      await fresh.close();
    }
  });
});

test('a second scrape within METRICS_CACHE_TTL is served from the cache: no read of PostgreSQL or Redis', async () => {
  const e = exporter({ METRICS_CACHE_TTL: '1h' });
  try {
    const first = await e.registry.metrics();
    const before = sample(first, 'campaign_deliveries', { state: 'prepared' })!;
    await insertDelivery('prepared', { toSend: 1, sent: 0, delivered: 0, failed: 0 });
    const second = await e.registry.metrics();
    expect(sample(second, 'campaign_deliveries', { state: 'prepared' })).toBe(before);
    for (const source of ['postgres', 'redis'])
      expect(sample(second, 'campaign_metrics_reads_total', { source, outcome: 'ok' })).toBe(1);
  } finally {
    await e.close();
  }
});

describe('a pipeline process', () => {
  let mta: TestMta;
  let pipeline: PipelineProcess;
  let producer: ReturnType<typeof testQueue>;
  beforeAll(async () => {
    mta = await startTestMta();
    pipeline = await startPipeline(t, { env: { MTA_URL: mta.url } });
    producer = testQueue(t, feedbackQueue.name);
    await addOperator(t, 'alice');
  });
  afterAll(async () => {
    await producer.close();
    await pipeline.stop();
    await mta.close();
  });

  test('serves its own counters and the shared figures, which promtool check metrics accepts', async () => {
    const id = await createDelivery(t, 3, '--efs');
    expect((await cli(t.env, 'confirm', id, '--as', 'alice', '--wait')).code).toBe(0);
    const [log] =
      await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq limit 1`;
    const before = await scrape(pipeline.port());
    const applied = { type: 'delivered', outcome: 'applied' };
    const job = await producer.queue.add('fb', {
      events: [
        { eventId: 'm-1', messageId: log!.message_id, type: 'delivered', occurredAt: '2026-11-24T10:00:00Z' },
        { eventId: 'm-2', messageId: 'nobody', type: 'bounced', occurredAt: '2026-11-24T10:00:00Z' },
      ],
    });
    await jobOutcome(producer.queue, job.id!);
    const text = await scrape(pipeline.port());
    const count = (t: string, labels: Record<string, string>) =>
      sample(t, 'campaign_feedback_events_total', labels) ?? 0;
    expect(count(text, applied) - count(before, applied)).toBe(1);
    const invalid = { type: 'invalid', outcome: 'invalid' };
    expect(count(text, invalid) - count(before, invalid)).toBe(1);
    expect(
      sample(text, 'campaign_job_duration_seconds_count', { queue: feedbackQueue.name, status: 'completed' }),
    ).toBeGreaterThan(0);
    expect(sample(text, 'campaign_delivery_messages_sent', { delivery_id: id })).toBe(3);
    expect(sample(text, 'campaign_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).not.toContain('@');

    const promtool = debianTool('promtool');
    if (!promtool) {
      console.warn('promtool is not installed (apt-get install prometheus): metric names not checked by it');
      return;
    }
    expect(await promtoolCheckMetrics(promtool, text)).toEqual({ code: 0, output: '' });
  });

  test('counts retries scheduled and sent, and those still waiting when the validity period ends', async () => {
    const softBounce = async (messageId: string, eventId: string) => {
      const job = await producer.queue.add('fb', {
        events: [
          { eventId, messageId, type: 'soft_bounce', occurredAt: new Date().toISOString(), smtpCode: 452 },
        ],
      });
      await jobOutcome(producer.queue, job.id!);
    };
    const firstMessage = async (id: string) =>
      (await t.sql`select message_id from delivery_logs where delivery_id = ${id} and seq = 0`)[0]!
        .message_id as string;
    const count = async (name: string) => sample(await scrape(pipeline.port()), name) ?? 0;
    const before = {
      scheduled: await count('campaign_retries_scheduled_total'),
      sent: await count('campaign_retries_sent_total'),
      expired: await count('campaign_retries_expired_total'),
    };
    // Retried a second later, within its validity period.
    const retried = await createDelivery(t, 1, '--retry-interval', '1s', '--validity', '1h');
    expect((await cli(t.env, 'confirm', retried, '--as', 'alice', '--wait')).code).toBe(0);
    // Its retry would fall after its validity end: none is scheduled, and the end makes it final.
    const expiring = await createDelivery(t, 1, '--retry-interval', '1h', '--validity', '3s');
    expect((await cli(t.env, 'confirm', expiring, '--as', 'alice', '--wait')).code).toBe(0);
    await softBounce(await firstMessage(retried), 'retry-1');
    await softBounce(await firstMessage(expiring), 'retry-2');
    await waitFor(
      async () => (await count('campaign_retries_sent_total')) > before.sent,
      20_000,
      'the retry',
    );
    await waitFor(
      async () => (await count('campaign_retries_expired_total')) > before.expired,
      20_000,
      'the validity end',
    );
    expect((await count('campaign_retries_scheduled_total')) - before.scheduled).toBe(1);
    expect((await count('campaign_retries_sent_total')) - before.sent).toBe(1);
    expect((await count('campaign_retries_expired_total')) - before.expired).toBe(1);
  });
});
