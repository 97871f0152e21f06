// The reader hands the classifier the SMTP command a reply answered: a "user unknown" after DATA is a filter's.
import { readBounce } from './index';

const dsn = (prose: string, diagnostic: string) =>
  [
    'From: MAILER-DAEMON@mx.example (Mail Delivery System)',
    'To: news@x.example',
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    prose,
    '',
    '--b',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example',
    '',
    'Final-Recipient: rfc822; a@b.example',
    'Action: failed',
    'Status: 5.1.1',
    `Diagnostic-Code: smtp; ${diagnostic}`,
    '',
    '--b--',
    '',
  ].join('\r\n');

test.each([
  {
    proves: "Postfix's 'in reply to end of DATA command' makes a user unknown a soft refusal",
    prose:
      '<a@b.example>: host mx.b.example[192.0.2.1] said: 550 5.1.1 User unknown (in reply to end of DATA command)',
    type: 'soft',
    reason: 'refused',
  },
  {
    proves: "'in reply to RCPT TO command' leaves it a hard user unknown",
    prose:
      '<a@b.example>: host mx.b.example[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)',
    type: 'hard',
    reason: 'user unknown',
  },
  {
    proves: 'a Sendmail transcript answering DATA makes it a soft refusal',
    prose:
      '... while talking to mx.b.example.:\r\n>>> DATA\r\n<<< 550 5.1.1 User unknown\r\n554 5.0.0 Service unavailable',
    type: 'soft',
    reason: 'refused',
  },
  {
    proves: "an m-FILTER 'SMTP command' block naming DATA makes a plain user unknown a soft refusal",
    prose: '-------server message\r\n550 unknown user <a@b.example>\r\n\r\n-------SMTP command\r\nDATA\r\n',
    type: 'soft',
    reason: 'refused',
  },
  {
    proves: "Postfix's 'Recipient address rejected:' answered RCPT TO, though a pipelining report names DATA",
    prose:
      '-------server message\r\n550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in local recipient table\r\n\r\n-------SMTP command\r\nDATA\r\n',
    diagnostic: '550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in local recipient table',
    type: 'hard',
    reason: 'user unknown',
  },
  {
    proves:
      "Yahoo's 'delivery error: dd' verdict answering DATA (it checks recipients only then) stays a hard user unknown",
    prose:
      "... while talking to mta5.am0.yahoodns.net.:\r\n>>> DATA\r\n<<< 554 delivery error: dd This user doesn't have a yahoo.com account (a@b.example) [0] - mta1001.mail.gq1.yahoo.com\r\n554 5.0.0 Service unavailable",
    diagnostic:
      "554 delivery error: dd This user doesn't have a yahoo.com account (a@b.example) [0] - mta1001.mail.gq1.yahoo.com",
    type: 'hard',
    reason: 'user unknown',
  },
])('$proves', ({ prose, diagnostic, type, reason }) => {
  const report = readBounce(dsn(prose, diagnostic ?? '550 5.1.1 User unknown'));
  expect(report.recipients[0]).toMatchObject({ email: 'a@b.example', type, reason });
});

const qmail = (stage: string, reply: string) =>
  [
    'From: MAILER-DAEMON@mx.example',
    'To: news@x.example',
    'Subject: failure notice',
    '',
    'Hi. This is the qmail-send program at mx.example.',
    "I'm afraid I wasn't able to deliver your message to the following addresses.",
    "This is a permanent error; I've given up. Sorry it didn't work out.",
    '',
    '<a@b.example>:',
    stage,
    `Remote host said: ${reply}`,
    'Giving up on 192.0.2.7.',
    '',
    '--- Below this line is a copy of the message.',
    '',
    'Message-ID: <m1@x.example>',
    'Subject: News',
    '',
  ].join('\n');

test.each([
  {
    proves: "qmail's 'does not like recipient' puts a 5.2.1 'User Unknown' at RCPT TO: hard user unknown",
    stage: '192.0.2.7 does not like recipient.',
    type: 'hard',
    reason: 'user unknown',
  },
  {
    proves: "the same reply after qmail's 'Failed after I sent the message.' is a filter's: soft refused",
    stage: 'Connected to 192.0.2.7 but my message was refused.\nFailed after I sent the message.',
    type: 'soft',
    reason: 'refused',
  },
])('$proves', ({ stage, type, reason }) => {
  const report = readBounce(qmail(stage, '550 5.2.1 <a@b.example>... User Unknown'));
  expect(report.recipients[0]).toMatchObject({ email: 'a@b.example', type, reason });
});

test("a DSN's 5.2.1 'User Unknown' with no stage named is a filter's (the mailbox exists): soft refused", () => {
  const raw = dsn(
    'The mail system could not deliver your message.',
    '550 5.2.1 <a@b.example>... User Unknown',
  ).replace('Status: 5.1.1', 'Status: 5.2.1');
  expect(readBounce(raw).recipients[0]).toMatchObject({
    email: 'a@b.example',
    type: 'soft',
    reason: 'refused',
  });
});
