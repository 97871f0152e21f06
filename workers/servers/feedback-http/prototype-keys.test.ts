// Provider fields used as lookup keys (issue 18): a type or subtype named like a property of Object.prototype
// is an unknown value, never a function found on the prototype.
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
  expect(t.feedback[0]!.diagnostic).toBe('Permanent/constructor');
});
