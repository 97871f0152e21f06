// The hourly trigger with three replicas: every tick of the schedule runs once, and counts every event once.
import { runAggregationTick } from '../db/aggregate';
import { aggregationQueue, trackingQueue } from '../shared/queues';
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, confirmedDelivery } from './helpers/fixtures';
import { startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
let base: PipelineProcess;
const replicas: PipelineProcess[] = [];

beforeAll(async () => {
  mta = await startTestMta();
  // Every second instead of every hour, so that a test sees many ticks.
  t = await createTestEnv({ MTA_URL: mta.url, AGGREGATION_SCHEDULE: '* * * * * *' });
  base = await startPipeline(t, { roles: ['confirm', 'dispatch', 'tracking'] });
  await addOperator(t, 'alice');
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await base.stop();
  await mta.close();
  await t.cleanup();
});

test('three replicas: each tick runs exactly once, and the opens equal a recount', async () => {
  const id = await confirmedDelivery(t, 200);
  const ids = (await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`).map(
    (r) => r.message_id as string,
  );
  for (let i = 0; i < 3; i++) replicas.push(await startPipeline(t, { roles: ['aggregate'] }));

  // Events keep arriving while the ticks run: some recipients open several times, some click.
  const producer = testQueue(t, trackingQueue.name);
  try {
    for (let round = 0; round < 8; round++) {
      const events = Array.from({ length: 50 }, (_, i) => {
        const seq = (round * 37 + i * 3) % 200;
        return {
          eventId: `r${round}-${i}`,
          messageId: ids[seq]!,
          type: i % 5 === 0 ? 'click' : 'open',
          occurredAt: new Date().toISOString(),
        };
      });
      await producer.queue.add('trk', { events });
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    await waitFor(
      async () => (await producer.queue.getJobCounts('completed')).completed === 8,
      20_000,
      'tracking jobs',
    );
  } finally {
    await producer.close();
  }
  await waitFor(
    async () =>
      (await t.sql`select count(*)::int as n from aggregation_runs where finished_at is not null`)[0]!.n >= 5,
    20_000,
    'five finished runs',
  );
  await Promise.all(replicas.splice(0).map((r) => r.stop()));

  const runs = await t.sql`select scheduled_at, events from aggregation_runs order by scheduled_at`;
  const seconds = runs.map((r) => (r.scheduled_at as Date).getTime() / 1000);
  expect(new Set(seconds).size).toBe(seconds.length);
  expect(seconds.every(Number.isInteger)).toBe(true);

  // One job per tick, whichever replica's timer added it first; none found its tick already run.
  const jobs = testQueue(t, aggregationQueue.name);
  try {
    const completed = await jobs.queue.getJobs(['completed']);
    expect(completed).toHaveLength(runs.length);
    expect(completed.filter((j) => j.returnvalue.alreadyRan)).toHaveLength(0);
  } finally {
    await jobs.close();
  }

  // A last run counts what came after the replicas stopped; every event was counted once, no more.
  await runAggregationTick(t.sql, new Date(Date.now() + 3600_000), () => new Date());
  const [expected] = await t.sql`
    select count(distinct seq)::int as opens, (count(distinct seq) filter (where type = 'click'))::int as clicks
    from tracking_events where delivery_id = ${id}`;
  const [counted] = await t.sql`select coalesce(sum(events), 0)::int as n from aggregation_runs`;
  expect(counted!.n).toBe(400);
  const tile = (await cli(t.env, 'status', id, '--json')).json<{ opens: number; clicks: number }>();
  expect(tile).toMatchObject({ opens: expected!.opens, clicks: expected!.clicks });
});
