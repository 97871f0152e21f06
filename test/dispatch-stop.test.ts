// `delivery stop` during a batch: the batch stops between two messages, so only the few already at the
// MTA's door leave after it, and every message that left is logged once.
import { dispatchQueue, jobIds } from '../shared/queues';
import { cli } from './helpers/cli';
import type { TestEnv } from './helpers/env';
import { createDelivery } from './helpers/fixtures';
import { jobOutcome, testQueue, waitFor } from './helpers/pipeline';
import type { TestMta } from './helpers/smtp';
import { openTestWorld, type TestWorld } from './helpers/world';

const POOL = 2;
let t: TestEnv;
let mta: TestMta;
let world: TestWorld;

beforeAll(async () => {
  world = await openTestWorld({
    env: { DISPATCH_BATCH_SIZE: '5000', DISPATCH_CONCURRENCY: '1', SMTP_POOL_SIZE: String(POOL) },
    roles: ['confirm', 'dispatch'],
  });
  ({ t, mta } = world);
});

afterAll(async () => {
  await world.close();
});

test('a stop in the middle of a batch lets at most SMTP_POOL_SIZE more messages leave', async () => {
  // A slow MTA, so that the one batch of 1,500 is still being handed over when the stop comes.
  mta.setDelay(5);
  const id = await createDelivery(t, 1500);
  expect((await cli(t.env, 'confirm', id, '--as', 'alice')).code).toBe(0);
  await waitFor(async () => mta.received.length >= 100, 30_000, 'the batch to be under way');
  const stop = await cli(t.env, 'delivery', 'stop', id);
  expect(stop.stdout).toBe(`delivery ${id} stopped\n`);
  const atStop = mta.received.length;

  const producer = testQueue(t, dispatchQueue.name);
  try {
    const outcome = await jobOutcome(producer.queue, jobIds.dispatch(id, 0), 60_000);
    expect(outcome.state).toBe('completed');
    expect(outcome.value).toMatchObject({ stopped: expect.any(Number) });
  } finally {
    await producer.close();
  }
  expect(mta.received.length - atStop).toBeLessThanOrEqual(POOL);
  expect(mta.received.length).toBeLessThan(1500);
  // Every message that left is logged, once; those that did not have no log row.
  const [{ n }] = (await t.sql`
    select count(*)::int as n from delivery_logs where delivery_id = ${id}`) as unknown as [{ n: number }];
  expect(n).toBe(mta.received.length);
  const status = (await cli(t.env, 'status', id, '--json')).json<{ state: string; sent: number }>();
  expect(status).toMatchObject({ state: 'stopped', sent: mta.received.length });
});
