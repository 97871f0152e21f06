// Opens and clicks: ingestion through the queue, the incremental hourly run, and "compute statistics".
import postgres from 'postgres';
import { runAggregationTick } from '../db/aggregate';
import { processRegistry } from '../shared/metrics';
import { aggregationQueue, jobIds, trackingQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import { serverUrl, type TestEnv } from './helpers/env';
import { confirmedDelivery } from './helpers/fixtures';
import { jobOutcome, testQueue } from './helpers/pipeline';
import { openTestWorld, type TestWorld } from './helpers/world';

let t: TestEnv;
let world: TestWorld;
let tracking: ReturnType<typeof testQueue>;
let ticks: ReturnType<typeof testQueue>;
let counter = 0;

// A schedule that does not fire during the tests: ticks are added by hand, as the timer would add them.
const NEVER = '0 0 1 1 *';

beforeAll(async () => {
  world = await openTestWorld({
    env: { AGGREGATION_SCHEDULE: NEVER },
    roles: ['confirm', 'dispatch', 'tracking', 'aggregate'],
  });
  t = world.t;
  tracking = testQueue(t, trackingQueue.name);
  ticks = testQueue(t, aggregationQueue.name);
});

afterAll(async () => {
  await tracking.close();
  await ticks.close();
  await world.close();
});

interface Tile {
  delivered: number;
  opens: number;
  openRate: number;
  clicks: number;
  clickRate: number;
  statsComputedAt: string | null;
}
const status = async (id: string) => (await cli(t.env, 'status', id, '--json')).json<Tile>();

async function sentDelivery(count: number): Promise<{ id: string; ids: string[] }> {
  const id = await confirmedDelivery(t, count);
  const rows = await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`;
  return { id, ids: rows.map((r) => r.message_id as string) };
}

type Event = Record<string, unknown>;
const open = (messageId: string): Event => ({
  eventId: `trk-${++counter}`,
  messageId,
  type: 'open',
  occurredAt: '2026-11-24T10:00:00Z',
});
const click = (messageId: string): Event => ({
  ...open(messageId),
  type: 'click',
  url: 'https://example.com/offer',
});

async function track(events: Event[]) {
  const job = await tracking.queue.add('trk', { events });
  return jobOutcome(tracking.queue, job.id!);
}

let tickSecond = Date.parse('2026-11-24T00:00:00Z');
/** One tick, added as the timer adds it; returns what the run did. */
async function tick() {
  tickSecond += 3600_000;
  const scheduledAt = new Date(tickSecond);
  await ticks.queue.add(
    'aggregate',
    { scheduledAt: scheduledAt.toISOString() },
    { jobId: jobIds.aggregation(scheduledAt) },
  );
  return (await jobOutcome(ticks.queue, jobIds.aggregation(scheduledAt))).value as {
    events: number;
    deliveries: number;
  };
}

test('opens and clicks are stored once each; unknown and invalid events are dead letters with their reason', async () => {
  const { id, ids } = await sentDelivery(5);
  const first = open(ids[0]!);
  const forged = ids[3]!.replace(/\.[0-9a-f]+@/, '.0000000000000000@');
  const batch = [
    first,
    open(ids[0]!), // a second open of the same message: stored, counted once
    click(ids[1]!), // a click without an open (images blocked) counts as an open too
    open(ids[2]!),
    click(ids[2]!),
    first, // the same event twice in one job
    { ...open(ids[3]!), type: 'bounce' },
    open(forged),
    open('<someone-else@example.org>'),
  ];
  const outcome = await track(batch);
  expect(outcome).toMatchObject({
    state: 'completed',
    value: { applied: 5, duplicate: 1, unknown: 2, invalid: 1 },
  });
  const dead = await t.sql`select reason from dead_letters where queue = 'tracking-events' order by id`;
  expect(dead.map((r) => r.reason)).toEqual([
    'invalid event: type must be one of open, click',
    'unknown message: "<someone-else@example.org>" is not a message id of this system',
    `unknown message: no delivery of this system sent "${forged}"`,
  ]);

  // A replay of the whole job stores nothing new.
  expect((await track([first, click(ids[1]!)].slice(0, 1))).value).toMatchObject({
    applied: 0,
    duplicate: 1,
  });

  // Nothing is counted until the hourly run; then the rates of the deliveries touched move.
  expect(await status(id)).toMatchObject({ opens: 0, clicks: 0, statsComputedAt: null });
  expect(await tick()).toMatchObject({ events: 5, deliveries: 1 });
  expect(await status(id)).toMatchObject({
    delivered: 5,
    opens: 3,
    openRate: 0.6,
    clicks: 2,
    clickRate: 0.4,
  });
  expect((await status(id)).statsComputedAt).not.toBeNull();
});

test('each run reads only what came since its watermark, and a missed hour is caught up by the next run', async () => {
  const { id, ids } = await sentDelivery(4);
  await track([open(ids[0]!), open(ids[1]!)]);
  expect(await tick()).toMatchObject({ events: 2, deliveries: 1 });
  expect(await status(id)).toMatchObject({ opens: 2, clicks: 0 });

  // Two hours pass with every replica down: the events wait in the table.
  await track([open(ids[2]!)]);
  await track([click(ids[0]!), open(ids[1]!)]);
  const run = await tick();
  expect(run).toMatchObject({ events: 3, deliveries: 1 });
  expect(await status(id)).toMatchObject({ opens: 3, clicks: 1, openRate: 0.75, clickRate: 0.25 });
  expect(await tick()).toMatchObject({ events: 0, deliveries: 0 });
  expect(await status(id)).toMatchObject({ opens: 3, clicks: 1 });
});

test('events of a transaction still open at a run are counted by a later run, never skipped', async () => {
  const { id, ids } = await sentDelivery(3);
  // A slow ingestion transaction takes an id first and commits last: an id watermark would skip it.
  // The watermark is the oldest transaction still running, so the run waits for it, and counts both later.
  const slow = await t.sql.reserve();
  try {
    await slow`begin`;
    await slow`
      insert into tracking_events (event_id, message_id, delivery_id, seq, type, occurred_at)
      values (${`slow-${id}`}, ${ids[0]!}, ${id}, 0, 'open', now())`;
    await track([open(ids[1]!)]);
    expect(await tick()).toMatchObject({ events: 0 });
    expect(await status(id)).toMatchObject({ opens: 0 });
    await slow`commit`;
  } finally {
    slow.release();
  }
  expect(await tick()).toMatchObject({ events: 2, deliveries: 1 });
  expect(await status(id)).toMatchObject({ opens: 2 });
});

test('a transaction left open in another database of the server holds nothing back', async () => {
  const { id, ids } = await sentDelivery(2);
  const other = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
  const foreign = await other.reserve();
  try {
    await foreign`begin`;
    await foreign`select pg_current_xact_id()`; // takes a transaction id, as a write would
    await track([open(ids[0]!)]);
    expect(await tick()).toMatchObject({ events: 1, deliveries: 1 });
    expect(await status(id)).toMatchObject({ opens: 1 });
    await foreign`rollback`;
  } finally {
    foreign.release();
    await other.end();
  }
});

test('a tick that has run is not run again, whoever adds it', async () => {
  const scheduledAt = new Date(tickSecond);
  expect(await runAggregationTick(t.sql, scheduledAt, () => new Date())).toEqual({ alreadyRan: true });
  const [runs] =
    await t.sql`select count(*)::int as n from aggregation_runs where scheduled_at = ${scheduledAt}`;
  expect(runs!.n).toBe(1);
});

test('compute-stats finds no drift in true counters, and corrects and reports counters that drifted', async () => {
  const { id, ids } = await sentDelivery(6);
  await track([open(ids[0]!), click(ids[1]!)]);
  await tick();
  // Events since the last run are counted at once, and the next run does not count them again.
  await track([open(ids[2]!), click(ids[0]!)]);

  const clean = await cli(t.env, 'compute-stats', id, '--wait', '--json');
  expect(clean.code).toBe(0);
  expect(clean.json()).toMatchObject({
    opens: 3,
    clicks: 2,
    delivered: 6,
    drift: { sent: 0, delivered: 0, failed: 0, opens: 0, clicks: 0, complaints: 0 },
    uniquesRepaired: 0,
  });
  expect(await tick()).toMatchObject({ events: 0 });
  expect(await status(id)).toMatchObject({ opens: 3, clicks: 2 });

  await t.sql`update delivery_kpis set delivered = delivered + 2, failed = 1, opens = 0 where delivery_id = ${id}`;
  await t.sql`delete from tracking_uniques where delivery_id = ${id} and seq = 0`;
  const before = await driftMetric();
  const fixed = await cli(t.env, 'compute-stats', id, '--wait');
  expect(fixed.code).toBe(0);
  expect(fixed.stdout).toContain(
    'drift             delivered +2, failed +1, opens -3, 1 unique opens repaired',
  );
  expect(await status(id)).toMatchObject({ delivered: 6, opens: 3, clicks: 2, openRate: 0.5 });
  expect((await driftMetric()) - before).toBe(2 + 1 + 3 + 1);
});

test('compute-stats refuses an unknown or malformed delivery id with the reason', async () => {
  const missing = await cli(t.env, 'compute-stats', '999999');
  expect(missing).toMatchObject({ code: 1, stderr: 'campaign: delivery 999999 not found\n' });
  const bad = await cli(t.env, 'compute-stats', 'abc');
  expect(bad).toMatchObject({
    code: 1,
    stderr: 'campaign: delivery id "abc" is not valid; it is a number, e.g. 42\n',
  });
  const enqueued = await cli(t.env, 'compute-stats', (await sentDelivery(1)).id, '--json');
  expect(enqueued.json()).toMatchObject({ jobId: expect.any(String) });
});

async function driftMetric(): Promise<number> {
  const metric = await processRegistry.getSingleMetric('campaign_kpi_drift_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}
