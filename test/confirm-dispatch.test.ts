// From a confirm job to every message at a real loopback SMTP server, once.
import { confirmQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import type { TestEnv } from './helpers/env';
import { addOperator, createDelivery } from './helpers/fixtures';
import { jobOutcome, startPipeline, testQueue, waitFor } from './helpers/pipeline';
import type { TestMta } from './helpers/smtp';
import { openTestWorld, type TestWorld } from './helpers/world';

let t: TestEnv;
let mta: TestMta;
let world: TestWorld;
let producer: ReturnType<typeof testQueue>;

beforeAll(async () => {
  world = await openTestWorld({ env: { DISPATCH_BATCH_SIZE: '10' } });
  ({ t, mta } = world);
  producer = testQueue(t, confirmQueue.name);
  await addOperator(t, 'bob', []);
});

// Tests reuse addresses (r0@example.test…): one test's hard bounce must not quarantine the next one's.
beforeEach(async () => {
  await t.sql`delete from quarantine`;
});

afterAll(async () => {
  await producer.close();
  await world.close();
});

beforeEach(() => {
  mta.received.length = 0;
  mta.setPolicy(() => undefined);
});

async function confirm(deliveryId: string, operator: string, name = 'confirm') {
  const job = await producer.queue.add(name, { deliveryId, operator }, confirmQueue.jobOptions);
  return jobOutcome(producer.queue, job.id!);
}

async function status(id: string) {
  return (await cli(t.env, 'status', id, '--json')).json<Record<string, unknown>>();
}

const logs = (id: string) => t.sql`select * from delivery_logs where delivery_id = ${id} order by seq`;

test('an operator without start-deliveries is refused, recorded, and nothing is sent', async () => {
  const id = await createDelivery(t, 5);
  const outcome = await confirm(id, 'bob');
  expect(outcome).toMatchObject({ state: 'failed', reason: 'operator bob lacks the role start-deliveries' });
  const [attempt] =
    await t.sql`select operator, outcome, reason from confirm_attempts where delivery_id = ${id}`;
  expect(attempt).toEqual({
    operator: 'bob',
    outcome: 'refused',
    reason: 'operator bob lacks the role start-deliveries',
  });
  expect(await status(id)).toMatchObject({ state: 'prepared', sent: 0 });
  expect(await logs(id)).toHaveLength(0);
  expect(mta.received).toHaveLength(0);
});

test('an unknown operator is refused with how to create it', async () => {
  const id = await createDelivery(t, 2);
  const outcome = await confirm(id, 'nobody');
  expect(outcome.state).toBe('failed');
  expect(outcome.reason).toMatch(
    /^operator nobody lacks the role start-deliveries \(no such operator; create it with/,
  );
});

test('a bad payload fails unretried, naming the field, and is kept as a dead letter', async () => {
  const job = await producer.queue.add('anything', { deliveryId: 'forty-two' }, confirmQueue.jobOptions);
  const outcome = await jobOutcome(producer.queue, job.id!);
  expect(outcome.state).toBe('failed');
  expect(outcome.reason).toMatch(/deliveryId must be a delivery id/);
  expect(outcome.reason).toMatch(/operator is missing/);
  const [dead] = await t.sql`select queue, reason, payload from dead_letters where job_id = ${job.id!}`;
  expect(dead).toMatchObject({ queue: 'delivery-confirm', payload: { deliveryId: 'forty-two' } });
});

test('without EFS every message reaches the MTA once, logged sent, and the delivery becomes sent', async () => {
  const id = await createDelivery(t, 25);
  const outcome = await confirm(id, 'alice', 'whatever-name');
  expect(outcome.state).toBe('completed');
  await waitFor(async () => (await status(id)).state === 'sent', 20_000, 'delivery sent');
  expect(mta.received).toHaveLength(25);
  expect(new Set(mta.received.map((m) => m.to[0])).size).toBe(25);
  const rows = await logs(id);
  expect(rows).toHaveLength(25);
  expect(rows.every((r) => r.status === 'sent' && r.attempts === 1)).toBe(true);
  expect(new Set(mta.received.map((m) => m.messageId))).toEqual(new Set(rows.map((r) => r.message_id)));
  expect(await status(id)).toMatchObject({
    sent: 25,
    delivered: 25,
    deliveredRate: 1,
    bouncesAndErrors: 0,
    progress: 1,
  });
});

test('with EFS the logs are pending and delivered % starts at 0', async () => {
  const id = await createDelivery(t, 12, '--efs');
  await confirm(id, 'alice');
  await waitFor(async () => (await status(id)).state === 'sent', 20_000, 'delivery sent');
  const rows = await logs(id);
  expect(rows.map((r) => r.status)).toEqual(Array(12).fill('pending'));
  expect(await status(id)).toMatchObject({
    efs: true,
    sent: 12,
    delivered: 0,
    deliveredRate: 0,
    bouncesAndErrorsRate: 0,
  });
});

test('each message carries its message id in Message-ID and X-Campaign-Message-Id, and is personalized', async () => {
  const id = await createDelivery(
    t,
    3,
    '--subject',
    'Hello {{first}}',
    '--text',
    'Dear {{first}},\nwelcome.',
    '--html',
    '<p>Hi {{first}}</p>',
  );
  await confirm(id, 'alice');
  await waitFor(async () => (await status(id)).state === 'sent', 20_000, 'delivery sent');
  const message = mta.received.find((m) => m.to[0] === 'r1@example.test')!;
  const [row] =
    await t.sql`select message_id from delivery_logs where delivery_id = ${id} and email = 'r1@example.test'`;
  expect(message.raw).toContain(`Message-ID: <${row!.message_id}>`);
  expect(message.raw).toContain(`X-Campaign-Message-Id: ${row!.message_id}`);
  expect(message.raw).toContain('Subject: Hello Name1');
  expect(message.raw).toContain('Dear Name1,\r\nwelcome.');
  expect(message.raw).toContain('<p>Hi Name1</p>');
});

test('confirming a delivery that is not prepared is refused and changes nothing', async () => {
  const id = await createDelivery(t, 4);
  await confirm(id, 'alice');
  await waitFor(async () => (await status(id)).state === 'sent', 20_000, 'delivery sent');
  const again = await confirm(id, 'alice');
  expect(again.state).toBe('failed');
  expect(again.reason).toMatch(
    new RegExp(`delivery ${id} is not prepared \\(it is sent, confirmed by alice`),
  );
  const unknown = await confirm('999999', 'alice');
  expect(unknown.reason).toBe('delivery 999999 not found');
  expect(mta.received).toHaveLength(4);
});

test('campaign confirm without --wait refuses what the worker would refuse, in the same sentence', async () => {
  const sent = await createDelivery(t, 2);
  await confirm(sent, 'alice');
  await waitFor(async () => (await status(sent)).state === 'sent', 20_000, 'delivery sent');
  const prepared = await createDelivery(t, 2);
  const cases: [string, string][] = [
    [prepared, 'bob'], // no role
    [prepared, 'nobody'], // no such operator
    ['999999', 'alice'], // no such delivery
    [sent, 'alice'], // not prepared any more
  ];
  for (const [id, operator] of cases) {
    const worker = await confirm(id, operator);
    expect(worker.state).toBe('failed');
    const r = await cli(t.env, 'confirm', id, '--as', operator);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 1,
      stdout: '',
      stderr: `campaign: confirm refused: ${worker.reason}\n`,
    });
  }
  // Nothing was enqueued for those: the only failed jobs are the four enqueued directly above.
  expect(await status(prepared)).toMatchObject({ state: 'prepared', sent: 0 });
  const refusedByCli =
    await t.sql`select count(*)::int as n from confirm_attempts where job_id is null and outcome = 'refused'`;
  expect(refusedByCli[0]!.n).toBe(4);
  const ok = await cli(t.env, 'confirm', prepared, '--as', 'alice');
  expect(ok.stdout).toMatch(new RegExp(`^confirm of delivery ${prepared} queued \\(job \\S+\\)\n$`));
  await waitFor(async () => (await status(prepared)).state === 'sent', 20_000, 'delivery sent');
});

test('two confirms racing on two replicas send every message once', async () => {
  const second = await startPipeline(t, { env: { MTA_URL: mta.url }, roles: ['confirm', 'dispatch'] });
  try {
    const id = await createDelivery(t, 40);
    const outcomes = await Promise.all([confirm(id, 'alice'), confirm(id, 'alice'), confirm(id, 'alice')]);
    expect(outcomes.filter((o) => o.state === 'completed')).toHaveLength(1);
    await waitFor(async () => (await status(id)).state === 'sent', 20_000, 'delivery sent');
    expect(mta.received).toHaveLength(40);
    expect(await status(id)).toMatchObject({ sent: 40, delivered: 40 });
  } finally {
    await second.stop();
  }
});

test('a permanent SMTP refusal marks that message failed with its reason', async () => {
  mta.setPolicy((address) =>
    address === 'r2@example.test' ? { code: 550, message: '5.1.1 User unknown' } : undefined,
  );
  const id = await createDelivery(t, 5);
  await confirm(id, 'alice');
  await waitFor(async () => (await status(id)).state === 'sent', 20_000, 'delivery sent');
  const [row] =
    await t.sql`select status, failure_type, failure_reason from delivery_logs where delivery_id = ${id} and email = 'r2@example.test'`;
  expect(row).toEqual({ status: 'failed', failure_type: 'hard', failure_reason: 'user unknown' });
  expect(await status(id)).toMatchObject({
    sent: 5,
    delivered: 4,
    bouncesAndErrors: 1,
    bouncesAndErrorsRate: 0.2,
  });
});

test('a temporary SMTP refusal is retried with backoff and the message is logged once', async () => {
  let refusals = 0;
  mta.setPolicy((address) => {
    if (address === 'r3@example.test' && refusals < 1) {
      refusals++;
      return { code: 451, message: '4.7.1 Greylisted, try again later' };
    }
    return undefined;
  });
  const id = await createDelivery(t, 6);
  await confirm(id, 'alice');
  await waitFor(async () => (await status(id)).state === 'sent', 30_000, 'delivery sent');
  expect(refusals).toBe(1);
  expect(mta.received.filter((m) => m.to[0] === 'r3@example.test')).toHaveLength(1);
  expect(mta.received).toHaveLength(6);
  const rows = await logs(id);
  expect(rows).toHaveLength(6);
  expect(rows.every((r) => r.status === 'sent')).toBe(true);
});

test('campaign confirm --wait enqueues the upstream job and returns once the delivery is sent', async () => {
  const id = await createDelivery(t, 15);
  const r = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait', '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.json()).toMatchObject({ id, state: 'sent', sent: 15, toSend: 15 });
  const refused = await cli(t.env, 'confirm', id, '--as', 'bob', '--wait');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe('campaign: confirm refused: operator bob lacks the role start-deliveries\n');
});
