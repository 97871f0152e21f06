// The feedback receiver end to end: each provider's documented payload POSTed to the running pipeline, then the
// delivery log, the quarantine and the KPI tile read back. Also replays, refusals, the SNS handshake and DSNs.
import { createSign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { envelopeSender } from '../shared/message-id';
import { feedbackQueue } from '../shared/queues';
import { type SnsMessage, stringToSign } from '../workers/servers/feedback-http/sns';
import type { PipelineProcess } from '../workers/start/process';
import { selfSignedCertificate } from './helpers/certificate';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, createDelivery } from './helpers/fixtures';
import { jobOutcome, startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

const TOKEN = 'feedback-test-token-0123456789';
const FIXTURES = path.join(__dirname, 'fixtures', 'feedback-http');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');
const json = (name: string) => JSON.parse(fixture(name));

let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;
let subscribeServer: Server;
const subscribeCalls: string[] = [];
let subscribeHost: string;
let keyPem: string;
let certFile: string;

beforeAll(async () => {
  // SNS signs with Amazon's key; the tests sign with their own, made now, and name its certificate.
  const dir = mkdtempSync(path.join(tmpdir(), 'sns-'));
  const made = selfSignedCertificate(dir, '/CN=sns-test');
  certFile = made.certFile;
  const keyFile = made.keyFile;
  keyPem = readFileSync(keyFile, 'utf8');
  subscribeServer = createServer((req, res) => {
    subscribeCalls.push(req.url ?? '');
    res.end('<ConfirmSubscriptionResponse/>');
  });
  await new Promise<void>((resolve) => subscribeServer.listen(0, '127.0.0.1', resolve));
  subscribeHost = `127.0.0.1:${(subscribeServer.address() as AddressInfo).port}`;

  mta = await startTestMta();
  t = await createTestEnv({
    MTA_URL: mta.url,
    FEEDBACK_TOKEN: TOKEN,
    SNS_CERT_FILE: certFile,
    SNS_TEST_HOSTS: subscribeHost,
    SNS_TOPIC_ARNS: 'arn:aws:sns:us-west-2:123456789012:MyTopic',
  });
  pipeline = await startPipeline(t, { roles: ['confirm', 'dispatch', 'feedback', 'retry', 'feedback-http'] });
  await addOperator(t, 'alice');
});

// Tests reuse addresses (r0@example.test…): one test's complaint must not exclude the next one's recipient.
beforeEach(async () => {
  await t.sql`delete from quarantine`;
});

afterAll(async () => {
  await pipeline.stop();
  await mta.close();
  await new Promise((resolve) => subscribeServer.close(resolve));
  await t.cleanup();
});

async function post(provider: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${pipeline.feedbackPort()}/feedback/${provider}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const bearer = { authorization: `Bearer ${TOKEN}` };

async function sentDelivery(count: number, ...options: string[]): Promise<{ id: string; ids: string[] }> {
  const id = await createDelivery(t, count, ...options);
  const r = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
  if (r.code !== 0) throw new Error(r.stderr);
  const rows = await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`;
  return { id, ids: rows.map((row) => row.message_id as string) };
}

const recorded = async (id: string) =>
  (await t.sql`select count(*)::int as n from feedback_events where delivery_id = ${id}`)[0]!.n as number;
const waitRecorded = (id: string, n: number) =>
  waitFor(async () => (await recorded(id)) >= n, 20_000, `${n} events of delivery ${id}`);
const logs = async (id: string) =>
  (await cli(t.env, 'logs', id, '--json')).json<
    { status: string; failureType: string; failureReason: string }[]
  >();
const status = async (id: string) =>
  (await cli(t.env, 'status', id, '--json')).json<Record<string, unknown>>();
const quarantineReason = async (email: string) =>
  (await t.sql`select reason from quarantine where email = ${email} and quarantined_at is not null`)[0]
    ?.reason;

describe('SparkPost', () => {
  let d: { id: string; ids: string[] };
  let body: string;
  beforeAll(async () => {
    d = await sentDelivery(3, '--efs');
    // The documented samples, naming our messages (rcpt_meta) and, since they share one event_id, each its own.
    const target = [0, 1, 2, 0, 0, 0];
    const batch = json('sparkpost-events.json').map(
      (item: { msys: Record<string, Record<string, unknown>> }, i: number) => {
        const [kind, event] = Object.entries(item.msys)[0]!;
        const rcpt_meta = { campaign_message_id: d.ids[target[i]!] };
        const rcpt_to = `r${target[i]}@example.test`; // the recipient each event names is checked
        return { msys: { [kind]: { ...event, event_id: `${event.event_id}${i}`, rcpt_meta, rcpt_to } } };
      },
    );
    body = JSON.stringify(batch);
  });

  test('delivery, bounce and spam_complaint reach the log, the quarantine and the KPI tile', async () => {
    const res = await post('sparkpost', body, bearer);
    // The delay (of message 0, delivered at the same second) is `delayed`: the delivery wins the tie.
    expect(res).toMatchObject({ status: 200, body: { accepted: 4, tracking: 2, ignored: 0 } });
    await waitRecorded(d.id, 4);
    expect((await logs(d.id)).map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
      ['sent', null, null],
      ['failed', 'hard', 'user unknown'],
      ['pending', null, null], // a complaint leaves the status as it was
    ]);
    expect(await quarantineReason('r2@example.test')).toBe('on denylist');
    expect(await status(d.id)).toMatchObject({
      delivered: 1,
      bouncesAndErrors: 1,
      complaints: 1,
      complaintRate: 1,
    });
  });

  test('opens and clicks go to tracking-events in the contract shape', async () => {
    const tracking = testQueue(t, 'tracking-events');
    try {
      const jobs = await tracking.queue.getJobs(['waiting', 'active', 'completed', 'failed']);
      expect(jobs.flatMap((j) => j.data.events)).toEqual([
        {
          eventId: 'sparkpost-923569276938138564',
          messageId: d.ids[0],
          type: 'open',
          occurredAt: '2016-04-18T14:25:07.000Z',
        },
        {
          eventId: 'sparkpost-923569276938138565',
          messageId: d.ids[0],
          type: 'click',
          url: 'http://example.com',
          occurredAt: '2016-04-18T14:25:07.000Z',
        },
      ]);
    } finally {
      await tracking.close();
    }
  });

  test('a replayed batch changes nothing, whether whole or cut differently', async () => {
    const before = { logs: await logs(d.id), status: await status(d.id), events: await recorded(d.id) };
    expect((await post('sparkpost', body, bearer)).status).toBe(200);
    // The bounce alone: another job, whose event the worker finds already applied.
    const one = JSON.parse(body).slice(1, 2);
    const res = await post('sparkpost', JSON.stringify(one), bearer);
    const producer = testQueue(t, feedbackQueue.name);
    try {
      const outcome = await jobOutcome(producer.queue, (res.body.jobIds as string[])[0]!);
      expect(outcome.value).toMatchObject({ duplicate: 1, applied: 0 });
    } finally {
      await producer.close();
    }
    expect({ logs: await logs(d.id), status: await status(d.id), events: await recorded(d.id) }).toEqual(
      before,
    );
  });

  test('a missing or wrong token is refused; basic auth with the token as password is accepted', async () => {
    const ping = JSON.stringify([{ msys: {} }]);
    expect((await post('sparkpost', ping)).status).toBe(401);
    expect((await post('sparkpost', 'junk')).status).toBe(401); // refused before its body is read or kept
    expect((await post('sparkpost', ping, { authorization: 'Bearer wrong-token-wrong-token' })).status).toBe(
      401,
    );
    const basic = `Basic ${Buffer.from(`sparkpost:${TOKEN}`).toString('base64')}`;
    expect(await post('sparkpost', ping, { authorization: basic })).toMatchObject({ status: 200 });
  });

  test('a bad body is a 400 naming the problem, and is kept as a dead letter', async () => {
    const res = await post('sparkpost', '{"msys": {}}', bearer);
    expect(res).toMatchObject({ status: 400, body: { error: expect.stringContaining('JSON array') } });
    const [letter] =
      await t.sql`select reason, payload from dead_letters where queue = 'feedback-http/sparkpost'`;
    expect(letter).toMatchObject({ payload: { body: '{"msys": {}}' } });
    expect(letter!.reason).toContain('bad sparkpost body');
  });
});

const envelopes = json('sns-envelopes.json');
const notifications = json('ses-notifications.json');
let messages = 0;

// Stamped now: a message more than an hour old is refused as a replay.
function sign<T extends object>(m: T, version: '1' | '2' = '1'): T & { Signature: string } {
  const unsigned = { Timestamp: new Date().toISOString(), ...m, SignatureVersion: version };
  const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  signer.update(stringToSign(unsigned as unknown as SnsMessage));
  return { ...unsigned, Signature: signer.sign(keyPem, 'base64') };
}
/** The documented notification envelope carrying an SES notification about one of our messages. */
function snsNotification(
  kind: 'bounce' | 'complaint' | 'delivery' | 'deliveryDelay',
  messageId: string,
  version: '1' | '2' = '1',
  recipient?: string,
) {
  const n = JSON.parse(JSON.stringify(notifications[kind]));
  // The recipient SES names is checked against the message's: the sample's is replaced by ours.
  if (recipient) {
    for (const r of n.bounce?.bouncedRecipients ?? []) r.emailAddress = recipient;
    for (const r of n.complaint?.complainedRecipients ?? []) r.emailAddress = recipient;
    for (const r of n.deliveryDelay?.delayedRecipients ?? []) r.emailAddress = recipient;
    if (n.delivery) n.delivery.recipients = [recipient];
  }
  const headers = [...(n.mail.headers ?? []), { name: 'X-Campaign-Message-Id', value: messageId }];
  const message = { ...n, mail: { ...n.mail, headers, messageId: `${n.mail.messageId}-${kind}` } };
  const envelope: Record<string, string> = {
    ...envelopes.notification,
    Timestamp: new Date().toISOString(),
    MessageId: `sns-${++messages}`,
    Message: JSON.stringify(message),
  };
  return sign(envelope, version);
}

describe('Amazon SES through SNS', () => {
  test('Bounce, Complaint and Delivery reach the log, the quarantine and the KPI tile (EFS off)', async () => {
    const d = await sentDelivery(3);
    for (const [kind, i, version] of [
      ['bounce', 0, '1'],
      ['complaint', 1, '2'],
      ['delivery', 2, '2'],
    ] as const) {
      const res = await post(
        'ses',
        JSON.stringify(snsNotification(kind, d.ids[i]!, version, `r${i}@example.test`)),
      );
      expect(res).toMatchObject({ status: 200, body: { accepted: 1 } });
    }
    await waitRecorded(d.id, 3);
    expect((await logs(d.id)).map((l) => [l.status, l.failureReason])).toEqual([
      ['failed', 'user unknown'],
      ['sent', null],
      ['sent', null],
    ]);
    expect(await quarantineReason('r1@example.test')).toBe('on denylist');
    expect(await status(d.id)).toMatchObject({
      delivered: 2,
      bouncesAndErrors: 1,
      complaints: 1,
      complaintRate: 0.5,
    });
  });

  test('a bad signature, or a certificate URL off the SNS hosts, is refused', async () => {
    const good = snsNotification('delivery', '1.0.1.abcdef@x.test');
    const tampered = { ...good, Message: good.Message!.replace('Delivery', 'Bounce') };
    expect((await post('ses', JSON.stringify(tampered))).status).toBe(403);
    // Not an SNS message at all: refused, and not kept, since nobody vouches for it.
    expect(await post('ses', '{"hello": 1}')).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('not an SNS message') },
    });
    expect(await t.sql`select 1 from dead_letters where queue = 'feedback-http/ses'`).toHaveLength(0);
    const offHost = sign({ ...good, SigningCertURL: 'https://sns.evil.test/cert.pem' });
    expect(await post('ses', JSON.stringify(offHost))).toMatchObject({
      status: 403,
      body: { error: expect.stringContaining('SigningCertURL') },
    });
  });

  test('a validly signed message of a topic that is not ours is refused, and no subscription is confirmed', async () => {
    const theirs = 'arn:aws:sns:us-west-2:999999999999:TheirTopic';
    const notification = sign({ ...snsNotification('delivery', '1.0.1.abcdef@x.test'), TopicArn: theirs });
    expect(await post('ses', JSON.stringify(notification))).toMatchObject({
      status: 403,
      body: { error: `topic ${theirs} is not one of SNS_TOPIC_ARNS` },
    });
    const before = subscribeCalls.length;
    const handshake = sign({
      ...envelopes.subscriptionConfirmation,
      Timestamp: new Date().toISOString(),
      TopicArn: theirs,
      SubscribeURL: `http://${subscribeHost}/confirm?Token=theirs`,
    });
    expect((await post('ses', JSON.stringify(handshake))).status).toBe(403);
    expect(subscribeCalls).toHaveLength(before);
  });

  test('the subscription handshake is answered by fetching SubscribeURL, only on an allowed host', async () => {
    const confirm = (host: string) =>
      sign({
        ...envelopes.subscriptionConfirmation,
        Timestamp: new Date().toISOString(),
        SubscribeURL: `http://${host}/confirm?Token=abc`,
      });
    expect(await post('ses', JSON.stringify(confirm(subscribeHost)))).toMatchObject({
      status: 200,
      body: { confirmed: true },
    });
    expect(subscribeCalls).toEqual(['/confirm?Token=abc']);
    const elsewhere = subscribeHost.replace('127.0.0.1', '127.0.0.2');
    expect((await post('ses', JSON.stringify(confirm(elsewhere)))).status).toBe(403);
    expect(subscribeCalls).toHaveLength(1);
  });
});

describe('KumoMTA', () => {
  test('Delivery, Bounce, OOB and Feedback log records as JSON lines (EFS on)', async () => {
    const d = await sentDelivery(4, '--efs');
    const { delivery } = json('kumomta-log-records.json');
    const headers = (i: number) => ({ 'X-Campaign-Message-Id': d.ids[i] });
    const bounce = {
      code: 550,
      enhanced_code: { class: 5, subject: 1, detail: 1 },
      content: 'No such user here',
    };
    const overQuota = {
      code: 552,
      enhanced_code: { class: 5, subject: 2, detail: 2 },
      content: '5.2.2 over quota',
    };
    const records = [
      { ...delivery, id: 'a1', headers: headers(0), recipient: 'r0@example.test' },
      {
        ...delivery,
        id: 'a2',
        type: 'Bounce',
        response: bounce,
        headers: headers(1),
        recipient: 'r1@example.test',
      },
      // Records of incoming mail carry that mail's headers: an ARF report names our message in its embedded
      // original, an out-of-band bounce by the VERP address it was sent to (the record's `sender`).
      {
        ...delivery,
        id: 'a3',
        type: 'Feedback',
        feedback_report: {
          feedback_type: 'abuse',
          original_message: `X-Campaign-Message-Id: ${d.ids[2]}\nSubject: hi\n\nbody\n`,
        },
        headers: { Subject: 'FW: abuse report' },
      },
      {
        ...delivery,
        id: 'a4',
        type: 'OOB',
        sender: envelopeSender('news@x.test', 'bounces.x.test', d.ids[3]!),
        response: overQuota,
        headers: {},
      },
      { ...delivery, id: 'a1', type: 'TransientFailure', headers: headers(0) },
    ];
    const res = await post('kumomta', records.map((r) => JSON.stringify(r)).join('\n'), {
      'x-feedback-token': TOKEN,
    });
    // The TransientFailure of message 0 is `delayed`; its Delivery of the same second wins.
    expect(res).toMatchObject({ status: 200, body: { accepted: 5, ignored: 0 } });
    await waitRecorded(d.id, 5);
    // The out-of-band 552 5.2.2 over quota is a soft failure: failed under EFS, with a retry due.
    expect((await logs(d.id)).map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
      ['sent', null, null],
      ['failed', 'hard', 'user unknown'],
      ['pending', null, null],
      ['failed', 'soft', 'mailbox full'],
    ]);
    expect(await status(d.id)).toMatchObject({ delivered: 1, bouncesAndErrors: 2, complaints: 1 });
  });
});

describe("the providers' own delay events", () => {
  test('SparkPost delay, SES DeliveryDelay and KumoMTA TransientFailure are `delayed`: no retry of ours, failed at the validity end unless a later word comes (EFS on)', async () => {
    const d = await sentDelivery(3, '--efs', '--validity', '6s', '--retry-interval', '1s');
    const now = Math.floor(Date.now() / 1000);
    const sparkDelay = json('sparkpost-events.json')[3].msys.message_event;
    expect(sparkDelay.type).toBe('delay');
    const spark = [
      {
        msys: {
          message_event: {
            ...sparkDelay,
            event_id: `delay-${d.id}`,
            timestamp: String(now),
            rcpt_meta: { campaign_message_id: d.ids[0] },
            rcpt_to: 'r0@example.test',
          },
        },
      },
    ];
    expect(await post('sparkpost', JSON.stringify(spark), bearer)).toMatchObject({
      status: 200,
      body: { accepted: 1, ignored: 0 },
    });
    const ses = snsNotification('deliveryDelay', d.ids[1]!, '1', 'r1@example.test');
    const n = JSON.parse(ses.Message!);
    n.deliveryDelay.timestamp = new Date(now * 1000).toISOString();
    expect(await post('ses', JSON.stringify(sign({ ...ses, Message: JSON.stringify(n) })))).toMatchObject({
      status: 200,
      body: { accepted: 1 },
    });
    const { delivery } = json('kumomta-log-records.json');
    const deferred = {
      ...delivery,
      id: `kumo-${d.id}`,
      type: 'TransientFailure',
      timestamp: now,
      num_attempts: 1,
      recipient: 'r2@example.test',
      headers: { 'X-Campaign-Message-Id': d.ids[2] },
      response: { code: 452, enhanced_code: { class: 4, subject: 2, detail: 2 }, content: 'mailbox full' },
    };
    expect(await post('kumomta', JSON.stringify(deferred), bearer)).toMatchObject({
      status: 200,
      body: { accepted: 1, ignored: 0 },
    });
    await waitRecorded(d.id, 3);
    const rows = () =>
      t.sql`select status, attempts, outcome_kind, retry_at from delivery_logs where delivery_id = ${d.id} order by seq`;
    // With EFS a delay counts as a failure until the provider's last word; none schedules a retry of ours.
    expect((await rows()).map((r) => [r.status, r.outcome_kind, r.retry_at])).toEqual([
      ['failed', 'delayed', null],
      ['failed', 'delayed', null],
      ['failed', 'delayed', null],
    ]);
    // KumoMTA's later Delivery of message 2 is its last word: delivered.
    const delivered = {
      ...deferred,
      type: 'Delivery',
      timestamp: now + 1,
      num_attempts: 2,
      response: delivery.response,
    };
    expect((await post('kumomta', JSON.stringify(delivered), bearer)).status).toBe(200);
    await waitRecorded(d.id, 4);
    await waitFor(async () => (await status(d.id)).state === 'finished', 60_000, 'the validity end');
    expect((await logs(d.id)).map((l) => [l.status, l.failureType])).toEqual([
      ['failed', 'soft'],
      ['failed', 'soft'],
      ['sent', null],
    ]);
    expect((await rows()).map((r) => r.attempts)).toEqual([1, 1, 1]);
    expect(mta.received.filter((m) => d.ids.includes(m.messageId ?? ''))).toHaveLength(3);
    expect(await status(d.id)).toMatchObject({ delivered: 1, bouncesAndErrors: 2 });
  });
});

describe('generic endpoint and DSN mail', () => {
  // The RFC's DSN names its own recipient (Original- and Final-Recipient); ours must be the message's, which is
  // checked.
  const dsnFor = (messageId: string, recipient: string) =>
    fixture('rfc3464-simple-dsn.eml')
      .replaceAll('Recipient: rfc822;louisl@larry.slip.umd.edu', `Recipient: rfc822;${recipient}`)
      .replace('<199407072116.RAA14128@CS.UTK.EDU>', `<dsn-${messageId}>`)
      .replace(
        '[original message goes here]',
        `Message-ID: <${messageId}>\r\nX-Campaign-Message-Id: ${messageId}\r\nSubject: hi\r\n\r\nbody`,
      );

  test("the contract's own events pass through", async () => {
    const d = await sentDelivery(1, '--efs');
    const events = [
      { eventId: 'gen-1', messageId: d.ids[0], type: 'delivered', occurredAt: '2026-11-24T10:00:00Z' },
    ];
    expect((await post('generic', JSON.stringify({ events }), bearer)).status).toBe(200);
    await waitRecorded(d.id, 1);
    expect((await logs(d.id))[0]!.status).toBe('sent');
  });

  test('a DSN for a soft failure (the RFC example: failed, 4.0.0) leads to a retry', async () => {
    const d = await sentDelivery(2, '--retry-interval', '1s');
    const res = await post('generic', dsnFor(d.ids[0]!, 'r0@example.test'), {
      ...bearer,
      'content-type': 'message/rfc822',
    });
    expect(res).toMatchObject({ status: 200, body: { accepted: 1 } });
    // Through the command line too, from a file.
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'dsn-')), 'bounce.eml');
    writeFileSync(file, dsnFor(d.ids[1]!, 'r1@example.test'));
    const fed = await cli(t.env, 'feedback', 'dsn', file, '--json');
    expect(fed.json()).toMatchObject({ accepted: 1, ignored: 0 });
    // The second attempt of each message reaches the MTA.
    // Attempt 2 of each (its token is its own, so only the prefix is known here).
    const second = d.ids.map((id) => `2.${id.split('.')[1]}.${d.id}.`);
    await waitFor(
      async () => second.every((p) => mta.received.some((m) => m.messageId?.startsWith(p))),
      20_000,
      'the retries at the MTA',
    );
    expect((await logs(d.id)).map((l) => l.failureType)).toEqual(['soft', 'soft']);
  });

  test('with --return-path-domain the envelope sender names the message (VERP), and a DSN quoting nothing is matched by it', async () => {
    const d = await sentDelivery(1, '--return-path-domain', 'bounces.example.test');
    const verp = `bounces+${d.ids[0]!.replace('@', '=')}@bounces.example.test`;
    expect(mta.received.find((m) => m.messageId === d.ids[0])?.from).toBe(verp);
    // The RFC's own DSN, its original message part left as the RFC has it, sent back to the VERP address.
    const dsn = fixture('rfc3464-simple-dsn.eml')
      .replace('<199407072116.RAA14128@CS.UTK.EDU>', `<verp-${d.id}@mx.test>`)
      .replace('To: <owner-info-mime@cs.utk.edu>', `To: <${verp}>`)
      .replaceAll('Recipient: rfc822;louisl@larry.slip.umd.edu', 'Recipient: rfc822;r0@example.test');
    const res = await post('generic', dsn, { ...bearer, 'content-type': 'multipart/report' });
    expect(res).toMatchObject({ status: 200, body: { accepted: 1 } });
    await waitRecorded(d.id, 1);
    expect((await logs(d.id))[0]).toMatchObject({ failureType: 'soft' });
  });

  test('a mail that is no DSN is refused by the command line with one line', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'dsn-')), 'note.eml');
    writeFileSync(file, 'Subject: hello\r\n\r\njust a note\r\n');
    const r = await cli(t.env, 'feedback', 'dsn', file);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/not a bounce, complaint or auto-reply: no failed recipient found$/);
  });
});

describe('complaints on mta-feedback (the contract shape, through the generic endpoint)', () => {
  const complaint = (eventId: string, messageId: string) => ({
    eventId,
    messageId,
    type: 'complaint',
    occurredAt: '2026-11-24T11:00:00Z',
  });
  const feed = async (events: unknown[]) => {
    const res = await post('generic', JSON.stringify({ events }), bearer);
    expect(res.status).toBe(200);
    const producer = testQueue(t, feedbackQueue.name);
    try {
      return (await jobOutcome(producer.queue, (res.body.jobIds as string[])[0]!)).value;
    } finally {
      await producer.close();
    }
  };

  test.each([
    ['without EFS', [], 'sent'],
    ['with EFS', ['--efs'], 'pending'],
  ])(
    '%s: quarantined at once as "on denylist", log status unchanged, counted once a message',
    async (_, options, logStatus) => {
      const d = await sentDelivery(2, ...(options as string[]));
      const tag = d.id;
      expect(
        await feed([complaint(`c-${tag}-1`, d.ids[0]!), complaint(`c-${tag}-1`, d.ids[0]!)]),
      ).toMatchObject({
        applied: 1,
        duplicate: 1,
      });
      // A second report about the same message (another feedback loop) is kept but not counted again.
      expect(await feed([complaint(`c-${tag}-2`, d.ids[0]!)])).toMatchObject({ applied: 1 });
      expect((await logs(d.id)).map((l) => l.status)).toEqual([logStatus, logStatus]);
      expect(await quarantineReason('r0@example.test')).toBe('on denylist');
      expect(await quarantineReason('r1@example.test')).toBeUndefined();
      expect(await status(d.id)).toMatchObject({ complaints: 1 });
    },
  );

  test('a complaint about a message this system never sent is kept as a dead letter', async () => {
    expect(await feed([complaint('c-unknown', '1.0.999999.abcdef@x.test')])).toMatchObject({ unknown: 1 });
    const [letter] = await t.sql`select reason from dead_letters where payload->>'eventId' = 'c-unknown'`;
    expect(letter!.reason).toContain('unknown message');
  });
});
