// Soft-bounce retries bounded by the validity period, and its end (retry interval and validity in seconds).
import { feedbackQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, confirmedDelivery, createDelivery } from './helpers/fixtures';
import { jobOutcome, startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
let producer: ReturnType<typeof testQueue>;
let n = 0;

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ RETRY_SWEEP_INTERVAL: '1s' });
  t.env.MTA_URL = mta.url;
  producer = testQueue(t, feedbackQueue.name);
  await addOperator(t, 'alice');
});

afterAll(async () => {
  await producer.close();
  await mta.close();
  await t.cleanup();
});

beforeEach(() => {
  mta.received.length = 0;
});

interface Tile {
  state: string;
  delivered: number;
  bouncesAndErrors: number;
  deliveredRate: number;
  bouncesAndErrorsRate: number;
}
const status = async (id: string) => (await cli(t.env, 'status', id, '--json')).json<Tile>();
const row = async (id: string, seq = 0) =>
  (
    await t.sql`select status, attempts, message_id, retry_at, failure_type from delivery_logs where delivery_id = ${id} and seq = ${seq}`
  )[0]!;

async function feed(type: 'delivered' | 'soft_bounce' | 'hard_bounce', messageId: string) {
  const event = {
    eventId: `r-${++n}`,
    messageId,
    type,
    occurredAt: new Date().toISOString(),
    ...(type === 'soft_bounce' ? { smtpCode: 452, enhancedStatus: '4.2.2' } : {}),
  };
  const job = await producer.queue.add('fb', { events: [event] });
  return jobOutcome(producer.queue, job.id!);
}

const sent = (count: number, ...options: string[]) => confirmedDelivery(t, count, ...options);

test('with EFS: a soft bounce is retried as attempt 2 with a new message id, whose delivery turns failed into sent', async () => {
  const pipeline = await startPipeline(t, { env: { MTA_URL: mta.url } });
  try {
    const id = await sent(2, '--efs', '--retry-interval', '1s', '--validity', '1h');
    const first = await row(id);
    await feed('soft_bounce', first.message_id);
    expect(await status(id)).toMatchObject({ delivered: 0, bouncesAndErrors: 1 });
    const retried = await waitFor(
      async () => {
        const r = await row(id);
        return r.attempts === 2 ? r : null;
      },
      15_000,
      'the retry',
    );
    expect(retried.status).toBe('failed'); // The retry's hand-off changes nothing; its feedback will.
    expect(retried.message_id).toMatch(/^2\.0\./);
    const toR0 = mta.received.filter((m) => m.to[0] === 'r0@example.test').map((m) => m.messageId);
    expect(toR0).toEqual([first.message_id, retried.message_id]);
    await feed('delivered', retried.message_id);
    expect(await status(id)).toMatchObject({ delivered: 1, bouncesAndErrors: 0 });
  } finally {
    await pipeline.stop();
  }
});

test('without EFS: retries that keep failing become failed when the validity period ends (delivered % goes down)', async () => {
  const pipeline = await startPipeline(t, { env: { MTA_URL: mta.url } });
  try {
    // Interval 2s, validity 5s: the first retry falls within the validity, the second would not.
    const id = await sent(2, '--retry-interval', '2s', '--validity', '5s');
    await feed('soft_bounce', (await row(id)).message_id);
    expect(await status(id)).toMatchObject({ delivered: 2, bouncesAndErrors: 0 });
    const retried = await waitFor(
      async () => ((await row(id)).attempts === 2 ? row(id) : null),
      15_000,
      'the retry',
    );
    await feed('soft_bounce', retried.message_id);
    await waitFor(async () => (await status(id)).state === 'finished', 20_000, 'finished');
    expect(await status(id)).toMatchObject({
      delivered: 1,
      deliveredRate: 0.5,
      bouncesAndErrors: 1,
      bouncesAndErrorsRate: 0.5,
    });
    expect(await row(id)).toMatchObject({ status: 'failed', retry_at: null });
    expect(await row(id, 1)).toMatchObject({ status: 'sent' }); // No bounce: stays as it is.
  } finally {
    await pipeline.stop();
  }
});

test('no attempt is handed over after the validity end, even when the retry worker was down until then', async () => {
  const noRetry = await startPipeline(t, {
    env: { MTA_URL: mta.url },
    roles: ['confirm', 'dispatch', 'feedback'],
  });
  let id: string;
  try {
    id = await sent(1, '--retry-interval', '1s', '--validity', '3s');
    await feed('soft_bounce', (await row(id)).message_id);
  } finally {
    await noRetry.stop();
  }
  const [d] = await t.sql`select valid_until from deliveries where id = ${id}`;
  await waitFor(async () => Date.now() > d!.valid_until.getTime() + 500, 10_000, 'the validity end');
  mta.received.length = 0;
  const pipeline = await startPipeline(t, { env: { MTA_URL: mta.url } });
  try {
    await waitFor(async () => (await status(id)).state === 'finished', 20_000, 'finished');
    expect(mta.received).toHaveLength(0);
    expect(await row(id)).toMatchObject({ status: 'failed', attempts: 1, retry_at: null });
  } finally {
    await pipeline.stop();
  }
});

test('a restart of every process between a soft bounce and its retry loses nothing', async () => {
  const before = await startPipeline(t, {
    env: { MTA_URL: mta.url },
    roles: ['confirm', 'dispatch', 'feedback'],
  });
  let id: string;
  try {
    id = await sent(1, '--efs', '--retry-interval', '2s', '--validity', '1h');
    await feed('soft_bounce', (await row(id)).message_id);
  } finally {
    await before.stop();
  }
  const after = await startPipeline(t, { env: { MTA_URL: mta.url } });
  try {
    await waitFor(async () => (await row(id)).attempts === 2, 20_000, 'the retry after the restart');
    expect(mta.received.filter((m) => m.messageId?.startsWith('2.'))).toHaveLength(1);
  } finally {
    await after.stop();
  }
});

test('the finalization running twice changes nothing', async () => {
  const pipeline = await startPipeline(t, { env: { MTA_URL: mta.url } });
  try {
    const id = await sent(3, '--retry-interval', '1h', '--validity', '2s');
    await feed('soft_bounce', (await row(id)).message_id);
    await waitFor(async () => (await status(id)).state === 'finished', 20_000, 'finished');
    const once = await status(id);
    const { finalizeDelivery } = await import('../db/retry');
    expect(await finalizeDelivery(t.sql, id, new Date())).toBe('done');
    expect(await status(id)).toEqual(once);
    expect(once).toMatchObject({ delivered: 2, bouncesAndErrors: 1 });
  } finally {
    await pipeline.stop();
  }
});

test('a delivery whose dispatch gave up is still finished an hour after its validity end, unsent messages failed', async () => {
  const id = await createDelivery(t, 4);
  // As if confirmed long ago and its dispatch had logged one message, then given up for good.
  await t.sql`update deliveries set state = 'sending', confirmed_at = now() - interval '3 hours',
    valid_until = now() - interval '2 hours', batch_size = 1000, batches_total = 1 where id = ${id}`;
  await t.sql`insert into delivery_logs (delivery_id, seq, email, status, message_id)
    values (${id}, 0, 'r0@example.test', 'sent', ${`1.0.${id}.abcdef@localhost`})`;
  await t.sql`update delivery_kpis set sent = 1, delivered = 1 where delivery_id = ${id}`;
  const { finalizeDelivery } = await import('../db/retry');
  expect(await finalizeDelivery(t.sql, id, new Date())).toEqual({ failed: 0 });
  expect(await status(id)).toMatchObject({ state: 'finished', delivered: 1, bouncesAndErrors: 3 });
  const rows =
    await t.sql`select status, failure_reason from delivery_logs where delivery_id = ${id} and seq > 0`;
  expect(rows.every((r) => r.status === 'failed' && r.failure_reason === 'validity period over')).toBe(true);
});

test('a retry holds no row lock while the MTA takes its time: the row can be locked, and the retry is recorded after', async () => {
  const pipeline = await startPipeline(t, { env: { MTA_URL: mta.url } });
  try {
    const id = await sent(1, '--efs', '--retry-interval', '1s', '--validity', '1h');
    const first = await row(id);
    mta.setDelay(3000);
    await feed('soft_bounce', first.message_id);
    // Claimed: the retry's time has moved to its lease, while the attempt is still the first.
    await waitFor(
      async () => {
        const r = await row(id);
        return r.attempts === 1 && r.retry_at && r.retry_at.getTime() > Date.now() + 30_000 ? r : null;
      },
      15_000,
      'the claim of the retry',
    );
    // While the message is at the MTA, nobody holds the row: a lock that refuses to wait is granted.
    await t.sql.begin(
      async (tx) => tx`select 1 from delivery_logs where delivery_id = ${id} and seq = 0 for update nowait`,
    );
    const retried = await waitFor(
      async () => {
        const r = await row(id);
        return r.attempts === 2 ? r : null;
      },
      15_000,
      'the retry',
    );
    expect(retried.message_id).toMatch(/^2\.0\./);
    expect(retried.retry_at).toBeNull();
  } finally {
    mta.setDelay(0);
    await pipeline.stop();
  }
});
