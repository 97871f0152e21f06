// The bounce mailbox end to end: a real SMTP client (nodemailer) delivers bounce mails in the shapes Postfix,
// Exim, a feedback loop (ARF) and an auto-responder send to the return path; the log and the tile are read back.
import { connect } from 'node:net';
import { recordDeadLetters } from '../db/dead-letters';
import { dsnRequest } from '../shared/message-id';
import { smtpTransport } from '../workers/mta/smtp-pool';
import { deadLetterPayload } from '../workers/servers/bounces/receive';
import type { PipelineProcess } from '../workers/start/process';
import {
  BOUNCE_DOMAIN,
  bounceMail,
  deliverBounce,
  type Sent,
  sentDelivery as sentDelivery_,
} from './helpers/bounce-mail';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

const DOMAIN = BOUNCE_DOMAIN;
const FBL = `fbl@${DOMAIN}`;

let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ MTA_URL: mta.url, BOUNCE_ADDRESSES: FBL, BOUNCE_MAX_SIZE: '65536' });
  pipeline = await startPipeline(t, { roles: ['confirm', 'dispatch', 'feedback', 'retry', 'bounces'] });
  await addOperator(t, 'alice');
});

// Tests reuse addresses (r0@example.test…): one test's user unknown must not exclude the next one's recipient.
beforeEach(async () => {
  await t.sql`delete from quarantine`;
});

afterAll(async () => {
  await pipeline?.stop();
  await mta.close();
  await t.cleanup();
});

const sentDelivery = (count: number, ...options: string[]) => sentDelivery_(t, mta, count, ...options);
const mail = (name: string, s: Sent) => bounceMail(name, s, FBL);
const deliver = (raw: string, to: string | string[]) => deliverBounce(pipeline, raw, to);

const logs = async (id: string) =>
  (await cli(t.env, 'logs', id, '--json')).json<
    { email: string; status: string; failureType: string | null; failureReason: string | null }[]
  >();
const status = async (id: string) =>
  (await cli(t.env, 'status', id, '--json')).json<Record<string, unknown>>();
const events = async (id: string) =>
  (await t.sql`select count(*)::int as n from feedback_events where delivery_id = ${id}`)[0]!.n as number;
const bounceDeadLetters = async () =>
  (await cli(t.env, 'dead-letters', '--queue', 'bounces', '--json')).json<
    { reason: string; payload: { raw?: string; rcptTo: string[] } }[]
  >();

test('the dispatch asks an MTA that offers DSN for every report, naming the message (ENVID, ORCPT, RET=HDRS)', async () => {
  const efs = await sentDelivery(1, '--efs');
  const plain = await sentDelivery(1);
  const dsnOf = (id: string) => mta.received.find((m) => m.messageId === id)!.dsn;
  expect(dsnOf(efs.sent[0]!.id)).toEqual({
    ret: 'HDRS',
    envid: efs.sent[0]!.id,
    notify: ['SUCCESS', 'FAILURE', 'DELAY'],
    orcpt: `rfc822;${efs.sent[0]!.email}`,
  });
  // Without EFS a success report would change nothing: failures and delays only.
  expect(dsnOf(plain.sent[0]!.id).notify).toEqual(['FAILURE', 'DELAY']);
  expect(efs.sent[0]!.verp).toBe(`bounces+${efs.sent[0]!.id.replace('@', '=')}@${DOMAIN}`);
});

test('an MTA without the DSN extension gets the same message, without DSN parameters', async () => {
  const plainMta = await startTestMta(() => undefined, { hideDSN: true });
  const transport = smtpTransport(plainMta.url, { poolSize: 1 });
  try {
    const id = '1.0.1.0123456789ab@shop.test';
    const raw = Buffer.from(`X-Campaign-Message-Id: ${id}\r\nSubject: hi\r\n\r\nhello\r\n`);
    const result = await transport.send(
      { from: 'news@shop.test', to: 'r0@example.test', dsn: dsnRequest(id, 'r0@example.test', true) },
      raw,
    );
    expect(result).toEqual({ ok: true });
    expect(plainMta.received.map((m) => m.dsn)).toEqual([
      { ret: null, envid: null, notify: null, orcpt: null },
    ]);
  } finally {
    await transport.close();
    await plainMta.close();
  }
});

test('a recipient this system did not hand out is refused with 550 and a reason; nothing is kept', async () => {
  const d = await sentDelivery(1, '--efs');
  const s = d.sent[0]!;
  const raw = mail('postfix-failed.eml', s);
  const forged = s.verp.replace(/\.[0-9a-f]{6,32}=/, '.0123456789ab=');
  for (const to of [
    'postmaster@elsewhere.test',
    `bounces+nothing@${DOMAIN}`,
    forged,
    s.verp.replace(DOMAIN, 'other.test'),
  ]) {
    const r = await deliver(raw, to);
    expect(r).toMatchObject({ ok: false, code: 550 });
    expect(r.response).toMatch(/no such address/);
  }
  expect(await events(d.id)).toBe(0);
  expect(await bounceDeadLetters()).toEqual([]);
});

test('Postfix and Exim DSNs (failed, relayed, delayed, expired) reach the log and the tile; no retry doubles the MTA’s', async () => {
  const d = await sentDelivery(5, '--efs', '--retry-interval', '1s');
  const [unknown, full, delivered, delayed, expired] = d.sent as [Sent, Sent, Sent, Sent, Sent];
  // The MTA's final word after its own retries ran out (Postfix: 4.4.7 after maximal_queue_lifetime).
  const expiredMail = mail('postfix-delayed.eml', expired)
    .replace('Action: delayed', 'Action: failed')
    .replace('Subject: Delayed Mail (still being retried)', 'Subject: Undelivered Mail Returned to Sender');
  const answers = [
    await deliver(mail('postfix-failed.eml', unknown), unknown.verp),
    await deliver(mail('exim-failed.eml', full), full.verp),
    await deliver(mail('postfix-delivered.eml', delivered), delivered.verp),
    await deliver(mail('postfix-delayed.eml', delayed), delayed.verp),
    await deliver(expiredMail, expired.verp),
  ];
  for (const a of answers)
    expect(a).toMatchObject({ ok: true, response: expect.stringMatching(/^250 .*1 feedback events queued/) });
  await waitFor(async () => (await events(d.id)) === 5, 20_000, 'five events applied');
  const rows = await logs(d.id);
  // The Exim 552 5.2.2 under a vague Status 5.0.0 is soft: the reason decides the type.
  expect(rows.map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
    ['failed', 'hard', 'user unknown'],
    ['failed', 'soft', 'mailbox full'],
    ['sent', null, null],
    ['failed', 'soft', 'mailbox full'],
    ['failed', 'soft', 'mailbox full'],
  ]);
  expect(await status(d.id)).toMatchObject({ sent: 5, delivered: 1, bouncesAndErrors: 4 });
  // The expired message is ours to retry, in the same retry job the delayed one would share: it comes,
  // the delayed one (still in the MTA's queue) is not sent again.
  await waitFor(
    async () => mta.received.some((m) => m.to[0] === expired.email && m.messageId?.startsWith('2.')),
    20_000,
    'the retry of the expired message',
  );
  const delayedRow =
    await t.sql`select attempts, retry_at from delivery_logs where delivery_id = ${d.id} and seq = 3`;
  expect(delayedRow[0]).toMatchObject({ attempts: 1, retry_at: null });
  expect(
    mta.received.filter((m) => m.to[0] === delayed.email && m.messageId?.split('.')[2] === d.id),
  ).toHaveLength(1);
});

test('the same bounce mail delivered twice (a 250 lost on the way back) is applied once', async () => {
  const d = await sentDelivery(1, '--efs');
  const s = d.sent[0]!;
  const raw = mail('postfix-failed.eml', s);
  expect(await deliver(raw, s.verp)).toMatchObject({ ok: true });
  expect(await deliver(raw, s.verp)).toMatchObject({ ok: true });
  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the event applied');
  expect(await status(d.id)).toMatchObject({ delivered: 0, bouncesAndErrors: 1 });
});

test('an ARF complaint (to the feedback-loop address) quarantines the address; an auto-reply is no failure', async () => {
  const d = await sentDelivery(2, '--efs');
  const [complained, away] = d.sent as [Sent, Sent];
  for (const answer of [
    await deliver(mail('arf-complaint.eml', complained), FBL),
    await deliver(mail('auto-reply.eml', away), away.verp),
  ])
    expect(answer).toMatchObject({ ok: true, response: expect.stringMatching(/1 feedback events queued/) });
  await waitFor(async () => (await events(d.id)) === 2, 20_000, 'both events applied');
  expect(await status(d.id)).toMatchObject({ complaints: 1, delivered: 1, bouncesAndErrors: 0 });
  // The complaint keeps the message's status (pending with EFS); the out-of-office answer proves delivery.
  expect((await logs(d.id)).map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
    ['pending', null, null],
    ['sent', 'ignored', 'out of office'],
  ]);
  const [q] =
    await t.sql`select reason from quarantine where email = ${complained.email} and quarantined_at is not null`;
  expect(q?.reason).toBe('on denylist');
  expect(await bounceDeadLetters()).toEqual([]);
});

test('a DSN after an alias expansion (Final-Recipient the expanded address) is matched by Original-Recipient', async () => {
  const d = await sentDelivery(1, '--efs');
  const s = d.sent[0]!;
  // The dispatch gave ORCPT=rfc822;<recipient>, which the MTA reports back as Original-Recipient.
  const raw = mail('postfix-failed.eml', s).replace(
    `Final-Recipient: rfc822; ${s.email}`,
    'Final-Recipient: rfc822; mailbox-7@store.example.test',
  );
  expect(raw).toContain('mailbox-7@store.example.test');
  expect(await deliver(raw, s.verp)).toMatchObject({ ok: true });
  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the event applied');
  expect((await logs(d.id)).map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
    ['failed', 'hard', 'user unknown'],
  ]);
  const [dead] =
    await t.sql`select count(*)::int as n from dead_letters where reason like 'recipient mismatch%'`;
  expect(dead!.n).toBe(0);
});

test('a mail sent to several return paths at once yields one event per recipient, each on its own message', async () => {
  const d = await sentDelivery(3, '--efs');
  const [a, b, c] = d.sent as [Sent, Sent, Sent];
  // One report for a and b (a gateway batching them), quoting a's headers only; c's return path is not in it.
  const second = [
    '',
    `Final-Recipient: rfc822; ${b.email}`,
    `Original-Recipient: rfc822;${b.email}`,
    'Action: failed',
    'Status: 5.2.2',
    'Diagnostic-Code: smtp; 552 5.2.2 <mailbox full>',
  ].join('\r\n');
  const raw = mail('postfix-failed.eml', a).replace(
    /(Diagnostic-Code: smtp; 550 5\.1\.1 [^\r]*\r\n[^\r]*)/,
    (m) => `${m}\r\n${second}`,
  );
  expect(raw).toContain(`Final-Recipient: rfc822; ${b.email}`);
  expect(await deliver(raw, [a.verp, b.verp])).toMatchObject({
    ok: true,
    response: expect.stringMatching(/2 feedback events queued/),
  });
  await waitFor(async () => (await events(d.id)) === 2, 20_000, 'both events applied');
  expect((await logs(d.id)).map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
    ['failed', 'hard', 'user unknown'],
    ['failed', 'soft', 'mailbox full'],
    ['pending', null, null],
  ]);
  expect(c.email).not.toBe(b.email);
  const [dead] =
    await t.sql`select count(*)::int as n from dead_letters where reason like 'recipient mismatch%'`;
  expect(dead!.n).toBe(0);
});

test('a mail it cannot read is kept as a dead letter with its reason, after the 250', async () => {
  const d = await sentDelivery(1, '--efs');
  const s = d.sent[0]!;
  const raw = `From: someone@example.test\r\nTo: ${s.verp}\r\nSubject: hello\r\nMessage-ID: <x-${s.id}>\r\n\r\nJust a note.\r\n`;
  expect(await deliver(raw, s.verp)).toMatchObject({
    ok: true,
    response: expect.stringMatching(/dead letter/),
  });
  const kept = (await bounceDeadLetters()).filter((k) => k.payload.raw?.includes(`x-${s.id}`));
  expect(kept).toHaveLength(1);
  expect(kept[0]!.reason).toMatch(/^unreadable bounce mail: |nothing/);
  expect(kept[0]!.payload.rcptTo).toEqual([s.verp]);
  expect(await status(d.id)).toMatchObject({ delivered: 0, bouncesAndErrors: 0 });
});

test('dead-letters replay reads a kept mail again: its events are applied once; a mail still unreadable stays kept', async () => {
  const d = await sentDelivery(2, '--efs');
  const [first, second] = d.sent as [Sent, Sent];
  // A reader that did not know the format kept them, as the mailbox keeps what it cannot read: one as text, one
  // (not UTF-8) as base64. Today's reader knows the Postfix DSN.
  const postfix = Buffer.from(mail('postfix-failed.eml', first));
  const latin1 = Buffer.from(
    mail('postfix-failed.eml', second).replace('The mail system', 'Le syst\u00e8me'),
    'latin1',
  );
  const unreadable = Buffer.from(
    `From: someone@example.test\r\nSubject: hello\r\nMessage-ID: <r-${second.id}>\r\n\r\nHi.\r\n`,
  );
  await recordDeadLetters(t.sql, [
    {
      queue: 'bounces',
      jobId: `mail-a-${d.id}`,
      reason: 'unreadable bounce mail: (an older reader)',
      payload: deadLetterPayload({ raw: postfix, mailFrom: '', rcptTo: [first.verp] }),
    },
    {
      queue: 'bounces',
      jobId: `mail-b-${d.id}`,
      reason: 'unreadable bounce mail: (an older reader)',
      payload: deadLetterPayload({ raw: latin1, mailFrom: '', rcptTo: [second.verp] }),
    },
    {
      queue: 'bounces',
      jobId: `mail-c-${d.id}`,
      reason: 'unreadable bounce mail: (an older reader)',
      payload: deadLetterPayload({ raw: unreadable, mailFrom: '', rcptTo: [second.verp] }),
    },
  ]);
  const kept = (await cli(t.env, 'dead-letters', '--queue', 'bounces', '--json')).json<
    { id: string; jobId: string; payload: Record<string, unknown> }[]
  >();
  const idOf = (suffix: string) => kept.find((k) => k.jobId === `mail-${suffix}-${d.id}`)!.id;
  expect(kept.find((k) => k.jobId === `mail-b-${d.id}`)!.payload.rawBase64).toBeDefined();

  for (const suffix of ['a', 'b']) {
    const r = await cli(t.env, 'dead-letters', 'replay', idOf(suffix), '--json');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      id: idOf(suffix),
      queue: 'mta-feedback',
      events: 1,
      jobIds: [expect.any(String)],
    });
  }
  await waitFor(async () => (await events(d.id)) === 2, 20_000, 'the replayed events applied');
  expect((await logs(d.id)).map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
    ['failed', 'hard', 'user unknown'],
    ['failed', 'hard', 'user unknown'],
  ]);
  expect(await status(d.id)).toMatchObject({ delivered: 0, bouncesAndErrors: 2 });

  // Replayed once only; a mail that still reports nothing is refused with the reason and stays kept.
  const again = await cli(t.env, 'dead-letters', 'replay', idOf('a'));
  expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/was replayed already/)]);
  const still = await cli(t.env, 'dead-letters', 'replay', idOf('c'));
  expect(still.code).toBe(1);
  expect(still.stderr).toMatch(
    /^campaign: dead letter \d+ is still no mail to act on: .+; nothing enqueued, it stays kept\n$/,
  );
  const left = (await bounceDeadLetters()).map((k) => k.payload.raw ?? '');
  expect(left.some((raw) => raw.includes(`r-${second.id}`))).toBe(true);
  expect(await events(d.id)).toBe(2);
});

test('a mail over BOUNCE_MAX_SIZE is refused with 552 and not kept', async () => {
  const d = await sentDelivery(1, '--efs');
  const s = d.sent[0]!;
  const before = (await bounceDeadLetters()).length;
  const big = `${mail('postfix-failed.eml', s).replace(/--\r\n$/, '')}\r\n${'x'.repeat(76)}\r\n`.repeat(1);
  const raw = big + `${'y'.repeat(998)}\r\n`.repeat(80);
  expect(await deliver(raw, s.verp)).toMatchObject({ ok: false, code: 552 });
  expect((await bounceDeadLetters()).length).toBe(before);
  expect(await events(d.id)).toBe(0);
});

test('/readyz names the bounce mailbox', async () => {
  const res = await fetch(`http://127.0.0.1:${pipeline.port()}/readyz`);
  expect(await res.json()).toMatchObject({ bounces: 'ok', postgres: 'ok', redis: 'ok' });
});

/** A raw SMTP session, to hold a mail half-sent while the process shuts down. */
async function openSession(port: number) {
  const socket = connect(port, '127.0.0.1');
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (buffer += d));
  const reply = async () => {
    const line = await waitFor(
      async () => {
        const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer);
        if (!m) return null;
        buffer = buffer.slice(m.index + m[0].length);
        return m[0].trim();
      },
      10_000,
      'an SMTP reply',
    );
    return line;
  };
  return {
    reply,
    async command(text: string) {
      socket.write(`${text}\r\n`);
      return reply();
    },
    write: (text: string) => socket.write(text),
    close: () => socket.destroy(),
  };
}

test('SIGTERM (stop): a mail in the middle of DATA is still stored and answered 250, then the mailbox closes', async () => {
  const d = await sentDelivery(1, '--efs');
  const s = d.sent[0]!;
  const session = await openSession(pipeline.bouncePort()!);
  expect(await session.reply()).toMatch(/^220 /);
  expect(await session.command('EHLO mx.sender.test')).toMatch(/^250 /);
  expect(await session.command('MAIL FROM:<>')).toMatch(/^250 /);
  expect(await session.command(`RCPT TO:<${s.verp}>`)).toMatch(/^250 /);
  expect(await session.command('DATA')).toMatch(/^354 /);
  const raw = mail('postfix-failed.eml', s);
  session.write(raw.slice(0, 200));
  const stopped = pipeline.stop();
  session.write(`${raw.slice(200)}\r\n.\r\n`);
  expect(await session.reply()).toMatch(/^250 .*feedback events queued/);
  session.close();
  await stopped;
  // The job was in Redis before the 250: a new process applies it.
  pipeline = await startPipeline(t, { roles: ['confirm', 'dispatch', 'feedback', 'retry', 'bounces'] });
  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the event applied after the restart');
  expect(await status(d.id)).toMatchObject({ bouncesAndErrors: 1 });
});
