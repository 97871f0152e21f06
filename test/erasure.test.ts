// `campaign profile erase`: after a delivery with feedback, tracking, a dead letter and a quarantine, the
// address is nowhere in a dump of the database, the KPIs are as they were and the quarantine still holds.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { feedbackQueue, trackingQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import type { TestEnv } from './helpers/env';
import { confirmedDelivery, recipientsCsv } from './helpers/fixtures';
import { jobOutcome, testQueue, waitFor } from './helpers/pipeline';
import type { TestMta } from './helpers/smtp';
import { openTestWorld, type TestWorld } from './helpers/world';

let t: TestEnv;
let mta: TestMta;
let world: TestWorld;
let feedback: ReturnType<typeof testQueue>;
let tracking: ReturnType<typeof testQueue>;

const ERASED = 'r1@example.test';

beforeAll(async () => {
  world = await openTestWorld({ env: { RETRY_SWEEP_INTERVAL: '1s' } });
  ({ t, mta } = world);
  feedback = testQueue(t, feedbackQueue.name);
  tracking = testQueue(t, trackingQueue.name);
});

afterAll(async () => {
  await feedback.close();
  await tracking.close();
  await world.close();
});

async function dump(): Promise<string> {
  const { stdout } = await promisify(execFile)('pg_dump', ['--no-owner', t.env.DATABASE_URL!], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

const logsOf = (email: string) =>
  t.sql`select delivery_id, seq, status, attempts, message_id, failure_reason from delivery_logs
    where email = ${email} order by delivery_id, seq`;

async function status(id: string) {
  const r = await cli(t.env, 'status', id, '--json');
  expect(r.code).toBe(0);
  const { statsComputedAt: _, ...tile } = r.json<Record<string, unknown>>();
  return tile;
}

test('erasure leaves the address nowhere in the database, the KPIs as they were, the quarantine holding', async () => {
  const id = await confirmedDelivery(t, 3);
  const [log] = await logsOf(ERASED);
  const messageId = log!.message_id as string;
  const bounce = await feedback.queue.add('fb', {
    events: [
      {
        eventId: 'erase-1',
        messageId,
        type: 'hard_bounce',
        occurredAt: new Date().toISOString(),
        smtpCode: 550,
        enhancedStatus: '5.1.1',
        diagnostic: '550 5.1.1 <R1@Example.test>: Recipient address rejected: User unknown',
      },
    ],
  });
  expect(await jobOutcome(feedback.queue, bounce.id!)).toMatchObject({ state: 'completed' });
  const at = '2026-11-24T10:00:00Z';
  const click = await tracking.queue.add('trk', {
    events: [
      { eventId: 'erase-open', messageId, type: 'open', occurredAt: at },
      {
        eventId: 'erase-click',
        messageId,
        type: 'click',
        occurredAt: at,
        url: 'https://example.com/offer?u=r1%40example.test',
      },
      // Invalid: a dead letter whose payload names the address.
      { eventId: 'erase-bad', messageId, type: 'bounce', occurredAt: at, url: `mailto:${ERASED}` },
    ],
  });
  expect(await jobOutcome(tracking.queue, click.id!)).toMatchObject({ state: 'completed' });
  const stats = await cli(t.env, 'compute-stats', id, '--wait', '--json');
  expect(stats.code).toBe(0);

  const before = await dump();
  for (const form of [ERASED, 'R1@Example.test', 'r1%40example.test'])
    expect(before.toLowerCase()).toContain(form.toLowerCase());
  expect((await cli(t.env, 'quarantine', 'show', ERASED, '--json')).json()).toMatchObject({
    state: 'quarantined',
  });
  const tile = await status(id);
  const others = [await logsOf('r0@example.test'), await logsOf('r2@example.test')];
  const otherTargets =
    await t.sql`select seq, email, data from delivery_targets where email <> ${ERASED} order by seq`;

  const erased = await cli(t.env, 'profile', 'erase', 'R1@Example.TEST', '--json');
  expect(erased.stderr).toBe('');
  expect(erased.code).toBe(0);
  expect(erased.json()).toEqual({
    email: ERASED,
    pseudonym: expect.stringMatching(/^erased-[0-9a-f]{64}@erased\.invalid$/),
    found: true,
    changed: {
      deliveryTargets: 1,
      deliveryLogs: 1,
      feedbackEvents: 1,
      trackingEvents: 1,
      deadLetters: 1,
      quarantine: 1,
    },
  });

  const after = (await dump()).toLowerCase();
  expect(after).not.toContain(ERASED);
  expect(after).not.toContain('r1%40example.test');
  expect(after).toContain('r0@example.test');
  // Personalization values are blanked, the other recipients' kept.
  const [target] = await t.sql`select data from delivery_targets where delivery_id = ${id} and seq = 1`;
  expect(target!.data).toEqual({ first: '' });
  expect(
    await t.sql`select seq, email, data from delivery_targets where email not like '%@erased.invalid' order by seq`,
  ).toEqual(otherTargets);
  expect([await logsOf('r0@example.test'), await logsOf('r2@example.test')]).toEqual(others);

  // The KPIs, shown and recounted, are as they were.
  expect(await status(id)).toEqual(tile);
  expect((await cli(t.env, 'compute-stats', id, '--wait', '--json')).code).toBe(0);
  expect(await status(id)).toEqual(tile);

  // The address that bounced hard is still left out of a new delivery, by its hash.
  const next = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'next',
    '--recipients',
    recipientsCsv(3),
    '--json',
  );
  expect(next.json()).toMatchObject({ toSend: 2, quarantined: 1, excludedByReason: { 'user unknown': 1 } });
  expect(await logsOf(ERASED)).toEqual([]);
  expect((await cli(t.env, 'profile', ERASED, '--json')).json()).toMatchObject({
    quarantine: null,
    deliveries: [],
  });
});

test('erasing an address stored nowhere says so and exits 0; a bad address is refused', async () => {
  const human = await cli(t.env, 'profile', 'erase', 'nobody@example.test');
  expect(human).toMatchObject({
    code: 0,
    stdout: 'nobody@example.test: nothing stored for this address; nothing changed\n',
  });
  const json = await cli(t.env, 'profile', 'erase', 'nobody@example.test', '--json');
  expect(json.json()).toMatchObject({ found: false, changed: { deliveryLogs: 0, quarantine: 0 } });
  const bad = await cli(t.env, 'profile', 'erase', 'not-an-address');
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/"not-an-address" is not a valid e-mail address/);
});

test('the human form lists the rows changed per table; the profile command still reads an address', async () => {
  await confirmedDelivery(t, 1);
  const r = await cli(t.env, 'profile', 'erase', 'r0@example.test');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^r0@example\.test: erased; stored as erased-[0-9a-f]{64}@erased\.invalid/);
  expect(r.stdout).toMatch(/\n {2}delivery_logs\t[1-9]\d*\n/);
  expect(r.stdout).toMatch(/\n {2}quarantine\t0\n$/);
  expect((await cli(t.env, 'profile', 'r2@example.test', '--json')).json()).toMatchObject({
    email: 'r2@example.test',
  });
});

test('an address erased before its batch is sent gets no message; the others do', async () => {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'erasure-')), 'late.csv');
  await writeFile(file, 'email,first\nlate0@example.test,A\nlate1@example.test,B\nlate2@example.test,C\n');
  const created = await cli(t.env, 'delivery', 'create', '--label', 'late', '--recipients', file, '--json');
  const { id } = created.json<{ id: string }>();
  const r = await cli(t.env, 'profile', 'erase', 'late1@example.test', '--json');
  expect(r.json()).toMatchObject({ found: true, changed: { deliveryTargets: 1, deliveryLogs: 0 } });
  mta.received.length = 0;
  expect((await cli(t.env, 'confirm', id, '--as', 'alice', '--wait')).code).toBe(0);
  expect(mta.received.flatMap((m) => m.to).sort()).toEqual(['late0@example.test', 'late2@example.test']);
  expect((await status(id)).state).toBe('sent');
  expect(await t.sql`select seq from delivery_logs where delivery_id = ${id} order by seq`).toEqual([
    { seq: 0 },
    { seq: 2 },
  ]);
});

test('a retry waiting for an address erased meanwhile is not sent and ends failed', async () => {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'erasure-')), 'soft.csv');
  await writeFile(file, 'email,first\nsoft0@example.test,A\n');
  const created = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'soft',
    '--recipients',
    file,
    '--efs',
    '--retry-interval',
    '2s',
    '--validity',
    '1h',
    '--json',
  );
  const { id } = created.json<{ id: string }>();
  expect((await cli(t.env, 'confirm', id, '--as', 'alice', '--wait')).code).toBe(0);
  const row = async () =>
    (
      await t.sql`select status, attempts, failure_reason, message_id from delivery_logs where delivery_id = ${id}`
    )[0]!;
  const job = await feedback.queue.add('fb', {
    events: [
      {
        eventId: 'erase-soft',
        messageId: (await row()).message_id,
        type: 'soft_bounce',
        occurredAt: new Date().toISOString(),
        smtpCode: 452,
        enhancedStatus: '4.2.2',
      },
    ],
  });
  expect(await jobOutcome(feedback.queue, job.id!)).toMatchObject({ state: 'completed' });
  expect((await cli(t.env, 'profile', 'erase', 'soft0@example.test', '--json')).code).toBe(0);
  mta.received.length = 0;
  await waitFor(
    async () => (await row()).failure_reason === 'quarantined address',
    15_000,
    'the retry to be refused',
  );
  expect(await row()).toMatchObject({ status: 'failed', attempts: 1 });
  expect(mta.received).toHaveLength(0);
});
