// The pipeline on a three-master Redis Cluster of its own: confirm → dispatch → feedback → retry → finalize,
// two processes of every worker role, and the tile equal to a recount of the logs.
import { Queue } from 'bullmq';
import { feedbackQueue } from '../shared/queues';
import { createWorkerConnection } from '../shared/redis';
import { cli } from './helpers/cli';
import { createTestEnv, deleteKeys, type TestEnv } from './helpers/env';
import { addOperator, createDelivery } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { type OwnCluster, startOwnCluster } from './helpers/redis-server';
import { startTestMta, type TestMta } from './helpers/smtp';

let cluster: OwnCluster;
let mta: TestMta;
let t: TestEnv;

beforeAll(async () => {
  cluster = await startOwnCluster(3);
  mta = await startTestMta();
  // A cluster needs a hash tag in the prefix: every key of the pipeline in one slot (config refuses without).
  const prefix = `{cluster-${Math.random().toString(36).slice(2, 10)}}`;
  t = await createTestEnv({ REDIS_URL: cluster.url, MTA_URL: mta.url, QUEUE_PREFIX: prefix });
  await addOperator(t, 'alice');
}, 60_000);

afterAll(async () => {
  await mta.close();
  await t.cleanup();
  await cluster.stop();
});

interface Tile {
  state: string;
  toSend: number;
  sent: number;
  delivered: number;
  bouncesAndErrors: number;
}

async function feed(events: { messageId: string; type: string; smtpCode?: number }[], tag: string) {
  const connection = createWorkerConnection(t.env.REDIS_URL!);
  const queue = new Queue(feedbackQueue.name, { connection, prefix: t.env.QUEUE_PREFIX });
  try {
    // Several jobs, so that both feedback processes take some.
    for (let i = 0; i < events.length; i += 40)
      await queue.add('fb', {
        events: events.slice(i, i + 40).map((e, j) => ({
          eventId: `${tag}-${i + j}`,
          occurredAt: new Date().toISOString(),
          ...e,
          ...(e.type === 'soft_bounce' ? { enhancedStatus: '4.2.2' } : {}),
        })),
      });
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

test('confirm, dispatch, feedback, retry and finalize over a Redis Cluster with two replicas of each worker', async () => {
  // The rate limit's counter lives on the cluster too (high enough never to slow the test).
  const env = {
    DISPATCH_BATCH_SIZE: '25',
    RECONCILE_INTERVAL: '1s',
    RETRY_SWEEP_INTERVAL: '1s',
    DISPATCH_RATE_LIMIT: '100000',
  };
  const roles = ['confirm', 'dispatch', 'feedback', 'retry', 'aggregate'] as const;
  const procs = await Promise.all([
    startPipeline(t, { env, roles: [...roles, 'metrics'] }),
    startPipeline(t, { env, roles: [...roles] }),
  ]);
  try {
    const id = await createDelivery(t, 200, '--efs', '--retry-interval', '2s', '--validity', '12s');
    const confirm = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
    expect(confirm.code).toBe(0);
    const logs =
      await t.sql`select seq, message_id from delivery_logs where delivery_id = ${id} order by seq`;
    expect(logs).toHaveLength(200);
    // r0..r4 hard-bounce, r5..r9 soft-bounce (and are retried), the rest is delivered.
    await feed(
      logs.map((l) => ({
        messageId: l.message_id,
        type: l.seq < 5 ? 'hard_bounce' : l.seq < 10 ? 'soft_bounce' : 'delivered',
        smtpCode: l.seq < 5 ? 550 : l.seq < 10 ? 452 : 250,
      })),
      'first',
    );
    const retried = await waitFor(
      async () => {
        const rows =
          await t.sql`select message_id from delivery_logs where delivery_id = ${id} and attempts = 2`;
        return rows.length === 5 ? rows : null;
      },
      30_000,
      'the five retries',
    );
    await feed(
      retried.map((r) => ({ messageId: r.message_id, type: 'delivered', smtpCode: 250 })),
      'retry',
    );
    await waitFor(
      async () => (await cli(t.env, 'status', id, '--json')).json<Tile>().state === 'finished',
      40_000,
      'finished at the validity end',
    );
    // The metrics role reads the queues' counts from the cluster.
    const scrape = await (await fetch(`http://127.0.0.1:${procs[0]!.port()}/metrics`)).text();
    expect(scrape).toMatch(/campaign_queue_jobs\{queue="dispatch",state="completed"\} 8\b/);
    // The reconciler reads the cluster too (EXISTS on the queue's slot, schedulers): nothing is missing.
    expect(await procs[0]!.reconcile()).toEqual({});
    const tile = (await cli(t.env, 'status', id, '--json')).json<Tile>();
    const [recount] = await t.sql`
      select count(*)::int as sent, count(*) filter (where status = 'sent')::int as delivered,
        count(*) filter (where status = 'failed')::int as failed
      from delivery_logs where delivery_id = ${id}`;
    expect(tile).toMatchObject({
      toSend: 200,
      sent: recount!.sent,
      delivered: recount!.delivered,
      bouncesAndErrors: recount!.failed,
    });
    expect(recount).toEqual({ sent: 200, delivered: 195, failed: 5 });
    // Each message at the MTA once: 200 first attempts and 5 retries.
    expect(mta.received).toHaveLength(205);
    // The hash tag puts every key of the pipeline in one slot, so on one master (the other two serve
    // other slots: other prefixes, other tenants).
    const counts = await Promise.all(
      cluster.servers.map(async (s) => {
        const node = createWorkerConnection(s.url);
        try {
          return (await node.keys(`${t.env.QUEUE_PREFIX}:*`)).length;
        } finally {
          node.disconnect();
        }
      }),
    );
    expect(counts.filter((n) => n > 0)).toHaveLength(1);
    expect(Math.max(...counts)).toBeGreaterThan(10);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
  await deleteKeys(t.env.QUEUE_PREFIX!, cluster.url);
  const left = await Promise.all(
    cluster.servers.map(async (s) => {
      const node = createWorkerConnection(s.url);
      try {
        return (await node.dbsize()) as number;
      } finally {
        node.disconnect();
      }
    }),
  );
  expect(left).toEqual([0, 0, 0]);
});
