// A real Redis restart and a failover, mid-send, with nothing kept on disk: PostgreSQL brings the work back.
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, createDelivery } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { type OutageProxy, startProxy } from './helpers/proxy';
import { type OwnRedis, startOwnRedis } from './helpers/redis-server';
import { startTestMta, type TestMta } from './helpers/smtp';

let mta: TestMta;
const servers: OwnRedis[] = [];
const env = {
  DISPATCH_BATCH_SIZE: '50',
  DISPATCH_CONCURRENCY: '2',
  RECONCILE_INTERVAL: '1s',
  WORKER_LOCK_DURATION: '2s',
};

beforeAll(async () => {
  mta = await startTestMta();
});

afterAll(async () => {
  await mta.close();
  await Promise.all(servers.map((s) => s.stop()));
});

beforeEach(() => {
  mta.received.length = 0;
});

async function ownRedis(): Promise<OwnRedis> {
  const server = await startOwnRedis();
  servers.push(server);
  return server;
}

/** Sends a delivery of `count`, calls `lose` once a fifth is at the MTA, and checks the outcome. */
async function sendThroughLoss(t: TestEnv, count: number, lose: () => Promise<void>): Promise<void> {
  await addOperator(t, 'alice');
  const proc = await startPipeline(t, { env });
  try {
    mta.setDelay(5);
    const id = await createDelivery(t, count);
    await cli(t.env, 'confirm', id, '--as', 'alice');
    await waitFor(async () => mta.received.length >= count / 5, 30_000, 'a fifth at the MTA');
    await lose();
    mta.setDelay(0);
    await waitFor(
      async () => (await t.sql`select state from deliveries where id = ${id}`)[0]!.state === 'sent',
      60_000,
      'sent after the loss',
    );
    // Every recipient reached; a repeat (in flight at the loss) carries the same message id.
    const ids = new Map<string, Set<string | null>>();
    for (const m of mta.received) ids.set(m.to[0]!, (ids.get(m.to[0]!) ?? new Set()).add(m.messageId));
    expect(ids.size).toBe(count);
    expect([...ids.values()].every((s) => s.size === 1)).toBe(true);
    // Logged once each, and the KPI counters equal a recount of the logs.
    const [recount] = await t.sql`
      select count(*)::int as sent, count(distinct seq)::int as seqs,
        count(*) filter (where status = 'sent')::int as delivered,
        count(*) filter (where status = 'failed')::int as failed
      from delivery_logs where delivery_id = ${id}`;
    const [kpis] =
      await t.sql`select sent, delivered, failed from delivery_kpi_totals where delivery_id = ${id}`;
    expect(recount).toEqual({ sent: count, seqs: count, delivered: count, failed: 0 });
    expect(kpis).toEqual({ sent: count, delivered: count, failed: 0 });
  } finally {
    await proc.stop();
    mta.setDelay(0);
  }
}

test('redis-server restarted without persistence mid-send: every recipient reached, logged once, KPIs = recount', async () => {
  const redis = await ownRedis();
  const t = await createTestEnv({ REDIS_URL: redis.url, MTA_URL: mta.url });
  try {
    await sendThroughLoss(t, 800, () => redis.restart());
  } finally {
    await t.cleanup();
  }
});

test('a failover to a fresh, empty server mid-send: the same', async () => {
  const primary = await ownRedis();
  const replica = await ownRedis();
  // The pipeline knows one address; the failover moves it to a server that has none of the keys.
  const address: OutageProxy = await startProxy(primary.port);
  const t = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${address.port}`, MTA_URL: mta.url });
  try {
    await sendThroughLoss(t, 800, async () => {
      await address.down();
      address.retarget(replica.port);
      await address.up();
    });
  } finally {
    await address.close();
    await t.cleanup();
  }
});
