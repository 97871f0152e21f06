// Provider fields used as lookup keys (issue 18): a type or subtype named like a property of Object.prototype
// is an unknown value, never a function found on the prototype.
import { readBounce } from '../../../shared/bounce';
import { translateSes } from './ses';
import { translateSparkPost } from './sparkpost';

const sparkpost = (type: string) => [
  {
    msys: {
      message_event: {
        type,
        event_id: `e-${type}`,
        timestamp: '1700000000',
        bounce_class: '10',
        rcpt_meta: { campaign_message_id: '1.0.1.abcdef@example.test' },
      },
    },
  },
];

test.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])(
  'a SparkPost event of type %s is ignored, not applied as a bounce',
  (type) => {
    expect(translateSparkPost(sparkpost(type))).toMatchObject({ feedback: [], tracking: [], ignored: 1 });
  },
);

test('an SES bounce of subtype constructor keeps its own words, not a function', () => {
  const t = translateSes(
    {
      notificationType: 'Bounce',
      mail: { messageId: 'm', commonHeaders: { messageId: '<1.0.1.abcdef@example.test>' } },
      bounce: {
        bounceType: 'Permanent',
        bounceSubType: 'constructor',
        timestamp: '2026-11-23T10:15:00Z',
        feedbackId: 'f1',
        bouncedRecipients: [{ emailAddress: 'r@example.test' }],
      },
    },
    'sns-1',
  );
  expect(t.feedback[0]).toMatchObject({
    reason: 'not defined',
    diagnostic: 'SES Permanent bounce, subtype constructor',
  });
});

test.each(['constructor', 'toString', '__proto__'])(
  'a SparkPost bounce of bounce_class %s is a soft bounce of no defined reason, not a crash',
  (cls) => {
    const body = sparkpost('bounce');
    (body[0]!.msys.message_event as Record<string, unknown>).bounce_class = cls;
    expect(translateSparkPost(body).feedback).toEqual([
      expect.objectContaining({ type: 'soft_bounce', reason: 'not defined' }),
    ]);
  },
);

test('a DSN whose Action is constructor is read as a failure, not as a function', () => {
  const mail = [
    'From: MAILER-DAEMON@example.test',
    'To: news@example.test',
    'Subject: failure',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'failed',
    '--b',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.test',
    '',
    'Final-Recipient: rfc822; r@example.test',
    'Action: constructor',
    'Status: 5.1.1',
    '',
    '--b--',
    '',
  ].join('\r\n');
  const report = readBounce(mail);
  expect(report.recipients.map((r) => r.action)).toEqual(['failed']);
});
