// Providers that classify bounces themselves: their documented classes become reasons, and each provider's payload
// ends with the type its reason decides, through the feedback worker's own classifier. Pure: no servers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envelopeSender } from '../shared/message-id';
import { prepareEvent } from '../workers/feedback/handler';
import { translateKumo } from '../workers/servers/feedback-http/kumomta';
import { translateSes } from '../workers/servers/feedback-http/ses';
import { translateSparkPost } from '../workers/servers/feedback-http/sparkpost';
import type { ContractEvent } from '../workers/servers/feedback-http/translate';

const json = (name: string) =>
  JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'feedback-http', name), 'utf8'));
const ours = '1.4.9.abcdef@x.test';

/** What the feedback worker makes of a translated event: its kind (hard, soft, ignored) and reason. */
function classified(event: ContractEvent | undefined) {
  const prepared = prepareEvent(event, 'job-1', () => {});
  if ('dead' in prepared) throw new Error(prepared.dead.reason);
  return { type: prepared.event.kind, reason: prepared.event.failureReason };
}

describe("SparkPost's bounce classification codes", () => {
  const bounce = json('sparkpost-events.json')[1].msys.message_event;
  const withClass = (cls: string, raw_reason?: string) =>
    translateSparkPost([
      {
        msys: {
          message_event: {
            ...bounce,
            bounce_class: cls,
            raw_reason,
            rcpt_meta: { campaign_message_id: ours },
          },
        },
      },
    ]).feedback[0];

  // biome-ignore format: one class per row reads as SparkPost's table
  test.each([
    ['10', 'Invalid Recipient', 'hard_bounce', 'user unknown'],
    ['21', 'DNS Failure', 'soft_bounce', 'unreachable'],
    ['22', 'Mailbox Full', 'soft_bounce', 'mailbox full'],
    ['23', 'Too Large', 'soft_bounce', 'message too large'],
    ['24', 'Timeout', 'soft_bounce', 'unreachable'],
    ['25', 'Admin Failure', 'hard_bounce', 'not defined'],
    ['30', 'Generic Bounce: No RCPT', 'hard_bounce', 'not defined'],
    ['40', 'Generic Bounce', 'soft_bounce', 'not defined'],
    ['50', 'Mail Block', 'soft_bounce', 'spam rejection'],
    ['51', 'Spam Block', 'soft_bounce', 'spam rejection'],
    ['52', 'Spam Content', 'soft_bounce', 'spam rejection'],
    ['53', 'Prohibited Attachment', 'soft_bounce', 'refused'],
    ['54', 'Relaying Denied', 'soft_bounce', 'refused'],
    ['60', 'Auto-Reply', 'soft_bounce', 'out of office'],
    ['90', 'Unsubscribe', 'hard_bounce', 'on denylist'],
    ['1', 'Undetermined', 'soft_bounce', 'not defined'],
  ])('class %s (%s) is a %s with reason %s', (cls, _name, type, reason) => {
    expect(withClass(cls)).toMatchObject({ type, reason });
  });

  test('a subscribe request (80) is no failure at all', () => {
    expect(
      translateSparkPost([{ msys: { message_event: { ...bounce, bounce_class: '80' } } }]),
    ).toMatchObject({
      feedback: [],
      ignored: 1,
    });
  });

  // biome-ignore format: one case per row reads as a table
  test.each([
    { proves: 'class 22 with a 552 5.2.2 reply is soft', cls: '22', raw: '552 5.2.2 The email account that you tried to reach is over quota.', type: 'soft', reason: 'mailbox full' },
    { proves: 'class 10 is hard', cls: '10', raw: '550 5.1.1 The email account that you tried to reach does not exist.', type: 'hard', reason: 'user unknown' },
    { proves: "class 40 (generic) leaves the reason to the reply: 552 5.2.2 is soft", cls: '40', raw: '552 5.2.2 Mailbox full', type: 'soft', reason: 'mailbox full' },
    { proves: 'class 51 on a 554 is soft: the sender is blocked, not the address', cls: '51', raw: '554 5.7.1 Service unavailable; Client host blocked using Spamhaus', type: 'soft', reason: 'spam rejection' },
    { proves: 'class 60 is ignored, whatever the code', cls: '60', raw: '550 I am away', type: 'ignored', reason: 'out of office' },
  ])('through the worker: $proves', ({ cls, raw, type, reason }) => {
    expect(classified(withClass(cls, raw))).toEqual({ type, reason });
  });
});

describe("SES's bounce types and subtypes", () => {
  const { bounce } = json('ses-notifications.json');
  const ses = (bounceType: string, bounceSubType: string, recipient: Record<string, unknown> = {}) =>
    translateSes(
      {
        ...bounce,
        mail: { ...bounce.mail, headers: [{ name: 'X-Campaign-Message-Id', value: ours }] },
        bounce: { ...bounce.bounce, bounceType, bounceSubType, bouncedRecipients: [recipient] },
      },
      'sns-1',
    ).feedback[0];

  // biome-ignore format: one subtype per row reads as SES's table
  test.each([
    ['Undetermined', 'Undetermined', {}, 'soft', 'not defined'],
    ['Permanent', 'General', {}, 'hard', 'not defined'],
    ['Permanent', 'General', { status: '5.2.2', diagnosticCode: 'smtp; 552 5.2.2 Mailbox full' }, 'soft', 'mailbox full'],
    ['Permanent', 'NoEmail', {}, 'hard', 'user unknown'],
    ['Permanent', 'Suppressed', { status: '5.1.1', diagnosticCode: 'Amazon SES has suppressed sending to this address because it has a recent history of bouncing as an invalid address.' }, 'hard', 'user unknown'],
    ['Permanent', 'OnAccountSuppressionList', {}, 'hard', 'not defined'],
    ['Transient', 'General', {}, 'soft', 'not defined'],
    ['Transient', 'MailboxFull', {}, 'soft', 'mailbox full'],
    ['Transient', 'MessageTooLarge', { status: '4.3.4' }, 'soft', 'message too large'],
    ['Transient', 'ContentRejected', {}, 'soft', 'spam rejection'],
    ['Transient', 'AttachmentRejected', {}, 'soft', 'refused'],
  ])('%s/%s %j ends %s, %s', (bounceType, subType, recipient, type, reason) => {
    expect(classified(ses(bounceType, subType, recipient))).toEqual({ type, reason });
  });
});

describe('KumoMTA', () => {
  const { delivery } = json('kumomta-log-records.json');
  const overQuota = {
    code: 552,
    enhanced_code: { class: 5, subject: 2, detail: 2 },
    content: '5.2.2 over quota',
  };
  const verp = envelopeSender('news@x.test', 'bounces.x.test', ours);

  test('an out-of-band 552 5.2.2 over quota ends soft, matched by the VERP address it was sent to', () => {
    // KumoMTA logs an OOB record per failed recipient of the incoming report: `sender` is the report's envelope
    // recipient (our return path), `headers` those of the report, never ours.
    const oob = {
      ...delivery,
      type: 'OOB',
      sender: verp,
      recipient: 'r0@example.test',
      response: overQuota,
      headers: {},
    };
    const [event] = translateKumo([oob]).feedback;
    expect(event).toMatchObject({
      type: 'hard_bounce',
      messageId: ours,
      smtpCode: 552,
      enhancedStatus: '5.2.2',
    });
    expect(classified(event)).toEqual({ type: 'soft', reason: 'mailbox full' });
  });

  test('a Feedback record finds our id in the original message embedded in the ARF report', () => {
    const original = `From: <news@x.test>\nX-Campaign-Message-Id: ${ours}\nMessage-ID: <${ours}>\nSubject: hi\n\nbody\n`;
    const feedback = {
      ...delivery,
      type: 'Feedback',
      sender: 'fbl@isp.example',
      headers: { Subject: 'Abuse report' },
      feedback_report: { feedback_type: 'abuse', original_message: original },
    };
    expect(translateKumo([feedback]).feedback[0]).toMatchObject({ type: 'complaint', messageId: ours });
    // Without it, the record keeps KumoMTA's id and the worker dead-letters it as an unknown message.
    const bare = { ...feedback, feedback_report: { feedback_type: 'abuse' } };
    expect(translateKumo([bare]).feedback[0]!.messageId).toBe(`kumomta:${delivery.id}`);
  });

  // biome-ignore format: one class per row reads as a table
  test.each([
    ['QuotaIssues', { code: 550, content: 'rejected' }, 'soft', 'mailbox full'],
    ['InvalidRecipient', { code: 550, content: 'rejected' }, 'hard', 'user unknown'],
    ['InactiveMailbox', { code: 550, content: 'rejected' }, 'hard', 'account disabled'],
    ['SpamBlock', { code: 554, content: 'rejected' }, 'soft', 'spam rejection'],
    ['PolicyRelated', { code: 550, content: 'rejected' }, 'soft', 'refused'],
    ['InvalidRecipient', { code: 450, content: 'try again' }, 'soft', 'user unknown'],
    ['Uncategorized', overQuota, 'soft', 'mailbox full'],
  ])('a Bounce classified %s (%j) ends %s, %s', (bounce_classification, response, type, reason) => {
    const record = { ...delivery, type: 'Bounce', bounce_classification, response, headers: { 'X-Campaign-Message-Id': ours } };
    expect(classified(translateKumo([record]).feedback[0])).toEqual({ type, reason });
  });
});

test("the contract's own hard_bounce with 552 5.2.2 mailbox full ends soft", () => {
  const event = {
    eventId: 'e-1',
    messageId: ours,
    type: 'hard_bounce',
    occurredAt: '2026-11-24T10:00:00Z',
  } as const;
  expect(
    classified({ ...event, smtpCode: 552, enhancedStatus: '5.2.2', diagnostic: 'mailbox full' }),
  ).toEqual({
    type: 'soft',
    reason: 'mailbox full',
  });
});
