// Redis loses every key of the pipeline while it works: the reconciler puts the work back from PostgreSQL.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { reconciledJobsTotal } from '../shared/metrics';
import {
  aggregationQueue,
  dispatchQueue,
  feedbackQueue,
  finalizeQueue,
  jobIds,
  retryQueue,
} from '../shared/queues';
import { reconcileOnce } from '../workers/reconcile';
import { aggregationKind } from '../workers/reconcile/kinds';
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, deleteKeys, type TestEnv } from './helpers/env';
import { addOperator, createDelivery } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
let proc: PipelineProcess;
const env = { DISPATCH_BATCH_SIZE: '50', DISPATCH_CONCURRENCY: '2', RECONCILE_INTERVAL: '1s' };

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ WORKER_LOCK_DURATION: '2s', RETRY_SWEEP_INTERVAL: '1h' });
  t.env.MTA_URL = mta.url;
  await addOperator(t, 'alice');
  proc = await startPipeline(t, { env });
});

afterAll(async () => {
  await proc.stop();
  await mta.close();
  await t.cleanup();
});

beforeEach(() => {
  mta.received.length = 0;
  mta.setDelay(0);
  mta.setPolicy(() => undefined);
});

/** What the reconciler put back so far in this process, by kind (campaign_reconciled_jobs_total). */
const reconciled = async (kind: string) =>
  (await reconciledJobsTotal.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;

const status = async (id: string) =>
  (await cli(t.env, 'status', id, '--json')).json<Record<string, number | string>>();

/** Every address of the delivery reached, each always under one message id; the logs once per recipient. */
async function expectReachedOnce(id: string, count: number) {
  const ids = new Map<string, Set<string | null>>();
  for (const m of mta.received) ids.set(m.to[0]!, (ids.get(m.to[0]!) ?? new Set()).add(m.messageId));
  expect(ids.size).toBe(count);
  expect([...ids.values()].every((s) => s.size === 1)).toBe(true);
  const [logs] = await t.sql`
    select count(*)::int as rows, count(distinct seq)::int as seqs from delivery_logs where delivery_id = ${id}`;
  expect(logs).toEqual({ rows: count, seqs: count });
}

test('keys lost mid-send: the missing batches are re-enqueued, every recipient is reached and logged once', async () => {
  mta.setDelay(5);
  const id = await createDelivery(t, 600);
  await cli(t.env, 'confirm', id, '--as', 'alice');
  await waitFor(async () => mta.received.length >= 100, 30_000, 'the dispatch to be under way');
  await deleteKeys(t.prefix);
  mta.setDelay(0);
  await waitFor(async () => (await status(id)).state === 'sent', 60_000, 'sent after the loss');
  await expectReachedOnce(id, 600);
  expect(await status(id)).toMatchObject({ toSend: 600, sent: 600, delivered: 600 });
  expect(await reconciled('dispatch')).toBeGreaterThan(0);
  // Nothing is missing any more: a pass now finds every job where PostgreSQL expects it.
  expect(await proc.reconcile()).toEqual({});
});

test('keys lost while a delivery waits for its contact date: it still starts at that date', async () => {
  const contactDate = new Date(Date.now() + 4000);
  const id = await createDelivery(t, 20, '--contact-date', contactDate.toISOString());
  await cli(t.env, 'confirm', id, '--as', 'alice');
  await waitFor(async () => (await status(id)).state === 'scheduled', 10_000, 'scheduled');
  await deleteKeys(t.prefix);
  // The start comes back as the delayed job it was: nothing is sent before the contact date.
  const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  const start = new Queue('delivery-start', { connection, prefix: t.prefix });
  try {
    await waitFor(
      async () => (await start.getJobState(jobIds.start(id))) !== 'unknown',
      10_000,
      'the start restored',
    );
  } finally {
    await start.close();
    connection.disconnect();
  }
  await waitFor(async () => (await status(id)).state === 'sent', 30_000, 'sent at its contact date');
  const [row] = await t.sql`select sending_at from deliveries where id = ${id}`;
  expect(row!.sending_at.getTime()).toBeGreaterThanOrEqual(contactDate.getTime() - 1000);
  await expectReachedOnce(id, 20);
  expect(await reconciled('start')).toBe(1);
});

test('keys lost while soft bounces wait for their retry and the validity end: both still happen', async () => {
  const id = await createDelivery(t, 30, '--retry-interval', '3s', '--validity', '8s');
  await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
  const soft = await t.sql`select message_id from delivery_logs where delivery_id = ${id} and seq < 5`;
  const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  const feedback = new Queue(feedbackQueue.name, { connection, prefix: t.prefix });
  try {
    const events = soft.map((r, i) => ({
      eventId: `soft-${id}-${i}`,
      messageId: r.message_id,
      type: 'soft_bounce',
      occurredAt: new Date().toISOString(),
      smtpCode: 452,
      enhancedStatus: '4.2.2',
    }));
    await feedback.add('fb', { events });
  } finally {
    await feedback.close();
    connection.disconnect();
  }
  const waiting = async () =>
    (
      await t.sql`select count(*)::int as n from delivery_logs where delivery_id = ${id} and retry_at is not null`
    )[0]!.n as number;
  await waitFor(async () => (await waiting()) === 5, 10_000, 'five retries scheduled');
  await deleteKeys(t.prefix);

  await waitFor(
    async () => {
      const [r] =
        await t.sql`select count(*)::int as n from delivery_logs where delivery_id = ${id} and attempts = 2`;
      return r!.n === 5;
    },
    30_000,
    'the five retries handed over',
  );
  await waitFor(async () => (await status(id)).state === 'finished', 30_000, 'finished at the validity end');
  // 30 first attempts and 5 retries, each handed over once.
  expect(mta.received).toHaveLength(35);
  expect(new Set(mta.received.map((m) => m.messageId)).size).toBe(35);
  // Without EFS, a retry's hand-off keeps its status; no feedback came, so the validity end leaves them sent.
  expect(await status(id)).toMatchObject({ sent: 30 });
  expect(await reconciled('finalize')).toBeGreaterThanOrEqual(1);
});

test('job schedulers lost with the keys are upserted again', async () => {
  const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  const retry = new Queue(retryQueue.name, { connection, prefix: t.prefix });
  try {
    await waitFor(async () => retry.getJobScheduler('retry-sweep'), 10_000, 'the sweep scheduler');
    await deleteKeys(t.prefix);
    // This pass restores both schedulers, unless the process's own 1 s timer ran its pass between the
    // loss and this one (a loaded machine): then that pass restored them and this one finds nothing.
    const restored = (await proc.reconcile()).scheduler ?? 0;
    expect([0, 2]).toContain(restored);
    expect(await retry.getJobScheduler('retry-sweep')).toBeDefined();
    // Restored once: another pass finds both in place.
    expect((await proc.reconcile()).scheduler ?? 0).toBe(0);
  } finally {
    await retry.close();
    connection.disconnect();
  }
});

test('a finished batch or delivery whose job is added again is a no-op, by the database state', async () => {
  const id = await createDelivery(t, 10);
  await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
  const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  const dispatch = new Queue(dispatchQueue.name, { connection, prefix: t.prefix });
  const finalize = new Queue(finalizeQueue.name, { connection, prefix: t.prefix });
  try {
    // Completed and removed (as removeOnComplete does after a while), then added again under its id.
    await deleteKeys(t.prefix);
    const again = await dispatch.add(
      'batch',
      { deliveryId: id, batch: 0 },
      { ...dispatchQueue.jobOptions, jobId: jobIds.dispatch(id, 0) },
    );
    await waitFor(async () => (await again.getState()) === 'completed', 10_000, 'the re-added batch');
    expect((await dispatch.getJob(again.id!))?.returnvalue).toEqual({ skipped: 'sent' });
  } finally {
    await dispatch.close();
    await finalize.close();
    connection.disconnect();
  }
  expect(mta.received).toHaveLength(10);
});

test('an aggregation tick whose job was lost is put back once, and not after its run started', async () => {
  const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  // A queue of its own, with no worker: the job stays where the pass put it.
  const prefix = `${t.prefix}-agg`;
  const queue = new Queue(aggregationQueue.name, { connection, prefix });
  const kinds = [aggregationKind(t.sql, queue, '0 * * * * *', new Date(0), 0)];
  const deps = { redis: connection, kinds, schedulers: [] };
  const now = new Date('2026-11-24T10:15:30Z');
  const tick = new Date('2026-11-24T10:15:00Z');
  try {
    expect(await reconcileOnce(deps, now)).toEqual({ aggregation: 1 });
    expect(await queue.getJobState(jobIds.aggregation(tick))).toBe('waiting');
    // The job exists: a second pass adds nothing.
    expect(await reconcileOnce(deps, now)).toEqual({});
    // Gone again, but its run has started (its row exists): nothing to put back.
    await deleteKeys(prefix);
    await t.sql`insert into aggregation_runs (scheduled_at) values (${tick})`;
    expect(await reconcileOnce(deps, now)).toEqual({});
    // A tick from before the process started is no loss: the next run reads everything since then.
    const late = [aggregationKind(t.sql, queue, '0 * * * * *', new Date('2026-11-24T10:16:05Z'), 0)];
    expect(await reconcileOnce({ ...deps, kinds: late }, new Date('2026-11-24T10:16:30Z'))).toEqual({});
  } finally {
    await t.sql`delete from aggregation_runs where scheduled_at = ${tick}`;
    await queue.close();
    await deleteKeys(prefix);
    connection.disconnect();
  }
});

test('a finalization that must wait for a sending delivery waits under its own id, so it is not taken for lost', async () => {
  const id = await createDelivery(t, 3);
  // Its validity ended a moment ago while it is still sending: the finalization waits (an hour's grace).
  await t.sql`update deliveries set state = 'sending', valid_until = now() - interval '1 second' where id = ${id}`;
  const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  const finalize = new Queue(finalizeQueue.name, { connection, prefix: t.prefix });
  try {
    await finalize.add(
      'finalize',
      { deliveryId: id },
      { ...finalizeQueue.jobOptions, jobId: jobIds.finalize(id) },
    );
    await waitFor(
      async () => (await finalize.getJobState(jobIds.finalize(id))) === 'delayed',
      10_000,
      'the finalization postponed',
    );
    expect((await proc.reconcile()).finalize).toBeUndefined();
    expect((await t.sql`select state from deliveries where id = ${id}`)[0]!.state).toBe('sending');
  } finally {
    await t.sql`update deliveries set state = 'stopped' where id = ${id}`;
    await finalize.close();
    connection.disconnect();
  }
});
