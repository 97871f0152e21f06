// The provider translators, on the providers' documented payloads (test/fixtures/feedback-http): pure, no servers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envelopeSender, parseVerp } from '../shared/message-id';
import { translateDsn } from '../workers/servers/feedback-http/dsn';
import { translateKumo } from '../workers/servers/feedback-http/kumomta';
import { translateSes } from '../workers/servers/feedback-http/ses';
import {
  allowedCertUrl,
  allowedSubscribeUrl,
  readSnsMessage,
  stringToSign,
} from '../workers/servers/feedback-http/sns';
import { translateSparkPost } from '../workers/servers/feedback-http/sparkpost';
import { BadPayload } from '../workers/servers/feedback-http/translate';

const fixture = (name: string) =>
  readFileSync(path.join(__dirname, 'fixtures', 'feedback-http', name), 'utf8');
const json = (name: string) => JSON.parse(fixture(name));

describe('SparkPost', () => {
  const batch = json('sparkpost-events.json');

  test('maps delivery, bounce, spam_complaint, delay, open and click', () => {
    const t = translateSparkPost(batch);
    expect(t.feedback.map((e) => e.type)).toEqual(['delivered', 'hard_bounce', 'complaint', 'delayed']);
    expect(t.tracking.map((e) => [e.type, e.url])).toEqual([
      ['open', undefined],
      ['click', 'http://example.com'],
    ]);
    expect(t.ignored).toBe(0);
    expect(t.feedback[1]).toEqual({
      eventId: 'sparkpost-92356927693813856',
      // Without our metadata the provider's own id is kept, and the worker dead-letters it.
      messageId: 'sparkpost:000443ee14578172be22',
      type: 'hard_bounce',
      occurredAt: '2016-04-18T14:25:07.000Z',
      smtpCode: 550,
      diagnostic: '550 5.1.1 The email account that you tried to reach does not exist.',
      reason: 'user unknown', // bounce class 10, Invalid Recipient
      recipient: 'recipient@example.com', // checked by the worker against the message's address
    });
  });

  test('a delay is `delayed` (SparkPost retries on its own), with its reply and its class’s reason', () => {
    expect(translateSparkPost([batch[3]]).feedback).toEqual([
      {
        eventId: 'sparkpost-92356927693813856',
        messageId: 'sparkpost:000443ee14578172be22',
        type: 'delayed',
        occurredAt: '2016-04-18T14:25:07.000Z',
        smtpCode: 454,
        diagnostic: '454 4.4.4 [internal] no MX or A for domain',
        reason: 'unreachable', // bounce class 21, DNS Failure
        recipient: 'recipient@example.com',
      },
    ]);
  });

  test('reads our message id from rcpt_meta, where the X-MSYS-API metadata comes back', () => {
    const event = {
      ...batch[0].msys.message_event,
      rcpt_meta: { campaign_message_id: '1.0.7.abcdef@x.test' },
    };
    expect(translateSparkPost([{ msys: { message_event: event } }]).feedback[0]!.messageId).toBe(
      '1.0.7.abcdef@x.test',
    );
  });

  test.each([
    ['10', 'hard_bounce'],
    ['25', 'hard_bounce'],
    ['21', 'soft_bounce'],
    ['22', 'soft_bounce'],
    ['51', 'soft_bounce'],
    ['1', 'soft_bounce'],
  ])('bounce class %s is a %s', (cls, type) => {
    const event = { ...batch[1].msys.message_event, bounce_class: cls };
    expect(translateSparkPost([{ msys: { message_event: event } }]).feedback[0]!.type).toBe(type);
  });

  test('an auto-reply (class 60) is an out-of-office reason, which the classifier ignores', () => {
    const event = { ...batch[1].msys.message_event, bounce_class: '60' };
    expect(translateSparkPost([{ msys: { message_event: event } }]).feedback[0]!.reason).toBe(
      'out of office',
    );
  });

  test('the ping sent when a webhook is created is accepted; a body that is no batch is refused', () => {
    expect(translateSparkPost([{ msys: {} }]).feedback).toEqual([]);
    expect(() => translateSparkPost({ msys: {} })).toThrow(BadPayload);
    expect(() => translateSparkPost([{ nope: 1 }])).toThrow('item 0 has no "msys" object');
  });
});

describe('Amazon SES', () => {
  const n = json('ses-notifications.json');

  test('a permanent bounce is hard, with the DSN status and diagnostic', () => {
    expect(translateSes(n.bounce, 'sns-1').feedback).toEqual([
      {
        eventId: 'ses-00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000',
        messageId: 'custom-message-ID',
        type: 'hard_bounce',
        occurredAt: '2016-01-27T14:59:38.237Z',
        enhancedStatus: '5.1.1',
        diagnostic: 'smtp; 550 5.1.1 <jane@example.com>... User',
        reason: 'not defined', // Permanent/General: the DSN's words decide
        recipient: 'jane@example.com',
      },
    ]);
  });

  test('a transient bounce is soft; its subtype names the reason', () => {
    const bounce = {
      ...n.bounce,
      bounce: {
        ...n.bounce.bounce,
        bounceType: 'Transient',
        bounceSubType: 'MailboxFull',
        bouncedRecipients: [{}],
      },
    };
    expect(translateSes(bounce, 'sns-1').feedback[0]).toMatchObject({
      type: 'soft_bounce',
      reason: 'mailbox full',
      diagnostic: 'SES Transient bounce, subtype MailboxFull',
    });
  });

  test('a DeliveryDelay is `delayed` (SES retries until expirationTime), one event per delayed recipient', () => {
    expect(translateSes(n.deliveryDelay, 'sns-9').feedback).toEqual([
      {
        eventId: 'ses-delay-sns-9',
        // The sample keeps no headers: the SES id is kept, and the worker dead-letters it as an unknown message.
        messageId: 'ses:EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
        type: 'delayed',
        occurredAt: '2020-06-16T00:25:40.095Z',
        enhancedStatus: '4.4.1',
        diagnostic: 'smtp; 421 4.4.0 Unable to lookup DNS for example.com',
        reason: 'unreachable', // TransientCommunicationFailure
        recipient: 'recipient@example.com',
      },
    ]);
    const two = {
      ...n.deliveryDelay,
      deliveryDelay: {
        ...n.deliveryDelay.deliveryDelay,
        delayType: 'MailboxFull',
        delayedRecipients: [{ emailAddress: 'a@x.test' }, { emailAddress: 'b@x.test' }],
      },
    };
    expect(translateSes(two, 'sns-9').feedback.map((e) => [e.eventId, e.reason, e.diagnostic])).toEqual([
      ['ses-delay-sns-9-0', 'mailbox full', 'SES delivery delay, type MailboxFull'],
      ['ses-delay-sns-9-1', 'mailbox full', 'SES delivery delay, type MailboxFull'],
    ]);
    expect(() => translateSes({ ...n.deliveryDelay, deliveryDelay: {} }, 'sns-9')).toThrow(BadPayload);
  });

  test('complaint and delivery; the X-Campaign-Message-Id header wins over Message-ID', () => {
    expect(translateSes(n.complaint, 'sns-2').feedback[0]).toMatchObject({
      type: 'complaint',
      diagnostic: 'abuse',
    });
    const headers = [
      ...n.delivery.mail.headers,
      { name: 'X-Campaign-Message-Id', value: '1.2.3.abcdef@x.test' },
    ];
    const delivery = { ...n.delivery, mail: { ...n.delivery.mail, headers } };
    expect(translateSes(delivery, 'sns-3').feedback).toEqual([
      {
        eventId: 'ses-delivery-00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000',
        messageId: '1.2.3.abcdef@x.test',
        type: 'delivered',
        occurredAt: '2016-01-27T14:59:38.237Z',
        recipient: 'jane@example.com',
      },
    ]);
  });
});

describe('SNS', () => {
  const envelopes = json('sns-envelopes.json');

  test('a null Subject is left out of the string to sign, as an absent one is', () => {
    const { Subject: _, ...withoutSubject } = envelopes.notification;
    const absent = stringToSign(readSnsMessage(withoutSubject));
    expect(absent).not.toContain('Subject');
    expect(stringToSign(readSnsMessage({ ...envelopes.notification, Subject: null }))).toBe(absent);
  });

  test('the string to sign follows the documented field order of each message type', () => {
    const m = readSnsMessage(envelopes.notification);
    expect(stringToSign(m)).toBe(
      'Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\nMy First Message\n' +
        'Timestamp\n2012-05-02T00:54:06.655Z\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nNotification\n',
    );
    expect(stringToSign(readSnsMessage(envelopes.subscriptionConfirmation))).toMatch(
      /^Message\n.*\nMessageId\n.*\nSubscribeURL\n.*\nTimestamp\n.*\nToken\n.*\nTopicArn\n.*\nType\nSubscriptionConfirmation\n$/s,
    );
  });

  test.each([
    [
      'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem',
      true,
    ],
    ['https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3242f4.pem', true],
    ['https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-3242f4.pem', true],
    ['http://sns.us-west-2.amazonaws.com/SimpleNotificationService-3242f4.pem', false],
    ['https://sns.us-west-2.amazonaws.com.evil.test/SimpleNotificationService-3242f4.pem', false],
    ['https://evil.test/sns.us-west-2.amazonaws.com/SimpleNotificationService-3242f4.pem', false],
    ['https://sns.us-west-2.amazonaws.com:8443/SimpleNotificationService-3242f4.pem', false],
    ['https://sns.us-west-2.amazonaws.com@evil.test/SimpleNotificationService-3242f4.pem', false],
    // S3 endpoints match a loose sns.*.amazonaws.com, and anyone can host a file in a bucket named "sns".
    ['https://sns.s3.amazonaws.com/SimpleNotificationService-3242f4.pem', false],
    ['https://sns.s3-website-us-east-1.amazonaws.com/SimpleNotificationService-3242f4.pem', false],
    // Each distinct URL would cost a fetch: only a certificate's path, and no query.
    ['https://sns.us-west-2.amazonaws.com/x.pem', false],
    ['https://sns.us-west-2.amazonaws.com/SimpleNotificationService-3242f4.pem?1', false],
    ['http://127.0.0.1:4000/confirm', false],
  ])('certificate %s is allowed: %s', (url, allowed) => {
    expect(allowedCertUrl(url, [])).toBe(allowed);
  });

  test.each([
    ['https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:x&Token=2336', true],
    ['https://sns.us-west-2.amazonaws.com/?Action=Publish&TopicArn=arn:x', false],
    ['https://sns.s3.amazonaws.com/?Action=ConfirmSubscription', false],
  ])('SubscribeURL %s is allowed: %s', (url, allowed) => {
    expect(allowedSubscribeUrl(url, [])).toBe(allowed);
  });

  test('a loopback host is allowed only where the test override names it', () => {
    expect(allowedSubscribeUrl('http://127.0.0.1:4000/confirm', ['127.0.0.1:4000'])).toBe(true);
    expect(allowedCertUrl('http://127.0.0.1:4001/cert.pem', ['127.0.0.1:4000'])).toBe(false);
  });
});

describe('KumoMTA', () => {
  const { delivery } = json('kumomta-log-records.json');
  const headers = { 'X-Campaign-Message-Id': '1.4.9.abcdef@x.test' };

  test('Delivery, Bounce, TransientFailure, Expiration, OOB and Feedback records; Reception needs nothing', () => {
    const bounce = {
      ...delivery,
      type: 'Bounce',
      response: { code: 550, enhanced_code: { class: 5, subject: 1, detail: 1 }, content: 'no such user' },
    };
    const records = [
      { ...delivery, headers },
      { ...bounce, headers },
      { ...bounce, type: 'TransientFailure', headers },
      { ...delivery, type: 'Reception' },
      { ...delivery, type: 'Expiration', response: { code: 451, content: 'expired' }, headers },
      { ...delivery, type: 'Feedback', feedback_report: { feedback_type: 'abuse' }, headers },
    ];
    const t = translateKumo(records);
    expect(t.ignored).toBe(1);
    expect(t.feedback.map((e) => [e.type, e.messageId])).toEqual([
      ['delivered', '1.4.9.abcdef@x.test'],
      ['hard_bounce', '1.4.9.abcdef@x.test'],
      // KumoMTA retries it on its own: `delayed`, so that the pipeline does not as well.
      ['delayed', '1.4.9.abcdef@x.test'],
      ['soft_bounce', '1.4.9.abcdef@x.test'],
      ['complaint', '1.4.9.abcdef@x.test'],
    ]);
    expect(t.feedback[1]).toMatchObject({
      eventId: 'kumomta-1d98076abbbc11ed940250ebf67f93bd-Bounce-0',
      occurredAt: new Date(1678069691 * 1000).toISOString(),
      smtpCode: 550,
      enhancedStatus: '5.1.1',
      diagnostic: 'no such user',
    });
  });
});

describe('RFC 3464 DSN', () => {
  test("the RFC's simple DSN (failed, 4.0.0 after 5 days) is a soft bounce, matched through the original headers", async () => {
    const raw = fixture('rfc3464-simple-dsn.eml').replace(
      '[original message goes here]',
      'Message-ID: <1.3.42.abcdef@x.test>\r\nX-Campaign-Message-Id: 1.3.42.abcdef@x.test\r\nSubject: hi\r\n\r\nbody',
    );
    const t = await translateDsn(raw);
    expect(t.feedback).toEqual([
      {
        eventId: expect.stringMatching(/^dsn-[0-9a-f]{24}-0$/),
        messageId: '1.3.42.abcdef@x.test',
        type: 'soft_bounce',
        occurredAt: '1994-07-07T21:15:49.000Z',
        smtpCode: 426,
        enhancedStatus: '4.0.0',
        reason: 'unreachable',
        diagnostic: '426 connection timed out',
        recipient: 'louisl@larry.slip.umd.edu',
      },
    ]);
    // The same report read twice is the same events.
    expect((await translateDsn(raw)).feedback[0]!.eventId).toBe(t.feedback[0]!.eventId);
  });

  test('without original headers, a VERP return path in To names the message', async () => {
    const verp = envelopeSender('news@x.test', 'bounces.x.test', '1.3.42.abcdef@x.test');
    expect(verp).toBe('bounces+1.3.42.abcdef=x.test@bounces.x.test');
    expect(parseVerp(verp)).toBe('1.3.42.abcdef@x.test');
    expect(parseVerp('bounces+nonsense=x.test@bounces.x.test')).toBeNull();
    const raw = fixture('rfc3464-simple-dsn.eml').replace(
      'To: <owner-info-mime@cs.utk.edu>',
      `To: <${verp}>`,
    );
    expect((await translateDsn(raw)).feedback[0]!.messageId).toBe('1.3.42.abcdef@x.test');
  });

  test('Action: delayed is a `delayed` event: the MTA retries by itself, and the pipeline must not as well', async () => {
    const raw = fixture('rfc3464-simple-dsn.eml')
      .replace('Action: failed', 'Action: delayed')
      .replace('[original message goes here]', 'X-Campaign-Message-Id: 1.3.42.abcdef@x.test\r\n\r\nbody');
    expect((await translateDsn(raw)).feedback).toEqual([
      expect.objectContaining({
        type: 'delayed',
        messageId: '1.3.42.abcdef@x.test',
        enhancedStatus: '4.0.0',
      }),
    ]);
  });

  test('the ENVID the dispatch gave comes back as Original-Envelope-Id and names the message', async () => {
    const raw = fixture('rfc3464-simple-dsn.eml').replace(
      'Reporting-MTA:',
      'Original-Envelope-Id: 1.3.42.abcdef@x.test\r\nReporting-MTA:',
    );
    expect((await translateDsn(raw)).feedback[0]!.messageId).toBe('1.3.42.abcdef@x.test');
  });

  test('a mail that reports nothing is refused', async () => {
    await expect(translateDsn('Subject: hello\r\n\r\njust text')).rejects.toThrow(
      'not a bounce, complaint or auto-reply: no failed recipient found',
    );
  });
});
