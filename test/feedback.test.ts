// MTA feedback through the real queue: DESIGN.md's two tables end to end, duplicates, order, dead letters.

import { messageToken } from '../shared/message-id';
import { feedbackQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import type { TestEnv } from './helpers/env';
import { createDelivery } from './helpers/fixtures';
import { jobOutcome, testQueue, waitFor } from './helpers/pipeline';
import { openTestWorld, type TestWorld } from './helpers/world';

let t: TestEnv;
let world: TestWorld;
let producer: ReturnType<typeof testQueue>;
let eventCounter = 0;

beforeAll(async () => {
  // Without the retry role: these tests look at what feedback records, before any retry runs.
  world = await openTestWorld({ roles: ['confirm', 'dispatch', 'feedback'] });
  t = world.t;
  producer = testQueue(t, feedbackQueue.name);
});

// Tests reuse addresses (r0@example.test…): one test's hard bounce must not quarantine the next one's.
beforeEach(async () => {
  await t.sql`delete from quarantine`;
});

afterAll(async () => {
  await producer.close();
  await world.close();
});

interface Tile {
  state: string;
  sent: number;
  delivered: number;
  deliveredRate: number;
  bouncesAndErrors: number;
  bouncesAndErrorsRate: number;
  complaints: number;
}
const status = async (id: string) => (await cli(t.env, 'status', id, '--json')).json<Tile>();

/** A sent delivery of `count` recipients; returns its id and each recipient's message id by seq. */
async function sentDelivery(count: number, efs: boolean): Promise<{ id: string; ids: string[] }> {
  const id = await createDelivery(t, count, ...(efs ? ['--efs'] : []));
  await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
  const rows = await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`;
  return { id, ids: rows.map((r) => r.message_id as string) };
}

type Event = Record<string, unknown>;
const delivered = (messageId: string, at = '2026-11-24T10:00:00Z'): Event => ({
  eventId: `e-${++eventCounter}`,
  messageId,
  type: 'delivered',
  occurredAt: at,
});
const hard = (messageId: string, at = '2026-11-24T10:00:00Z'): Event => ({
  eventId: `e-${++eventCounter}`,
  messageId,
  type: 'hard_bounce',
  occurredAt: at,
  smtpCode: 550,
  enhancedStatus: '5.1.1',
  diagnostic: '550 5.1.1 The email account that you tried to reach does not exist.',
});
const soft = (messageId: string, at = '2026-11-24T10:00:00Z'): Event => ({
  eventId: `e-${++eventCounter}`,
  messageId,
  type: 'soft_bounce',
  occurredAt: at,
  smtpCode: 452,
  enhancedStatus: '4.2.2',
  diagnostic: 'mailbox full',
});

async function feed(events: unknown[] | Record<string, unknown>) {
  const payload = Array.isArray(events) ? { events } : events;
  const job = await producer.queue.add('fb', payload, feedbackQueue.jobOptions);
  return jobOutcome(producer.queue, job.id!);
}

const log = async (id: string, seq: number) =>
  (
    await t.sql`select status, failure_type, failure_reason, retry_at from delivery_logs where delivery_id = ${id} and seq = ${seq}`
  )[0]!;

describe('without EFS (DESIGN.md, first table)', () => {
  let d: { id: string; ids: string[] };
  beforeAll(async () => {
    d = await sentDelivery(4, false);
  });

  test('message handed to the MTA: delivered % starts at 100 %, bounces + errors % at 0 %, log sent', async () => {
    expect(await status(d.id)).toMatchObject({ deliveredRate: 1, bouncesAndErrorsRate: 0 });
    expect((await log(d.id, 0)).status).toBe('sent');
  });

  test('delivered reported: without EFS nothing changes', async () => {
    expect((await feed([delivered(d.ids[0]!)])).value).toMatchObject({ applied: 1 });
    expect(await status(d.id)).toMatchObject({ deliveredRate: 1, bouncesAndErrorsRate: 0 });
  });

  test('hard bounce reported: delivered % goes down, bounces + errors % goes up, log failed', async () => {
    await feed([hard(d.ids[1]!)]);
    expect(await status(d.id)).toMatchObject({
      delivered: 3,
      deliveredRate: 0.75,
      bouncesAndErrors: 1,
      bouncesAndErrorsRate: 0.25,
    });
    expect(await log(d.id, 1)).toMatchObject({
      status: 'failed',
      failure_type: 'hard',
      failure_reason: 'user unknown',
    });
  });

  test('soft bounce reported: no change, log sent, a retry is scheduled', async () => {
    await feed([soft(d.ids[2]!)]);
    expect(await status(d.id)).toMatchObject({ deliveredRate: 0.75, bouncesAndErrorsRate: 0.25 });
    const row = await log(d.id, 2);
    expect(row).toMatchObject({ status: 'sent', failure_type: 'soft', failure_reason: 'mailbox full' });
    expect(row.retry_at).toEqual(new Date(Date.parse('2026-11-24T10:00:00Z') + 3600_000));
  });
});

describe('with EFS (DESIGN.md, second table)', () => {
  let d: { id: string; ids: string[] };
  beforeAll(async () => {
    d = await sentDelivery(4, true);
  });

  test('message handed to the MTA: delivered % and bounces + errors % start at 0 %, log pending', async () => {
    expect(await status(d.id)).toMatchObject({ sent: 4, deliveredRate: 0, bouncesAndErrorsRate: 0 });
    expect((await log(d.id, 0)).status).toBe('pending');
  });

  test('delivery confirmed by the MTA: delivered % goes up, log sent', async () => {
    await feed([delivered(d.ids[0]!)]);
    expect(await status(d.id)).toMatchObject({ delivered: 1, deliveredRate: 0.25, bouncesAndErrorsRate: 0 });
    expect((await log(d.id, 0)).status).toBe('sent');
  });

  test('hard bounce reported: delivered % unchanged, bounces + errors % goes up, log failed', async () => {
    await feed([hard(d.ids[1]!)]);
    expect(await status(d.id)).toMatchObject({
      deliveredRate: 0.25,
      bouncesAndErrors: 1,
      bouncesAndErrorsRate: 0.25,
    });
    expect((await log(d.id, 1)).status).toBe('failed');
  });

  test('soft bounce reported: delivered % unchanged, bounces + errors % goes up, log failed with a retry scheduled', async () => {
    await feed([soft(d.ids[2]!)]);
    expect(await status(d.id)).toMatchObject({
      deliveredRate: 0.25,
      bouncesAndErrors: 2,
      bouncesAndErrorsRate: 0.5,
    });
    const row = await log(d.id, 2);
    expect(row.status).toBe('failed');
    expect(row.retry_at).not.toBeNull();
  });

  test('a retry succeeds: delivered % goes up, bounces + errors % goes down, log sent', async () => {
    // The retry's hand-off (next issue) gives the row attempt 2 and a new message id; played here in SQL.
    // Attempt 2's id carries its own token (an HMAC under the delivery's key).
    const [key] = await t.sql`select token, message_key from deliveries where id = ${d.id}`;
    const token = messageToken({ token: key!.token, messageKey: key!.message_key }, d.id, 2, 2);
    const retryId = d.ids[2]!.replace(/^1\.(\d+\.\d+\.)[0-9a-f]+@/, `2.$1${token}@`);
    await t.sql`update delivery_logs set attempts = 2, message_id = ${retryId}, retry_at = null where delivery_id = ${d.id} and seq = 2`;
    await feed([delivered(retryId, '2026-11-24T11:00:00Z')]);
    expect(await status(d.id)).toMatchObject({
      delivered: 2,
      deliveredRate: 0.5,
      bouncesAndErrors: 1,
      bouncesAndErrorsRate: 0.25,
    });
    expect(await log(d.id, 2)).toMatchObject({ status: 'sent', failure_type: null });
  });

  test('an event for the older attempt, arriving late, does not override the newer outcome', async () => {
    const outcome = await feed([soft(d.ids[2]!, '2026-11-24T12:00:00Z')]);
    expect(outcome.value).toMatchObject({ stale: 1, applied: 0 });
    expect((await log(d.id, 2)).status).toBe('sent');
  });
});

test('a repeated job changes nothing: every event is a duplicate', async () => {
  const d = await sentDelivery(3, true);
  const events = [delivered(d.ids[0]!), hard(d.ids[1]!), soft(d.ids[2]!)];
  expect((await feed(events)).value).toMatchObject({ applied: 3 });
  const before = await status(d.id);
  expect(await feed(events)).toMatchObject({ state: 'completed', value: { applied: 0, duplicate: 3 } });
  expect(await status(d.id)).toEqual(before);
});

test('bad events go to the dead letters with their reason; the rest of the job is applied', async () => {
  const d = await sentDelivery(2, true);
  const outcome = await feed([
    delivered(d.ids[0]!),
    { messageId: d.ids[1], type: 'delivered', occurredAt: '2026-11-24T10:00:00Z' },
    { ...delivered(d.ids[1]!), type: 'opened' },
    delivered('<nonsense@elsewhere.test>'),
    delivered(d.ids[1]!.replace(/\.[0-9a-f]+@/, '.ffffffffffff@')),
  ]);
  expect(outcome.value).toMatchObject({ applied: 1, invalid: 2, unknown: 2 });
  const letters = (await cli(t.env, 'dead-letters', '--json'))
    .json<{ reason: string }[]>()
    .map((l) => l.reason);
  expect(letters).toEqual(
    expect.arrayContaining([
      'invalid event: eventId is missing',
      'invalid event: type must be one of delivered, hard_bounce, soft_bounce, complaint, delayed',
      'unknown message: "<nonsense@elsewhere.test>" is not a message id of this system',
      expect.stringMatching(/^unknown message: no attempt 1 of message .* was sent by this system$/),
    ]),
  );
  expect(await status(d.id)).toMatchObject({ delivered: 1 });
});

test('a payload that is not an event list fails unretried and is kept', async () => {
  const outcome = await feed({ event: { eventId: 'x' } });
  expect(outcome.state).toBe('failed');
  expect(outcome.reason).toBe('invalid payload: events is missing');
});

test('a complaint that outruns the log write is retried, then applied once', async () => {
  const d = await sentDelivery(1, true);
  const [row] = await t.sql`delete from delivery_logs where delivery_id = ${d.id} returning *`;
  await t.sql`update deliveries set state = 'sending' where id = ${d.id}`;
  const event: Event = { ...delivered(d.ids[0]!), type: 'complaint' };
  const job = await producer.queue.add('fb', { events: [event] }, feedbackQueue.jobOptions);
  await waitFor(
    async () => ((await producer.queue.getJob(job.id!))?.attemptsMade ?? 0) >= 1,
    10_000,
    'a first try',
  );
  await t.sql`insert into delivery_logs ${t.sql(row!)}`;
  await t.sql`update deliveries set state = 'sent' where id = ${d.id}`;
  expect(await jobOutcome(producer.queue, job.id!)).toMatchObject({
    state: 'completed',
    value: { applied: 1 },
  });
  expect(await status(d.id)).toMatchObject({ complaints: 1 });
  const [letters] =
    await t.sql`select count(*)::int as n from dead_letters where payload->>'eventId' = ${event.eventId as string}`;
  expect(letters!.n).toBe(0);
});

test('an event that arrived before its message was logged can be replayed from the dead letters', async () => {
  const d = await sentDelivery(1, true);
  const [row] = await t.sql`delete from delivery_logs where delivery_id = ${d.id} returning *`;
  const event = delivered(d.ids[0]!);
  expect((await feed([event])).value).toMatchObject({ unknown: 1 });
  await t.sql`insert into delivery_logs ${t.sql(row!)}`;
  const [letter] = (await cli(t.env, 'dead-letters', '--json'))
    .json<{ id: string; payload: Event }[]>()
    .filter((l) => l.payload.eventId === event.eventId);
  const replay = await cli(t.env, 'dead-letters', 'replay', letter!.id, '--json');
  expect(replay.code).toBe(0);
  const jobId = replay.json<{ jobId: string }>().jobId;
  expect(await jobOutcome(producer.queue, jobId)).toMatchObject({
    state: 'completed',
    value: { applied: 1 },
  });
  expect((await log(d.id, 0)).status).toBe('sent');
  expect((await cli(t.env, 'dead-letters', 'replay', letter!.id)).stderr).toMatch(/was replayed already/);
});

test('feedback after the delivery is finished is recorded and does not move its final figures', async () => {
  const d = await sentDelivery(2, false);
  await t.sql`update deliveries set state = 'finished', finished_at = now() where id = ${d.id}`;
  const before = await status(d.id);
  const event = hard(d.ids[0]!);
  expect((await feed([event])).value).toMatchObject({ 'after-finish': 1 });
  expect(await status(d.id)).toEqual(before);
  const [recorded] =
    await t.sql`select outcome from feedback_events where event_id = ${event.eventId as string}`;
  expect(recorded!.outcome).toBe('after-finish');
});

test('one job with thousands of events across two deliveries keeps the counters equal to a recount', async () => {
  const a = await sentDelivery(1500, true);
  const b = await sentDelivery(1500, false);
  const events = [...a.ids, ...b.ids].flatMap((m, i) =>
    i % 3 === 0 ? [hard(m)] : i % 3 === 1 ? [soft(m), delivered(m, '2026-11-24T10:05:00Z')] : [delivered(m)],
  );
  await waitFor(async () => (await feed(events)).state === 'completed', 60_000, 'a big job');
  for (const d of [a, b]) {
    const [recount] = await t.sql`
      select count(*) filter (where status = 'sent')::int as delivered, count(*) filter (where status = 'failed')::int as failed
      from delivery_logs where delivery_id = ${d.id}`;
    const s = await status(d.id);
    expect({ delivered: s.delivered, failed: s.bouncesAndErrors }).toEqual(recount);
  }
});

test('an event that outruns the log write of a delivery still sending is retried, not dead-lettered', async () => {
  const d = await sentDelivery(1, true);
  const [row] = await t.sql`delete from delivery_logs where delivery_id = ${d.id} returning *`;
  await t.sql`update deliveries set state = 'sending' where id = ${d.id}`;
  const event = delivered(d.ids[0]!);
  const job = await producer.queue.add('fb', { events: [event] }, feedbackQueue.jobOptions);
  await waitFor(
    async () => ((await producer.queue.getJob(job.id!))?.attemptsMade ?? 0) >= 1,
    10_000,
    'a first try',
  );
  await t.sql`insert into delivery_logs ${t.sql(row!)}`;
  await t.sql`update deliveries set state = 'sent' where id = ${d.id}`;
  const outcome = await jobOutcome(producer.queue, job.id!);
  expect(outcome.value).toMatchObject({ applied: 1 });
  expect((await log(d.id, 0)).status).toBe('sent');
  const [letters] =
    await t.sql`select count(*)::int as n from dead_letters where payload->>'eventId' = ${event.eventId as string}`;
  expect(letters!.n).toBe(0);
});
