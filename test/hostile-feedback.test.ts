// Hostile feedback (issue 18): poison in one request never costs another request an event, every poison ends
// as a 400 and a dead letter of its own, and a job carrying poison applies or dead-letters each event alone.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, createDelivery } from './helpers/fixtures';
import { jobOutcome, startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

const TOKEN = 'hostile-test-token-0123456789';
let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ MTA_URL: mta.url, FEEDBACK_TOKEN: TOKEN });
  pipeline = await startPipeline(t, {
    roles: ['confirm', 'dispatch', 'feedback', 'tracking', 'feedback-http'],
  });
  await addOperator(t, 'alice');
});

// Tests reuse addresses (r0@example.test…): one test's hard bounce must not exclude the next one's recipient.
beforeEach(async () => {
  await t.sql`delete from quarantine`;
});

afterAll(async () => {
  await pipeline.stop();
  await mta.close();
  await t.cleanup();
});

const bearer = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
async function post(provider: string, body: string) {
  const res = await fetch(`http://127.0.0.1:${pipeline.feedbackPort()}/feedback/${provider}`, {
    method: 'POST',
    body,
    headers: bearer,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function sentDelivery(count: number): Promise<{ id: string; ids: string[] }> {
  const id = await createDelivery(t, count);
  const r = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
  if (r.code !== 0) throw new Error(r.stderr);
  const rows = await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`;
  return { id, ids: rows.map((row) => row.message_id as string) };
}

const statusOf = async (id: string, seq: number) =>
  (await t.sql`select status from delivery_logs where delivery_id = ${id} and seq = ${seq}`)[0]!.status;
const deadLetters = async (like: string) =>
  t.sql`select queue, reason, payload from dead_letters where reason like ${like} order by id`;

const event = (messageId: string, eventId: string, extra: Record<string, unknown> = {}) => ({
  eventId,
  messageId,
  type: 'hard_bounce',
  occurredAt: new Date().toISOString(),
  smtpCode: 550,
  enhancedStatus: '5.1.1',
  diagnostic: 'user unknown',
  ...extra,
});

describe('a poisoned neighbour', () => {
  test.each([
    ['a year-0000 date', { type: 'delivered', occurredAt: '0000-01-01T00:00:00Z' }, 'occurredAt'],
    ['a NUL in the diagnostic', { diagnostic: 'bad\u0000reply' }, 'NUL'],
    ['a NUL in the event id', { eventId: 'evil\u0000id' }, 'NUL'],
    ['a date far in the future', { type: 'delivered', occurredAt: '9999-12-31T00:00:00Z' }, 'occurredAt'],
  ])(
    '%s: the innocent request sent with it is applied; the poison is a 400 and a dead letter',
    async (name, poison, reasonWord) => {
      const d = await sentDelivery(2);
      const good = JSON.stringify({ events: [event(d.ids[0]!, `good-${name}`)] });
      const bad = JSON.stringify({ events: [event(d.ids[1]!, `bad-${name}`, poison)] });
      // Sent together, so that the receiver merges them into one job.
      const [a, b] = await Promise.all([post('generic', good), post('generic', bad)]);
      expect(a.status).toBe(200);
      expect(b.status).toBe(400);
      expect(String(b.body.error)).toContain(reasonWord);
      await waitFor(async () => (await statusOf(d.id, 0)) === 'failed', 20_000, 'the good bounce');
      expect(await statusOf(d.id, 1)).toBe('sent');
      const letters = await deadLetters(`%${reasonWord}%`);
      expect(letters.length).toBeGreaterThan(0);
    },
  );

  test('a 100,000-deep event is a 400 and a dead letter, not a 503', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const body = `{"events":[{"eventId":"deep","messageId":"x","type":"delivered","occurredAt":"2026-01-01T00:00:00Z","x":${deep}}]}`;
    const res = await post('generic', body);
    expect(res.status).toBe(400);
    expect(String(res.body.error)).toContain('nest');
    expect((await deadLetters('%nest%')).length).toBeGreaterThan(0);
  });

  test('SparkPost and KumoMTA timestamps that make no date are refused with a 400, one event alone', async () => {
    const d = await sentDelivery(2);
    const sparkpost = JSON.stringify([
      {
        msys: {
          message_event: {
            type: 'bounce',
            event_id: 'sp-bad-time',
            timestamp: 99999999999999,
            bounce_class: '10',
            rcpt_meta: { campaign_message_id: d.ids[1] },
          },
        },
      },
      {
        msys: {
          message_event: {
            type: 'bounce',
            event_id: 'sp-good',
            timestamp: Math.floor(Date.now() / 1000),
            bounce_class: '10',
            rcpt_meta: { campaign_message_id: d.ids[0] },
          },
        },
      },
    ]);
    const sp = await post('sparkpost', sparkpost);
    expect(sp.status).toBe(400);
    expect(sp.body).toMatchObject({ accepted: 1 });
    await waitFor(async () => (await statusOf(d.id, 0)) === 'failed', 20_000, 'the good SparkPost bounce');
    expect(await statusOf(d.id, 1)).toBe('sent');
    const kumo = await post('kumomta', JSON.stringify({ type: 'Bounce', id: 'k1', timestamp: 1e300 }));
    expect(kumo.status).toBe(400);
  });
});

describe('jobs put on mta-feedback directly', () => {
  test('a job with a NUL in one event and a year-0000 date in another applies the good one and dead-letters the rest', async () => {
    const d = await sentDelivery(3);
    const producer = testQueue(t, 'mta-feedback');
    try {
      const job = await producer.queue.add('x', {
        events: [
          event(d.ids[0]!, 'job-good'),
          event(d.ids[1]!, 'job-nul', { diagnostic: 'a\u0000b', nested: { 'k\u0000': 'v\u0000' } }),
          event(d.ids[2]!, 'job-year0', { occurredAt: '0000-01-01T00:00:00Z' }),
        ],
      });
      const outcome = await jobOutcome(producer.queue, job.id!);
      expect(outcome.state).toBe('completed');
    } finally {
      await producer.close();
    }
    expect(await statusOf(d.id, 0)).toBe('failed');
    expect(await statusOf(d.id, 1)).toBe('sent');
    expect(await statusOf(d.id, 2)).toBe('sent');
    const [nul] = await t.sql`select payload from dead_letters where payload->>'eventId' = 'job-nul'`;
    // Kept as escaped text, since PostgreSQL stores no NUL.
    expect(nul!.payload.diagnostic).toBe('a\\u0000b');
    expect((await t.sql`select 1 from dead_letters where payload->>'eventId' = 'job-year0'`).length).toBe(1);
  });

  test('a confirm whose operator carries a NUL fails at once, unretried, with a dead letter', async () => {
    const producer = testQueue(t, 'delivery-confirm');
    try {
      const job = await producer.queue.add('confirm', { deliveryId: '1', operator: 'al\u0000ice' });
      const outcome = await jobOutcome(producer.queue, job.id!);
      expect(outcome.state).toBe('failed');
      expect(outcome.reason).toContain('NUL');
      const [j] = await producer.queue.getJobs(['failed']);
      expect(j!.attemptsMade).toBe(1);
    } finally {
      await producer.close();
    }
    const [letter] = await t.sql`select payload from dead_letters where queue = 'delivery-confirm'`;
    expect(letter!.payload.operator).toBe('al\\u0000ice');
  });
});

describe('forged feedback (unguessable per-message tokens, recipients checked)', () => {
  const dsn = (finalRecipient: string, messageId: string) =>
    [
      'From: MAILER-DAEMON@mx.example.test',
      'To: news@example.test',
      'Subject: Undelivered Mail Returned to Sender',
      `Message-ID: <dsn-${Math.random()}@mx.example.test>`,
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      '--b',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.test',
      '',
      `Final-Recipient: rfc822; ${finalRecipient}`,
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
      '',
      '--b',
      'Content-Type: text/rfc822-headers',
      '',
      `X-Campaign-Message-Id: ${messageId}`,
      `Message-ID: <${messageId}>`,
      '',
      '--b--',
      '',
    ].join('\r\n');

  test("each message's token is its own: counting through seq in one's own id makes no other recipient's", async () => {
    const d = await sentDelivery(2);
    const token = (id: string) => id.split('@')[0]!.split('.')[3];
    expect(token(d.ids[0]!)).not.toBe(token(d.ids[1]!));
    const forged = d.ids[0]!.replace(/^1\.0\./, '1.1.');
    const res = await post('generic', JSON.stringify({ events: [event(forged, 'forged-seq')] }));
    expect(res.status).toBe(200);
    await waitFor(
      async () =>
        (await t.sql`select 1 from dead_letters where payload->>'eventId' = 'forged-seq'`).length > 0,
      20_000,
      'the forged event to be dead-lettered',
    );
    expect(await statusOf(d.id, 1)).toBe('sent');
  });

  test("a DSN naming another recipient than the message's is a dead letter with the reason, not applied", async () => {
    const d = await sentDelivery(2);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'forged-')), 'forged.eml');
    writeFileSync(file, dsn('somebody-else@anything.invalid', d.ids[1]!));
    const r = await cli(t.env, 'feedback', 'dsn', file);
    expect(r.code).toBe(0);
    const [letter] = await waitFor(
      async () => {
        const rows = await deadLetters('recipient mismatch%');
        return rows.length > 0 ? rows : null;
      },
      20_000,
      'the mismatch dead letter',
    );
    expect(letter!.reason).toContain('somebody-else@anything.invalid');
    expect(await statusOf(d.id, 1)).toBe('sent');
    // The same bounce naming the right recipient is applied.
    writeFileSync(file, dsn('R1@example.test', d.ids[1]!));
    expect((await cli(t.env, 'feedback', 'dsn', file)).code).toBe(0);
    await waitFor(async () => (await statusOf(d.id, 1)) === 'failed', 20_000, 'the genuine bounce');
  });

  test('a delivery made before message keys keeps its one-token ids, and its feedback is applied', async () => {
    const id = await createDelivery(t, 2);
    await t.sql`update deliveries set message_key = null where id = ${id}`;
    const r = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
    expect(r.code).toBe(0);
    const [{ token }] = (await t.sql`select token from deliveries where id = ${id}`) as unknown as [
      { token: string },
    ];
    const rows = await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`;
    expect(rows.map((row) => row.message_id.split('@')[0].split('.')[3])).toEqual([token, token]);
    const res = await post('generic', JSON.stringify({ events: [event(rows[1]!.message_id, 'old-format')] }));
    expect(res.status).toBe(200);
    await waitFor(async () => (await statusOf(id, 1)) === 'failed', 20_000, 'the old-format bounce');
  });
});

describe('arbitrary bodies through the running receiver', () => {
  const nasty = fc.string({
    unit: fc.constantFrom('\u0000', '\ud800', 'a', '{', '}', '[', ']', '"', ':', ',', '\n', '𝄞', '1', 'e'),
    maxLength: 60,
  });
  const jsonish = fc
    .oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(nasty, nasty))
    .map((v) => JSON.stringify(v) ?? 'null');
  const eventsBody = fc
    .array(
      fc.record({
        eventId: nasty,
        messageId: nasty,
        type: fc.constantFrom('delivered', 'hard_bounce', 'open', 'constructor'),
        occurredAt: fc.oneof(nasty, fc.constantFrom('0000-01-01T00:00:00Z', '2026-11-30T00:00:00Z')),
        diagnostic: nasty,
      }),
      { maxLength: 4 },
    )
    .map((events) => JSON.stringify({ events }));

  test('never a 5xx, and every job they make completes', async () => {
    const jobs = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(nasty, jsonish, eventsBody),
        fc.constantFrom('generic', 'sparkpost', 'kumomta'),
        async (body, provider) => {
          const res = await post(provider, body);
          expect(res.status).toBeLessThan(500);
          for (const id of (res.body.jobIds as string[] | undefined) ?? []) jobs.add(id);
        },
      ),
      { numRuns: 60 },
    );
    const producer = testQueue(t, 'mta-feedback');
    const tracking = testQueue(t, 'tracking-events');
    try {
      for (const id of jobs) {
        const queue = id.startsWith('http-trk') ? tracking.queue : producer.queue;
        expect((await jobOutcome(queue, id)).state).toBe('completed');
      }
    } finally {
      await producer.close();
      await tracking.close();
    }
  });
});
