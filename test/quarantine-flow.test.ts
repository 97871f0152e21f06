// Quarantine fed by the pipeline: feedback and hand-off refusals count, retries of quarantined addresses stop.
import { feedbackQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import type { TestEnv } from './helpers/env';
import { confirmedDelivery } from './helpers/fixtures';
import { jobOutcome, testQueue, waitFor } from './helpers/pipeline';
import type { TestMta } from './helpers/smtp';
import { openTestWorld, type TestWorld } from './helpers/world';

let t: TestEnv;
let mta: TestMta;
let world: TestWorld;
let producer: ReturnType<typeof testQueue>;
let n = 0;

beforeAll(async () => {
  // One counted soft failure per second, three of them quarantine: the 24 h rule in seconds.
  world = await openTestWorld({
    env: { RETRY_SWEEP_INTERVAL: '1s', QUARANTINE_SPACING: '1s', QUARANTINE_THRESHOLD: '3' },
  });
  ({ t, mta } = world);
  producer = testQueue(t, feedbackQueue.name);
});

afterAll(async () => {
  await producer.close();
  await world.close();
});

const row = async (id: string, seq = 0) =>
  (
    await t.sql`select status, attempts, message_id, failure_reason from delivery_logs where delivery_id = ${id} and seq = ${seq}`
  )[0]!;
const quarantine = async (email: string) => {
  const r = await cli(t.env, 'quarantine', 'show', email, '--json');
  return r.code === 0 ? r.json<{ state: string; errorCount: number; reason: string }>() : null;
};

async function feed(type: 'soft_bounce' | 'hard_bounce', messageId: string, at = new Date()) {
  const codes =
    type === 'hard_bounce'
      ? { smtpCode: 550, enhancedStatus: '5.1.1' }
      : { smtpCode: 452, enhancedStatus: '4.2.2' };
  const job = await producer.queue.add('fb', {
    events: [{ eventId: `q-${++n}`, messageId, type, occurredAt: at.toISOString(), ...codes }],
  });
  return jobOutcome(producer.queue, job.id!);
}

const sent = (count: number, ...options: string[]) => confirmedDelivery(t, count, ...options);

test('a hard bounce "user unknown" quarantines at once, and the next delivery excludes the address', async () => {
  const id = await sent(3, '--retry-interval', '1h');
  await feed('hard_bounce', (await row(id, 1)).message_id);
  expect(await quarantine('r1@example.test')).toMatchObject({ state: 'quarantined', reason: 'user unknown' });
  const next = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'next',
    '--recipients',
    await csv(['r0', 'r1', 'r2']),
    '--json',
  );
  expect(next.json()).toMatchObject({ toSend: 2, quarantined: 1, excludedByReason: { 'user unknown': 1 } });
  await cli(t.env, 'quarantine', 'release', 'r1@example.test');
});

test('a permanent refusal at hand-off (550 5.1.1) quarantines too', async () => {
  mta.setPolicy((a) => (a === 'r2@example.test' ? { code: 550, message: '5.1.1 User unknown' } : undefined));
  try {
    await sent(3);
  } finally {
    mta.setPolicy(() => undefined);
  }
  expect(await quarantine('r2@example.test')).toMatchObject({ state: 'quarantined', reason: 'user unknown' });
  await cli(t.env, 'quarantine', 'release', 'r2@example.test');
});

test('soft failures count once per spacing period; at the threshold the address is quarantined', async () => {
  const id = await sent(1, '--retry-interval', '1h');
  const messageId = (await row(id)).message_id;
  const base = Date.now();
  // Two in the same second count once; the next two, a second apart each, reach the threshold of 3.
  await feed('soft_bounce', messageId, new Date(base));
  await feed('soft_bounce', messageId, new Date(base + 100));
  expect(await quarantine('r0@example.test')).toMatchObject({ state: 'counting', errorCount: 1 });
  await feed('soft_bounce', messageId, new Date(base + 1200));
  await feed('soft_bounce', messageId, new Date(base + 2400));
  expect(await quarantine('r0@example.test')).toMatchObject({
    state: 'quarantined',
    errorCount: 3,
    reason: 'mailbox full',
  });
  await cli(t.env, 'quarantine', 'release', 'r0@example.test');
});

test('a retry of an address quarantined meanwhile is not sent and ends failed with that reason', async () => {
  const id = await sent(2, '--efs', '--retry-interval', '2s', '--validity', '1h');
  const first = await row(id, 1);
  await feed('soft_bounce', first.message_id);
  // Quarantined before its retry is due (another delivery's hard bounce, say).
  await t.sql`insert into quarantine (email, error_count, reason, failure_type, quarantined_at)
    values ('r1@example.test', 0, 'on denylist', 'hard', now())
    on conflict (email) do update set quarantined_at = now(), released_at = null, reason = 'on denylist'`;
  mta.received.length = 0;
  await waitFor(
    async () => (await row(id, 1)).failure_reason === 'quarantined address',
    15_000,
    'the retry to be refused',
  );
  expect(await row(id, 1)).toMatchObject({ status: 'failed', attempts: 1 });
  expect(mta.received).toHaveLength(0);
});

async function csv(names: string[]): Promise<string> {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const file = `${mkdtempSync(`${tmpdir()}/q-`)}/r.csv`;
  writeFileSync(file, `email\n${names.map((name) => `${name}@example.test`).join('\n')}\n`);
  return file;
}

test('a retry of a stopped delivery is not sent and ends failed with that reason', async () => {
  const id = await sent(1, '--efs', '--retry-interval', '2s', '--validity', '1h');
  await feed('soft_bounce', (await row(id)).message_id);
  const stop = await cli(t.env, 'delivery', 'stop', id, '--json');
  expect(stop.json()).toEqual({ id, state: 'stopped' });
  mta.received.length = 0;
  await waitFor(
    async () => (await row(id)).failure_reason === 'delivery stopped',
    15_000,
    'the retry to be refused',
  );
  expect(await row(id)).toMatchObject({ status: 'failed', attempts: 1 });
  expect(mta.received).toHaveLength(0);
  const again = await cli(t.env, 'delivery', 'stop', id);
  expect(again.stderr).toBe(
    `campaign: delivery ${id} is stopped; only a delivery not yet finished can be stopped\n`,
  );
});
