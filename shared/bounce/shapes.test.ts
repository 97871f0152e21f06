// The bounce reader on vendor shapes without an SMTP reply or with the report out of place: mails written for
// these tests in the forms Google Groups, Lotus Notes / Domino, a forwarding mail client and Messaging Server use.
import { readBounce } from '.';

const mail = (headers: string[], body: string[]) => [...headers, '', ...body, ''].join('\n');
const pick = (raw: string) =>
  readBounce(raw).recipients.map(({ email, type, reason }) => ({ email, type, reason }));

test('a Google Groups notice, in whatever language, is the group refusing the post: soft refused', () => {
  const raw = mail(
    [
      'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
      'To: news@sender.test',
      'Subject: Delivery Status Notification (Failure)',
      'X-Failed-Recipients: team@googlegroups.com',
      'Content-Type: text/plain; charset="UTF-8"',
    ],
    [
      'Hallo news@sender.test,',
      '',
      'die Gruppe (team) ist vielleicht nicht vorhanden, oder Sie dürfen dort keine Nachrichten posten.',
      '',
      'Hilfe finden Sie unter https://groups.google.com/support/.',
    ],
  );
  expect(pick(raw)).toEqual([{ email: 'team@googlegroups.com', type: 'soft', reason: 'refused' }]);
});

test('Lotus Notes lists the addresses under their reason line: each address takes it', () => {
  const raw = mail(
    ['From: postmaster@notes.example.net', 'To: news@sender.test', 'Subject: Undeliverable message'],
    [
      '------- Failure Reasons  --------',
      '',
      'User not listed in public Name & Address Book',
      'first@notes.example.net',
      'second@notes.example.net',
      '',
      '------- Returned Message --------',
      'Message-ID: <1@sender.test>',
      'To: first@notes.example.net',
      'Subject: News',
    ],
  );
  expect(pick(raw)).toEqual([
    { email: 'first@notes.example.net', type: 'hard', reason: 'user unknown' },
    { email: 'second@notes.example.net', type: 'hard', reason: 'user unknown' },
  ]);
});

test("Domino's 'not listed in Domino Directory' (and its Japanese form) is a user unknown", () => {
  const domino = (reason: string) =>
    mail(
      ['From: Postmaster@domino.example.net', 'To: news@sender.test', 'Subject: DELIVERY FAILURE'],
      [
        'Your message',
        '',
        '  Subject: News',
        '',
        'was not delivered to:',
        '',
        '  gone@domino.example.net',
        '',
        'because:',
        '',
        `  ${reason}`,
      ],
    );
  expect(pick(domino('User Gone (gone@domino.example.net) not listed in Domino Directory'))).toEqual([
    { email: 'gone@domino.example.net', type: 'hard', reason: 'user unknown' },
  ]);
  expect(
    pick(domino('ユーザー Gone (gone@domino.example.net) は Domino ディレクトリには見つかりません。')),
  ).toEqual([{ email: 'gone@domino.example.net', type: 'hard', reason: 'user unknown' }]);
});

test('a bounce forwarded inline with "> " quoting is read inside the quotes', () => {
  const quoted = [
    'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.sender.test>',
    'To: <news@sender.test>',
    'Subject: Returned mail: see transcript for details',
    '',
    '   ----- The following addresses had permanent fatal errors -----',
    '<gone@example.net>',
    '    (reason: 550 5.1.1 <gone@example.net>... User unknown)',
    '',
    '   ----- Transcript of session follows -----',
    '... while talking to mx.example.net.:',
    '>>> RCPT To:<gone@example.net>',
    '<<< 550 5.1.1 <gone@example.net>... User unknown',
  ].map((line) => (line ? `> ${line}` : '>'));
  const raw = mail(
    ['From: Someone <someone@sender.test>', 'To: admin@sender.test', 'Subject: Fwd: Returned mail'],
    ['Look at this.', '', 'Begin forwarded message:', '', ...quoted],
  );
  expect(pick(raw)).toEqual([{ email: 'gone@example.net', type: 'hard', reason: 'user unknown' }]);
});

test("report fields printed as text name the failed recipients, not the summary's To: or Message-id:", () => {
  const raw = mail(
    [
      'From: Internet Mail Delivery <postmaster@ms.example.net>',
      'To: news@sender.test',
      'Subject: Delivery Notification: Delivery has failed',
    ],
    [
      'This report relates to a message you sent with the following header fields:',
      '',
      '  Message-id: <0001@example.net>',
      '  To: list@example.net',
      '',
      'Your message cannot be delivered to the following recipients:',
      '',
      '  Recipient address: full@example.net',
      '  Reason: Remote SMTP server has rejected address',
      '',
      'Reporting-MTA: dns; ms.example.net',
      '',
      'Action: failed',
      'Status: 5.0.0 (Remote SMTP server has rejected address)',
      'Final-recipient: rfc822;full@example.net',
      'Diagnostic-code: smtp; 552 5.2.2 Mailbox full',
    ],
  );
  expect(pick(raw)).toEqual([{ email: 'full@example.net', type: 'soft', reason: 'mailbox full' }]);
});

test("a local program's X-Unix exit status is read by sysexits.h: 67 no such user, others the system's trouble", () => {
  const dsn = (code: string) =>
    [
      'From: MAILER-DAEMON@mx.example.net',
      'To: news@sender.test',
      'Subject: Returned mail: see transcript for details',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      '',
      '--b',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.net',
      '',
      'Final-Recipient: RFC822; a@example.net',
      'Action: failed',
      'Status: 5.0.0',
      `Diagnostic-Code: X-Unix; ${code}`,
      '',
      '--b--',
      '',
    ].join('\n');
  expect(pick(dsn('67'))).toEqual([{ email: 'a@example.net', type: 'hard', reason: 'user unknown' }]);
  expect(pick(dsn('71'))).toEqual([{ email: 'a@example.net', type: 'soft', reason: 'unreachable' }]);
  expect(pick(dsn('Disk quota exceeded'))).toEqual([
    { email: 'a@example.net', type: 'soft', reason: 'mailbox full' },
  ]);
});

test("a reply ends where another reply line starts: one address's reply never takes the next one's words", () => {
  const raw = mail(
    [
      'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.sender.test>',
      'To: news@sender.test',
      'Subject: Returned mail: User unknown',
    ],
    [
      '   ----- Transcript of session follows -----',
      '554 <first@example.net>... Remote protocol error: Connection reset by peer during result wait',
      '550 other.example (smtp)... 550 Host unknown',
      '554 <second@other.example>... 550 Host unknown (Authoritative answer from name server)',
    ],
  );
  expect(pick(raw)).toEqual([
    { email: 'first@example.net', type: 'soft', reason: 'unreachable' },
    { email: 'second@other.example', type: 'hard', reason: 'invalid domain' },
  ]);
});

test("a report's recipient without a Diagnostic-Code takes the prose's lines about it (Exim 'save to', a postmaster@)", () => {
  const dsn = (recipient: string, prose: string[]) =>
    [
      'From: Mail Delivery System <Mailer-Daemon@mx.example.net>',
      'To: news@sender.test',
      'Subject: Mail delivery failed: returning message to sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      ...prose,
      '',
      '--b',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.net',
      '',
      'Action: failed',
      `Final-Recipient: rfc822;${recipient}`,
      'Status: 5.0.0',
      '',
      '--b--',
      '',
    ].join('\n');
  const exim = dsn('/var/mail/example.net/box', [
    'The following address(es) failed:',
    '',
    '  save to /var/mail/example.net/box',
    '    generated by box@example.net',
    '    mailbox is full: retry timeout exceeded',
  ]);
  expect(pick(exim)).toEqual([{ email: '/var/mail/example.net/box', type: 'soft', reason: 'mailbox full' }]);
  const smtpd = dsn('postmaster@gone.example', [
    'An error has occurred while attempting to deliver a message for the following list of recipients:',
    '',
    'postmaster@gone.example: Domain does not exist',
  ]);
  expect(pick(smtpd)).toEqual([{ email: 'postmaster@gone.example', type: 'hard', reason: 'invalid domain' }]);
});

describe("PowerMTA's own bounce category (X-PowerMTA-BounceCategory) is the reporting MTA's classification", () => {
  const powermta = (status: string, diagnostic: string, category: string) =>
    mail(
      [
        'From: postmaster@mta.sender.test',
        'To: news@sender.test',
        'Subject: Delivery report',
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r1"',
      ],
      [
        '--r1',
        'Content-Type: text/plain',
        '',
        'This is a delivery status notification.',
        '',
        '--r1',
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns;mta.sender.test',
        'X-PowerMTA-VirtualMTA: pool-1',
        '',
        'Final-Recipient: rfc822;a@b.example',
        'Action: failed',
        `Status: ${status}`,
        'Remote-MTA: dns;mx.b.example (192.0.2.9)',
        `Diagnostic-Code: smtp;${diagnostic}`,
        `X-PowerMTA-BounceCategory: ${category}`,
        '',
        '--r1--',
      ],
    );

  // biome-ignore format: one case per row reads as a table
  test.each([
    { proves: 'bad-mailbox over a 5.2.1 "User Unknown" is a hard user unknown', status: '5.2.1', diagnostic: '550 5.2.1 <a@b.example>... User Unknown', category: 'bad-mailbox', type: 'hard', reason: 'user unknown' },
    { proves: 'quota-issues over a vague 5.0.0 is a soft mailbox full', status: '5.0.0', diagnostic: '554 delivery error: account over its storage allowance', category: 'quota-issues', type: 'soft', reason: 'mailbox full' },
    { proves: 'spam-related is a soft spam rejection', status: '5.0.0', diagnostic: '554 Message rejected', category: 'spam-related', type: 'soft', reason: 'spam rejection' },
    { proves: 'bad-mailbox on a 4xx stays soft (a 4xx is never hard)', status: '4.0.0', diagnostic: '450 4.0.0 <a@b.example> recipient unknown, try later', category: 'bad-mailbox', type: 'soft', reason: 'user unknown' },
    { proves: "'other' leaves the reason to the server's reply", status: '5.0.0', diagnostic: '552 5.2.2 Mailbox full', category: 'other', type: 'soft', reason: 'mailbox full' },
  ])('$proves', ({ status, diagnostic, category, type, reason }) => {
    expect(pick(powermta(status, diagnostic, category))).toEqual([{ email: 'a@b.example', type, reason }]);
  });
});

describe("fml's own notices (X-MLServer: fml) are the list refusing the post: the list address fails, soft", () => {
  const fml = (subject: string, body: string[]) =>
    mail(
      [
        'From: team-admin@lists.example.net',
        'To: news@sender.test',
        `Subject: ${subject}`,
        'Message-ID: <202601010000.FML00001.team@lists.example.net>',
        'References: <1.7.42.abcdef@mail.sender.test>',
        'X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]',
        'X-ML-Info: If you have a question, please contact team-admin@lists.example.net',
      ],
      body,
    );
  const read = (raw: string) =>
    readBounce(raw).recipients.map(({ email, type, reason, messageId }) => ({
      email,
      type,
      reason,
      messageId,
    }));

  test('a post from a non-member is refused by the list, and the notice names our message in References', () => {
    const raw = fml('You news@sender.test are not member (team ML)', [
      'You are not a member of this mailing list <team@lists.example.net>.',
      '',
      'If you know the general guide of this list, please send mail with the body "guide"',
      'to the address <team-ctl@lists.example.net>.',
    ]);
    expect(read(raw)).toEqual([
      {
        email: 'team@lists.example.net',
        type: 'soft',
        reason: 'refused',
        messageId: '1.7.42.abcdef@mail.sender.test',
      },
    ]);
  });

  test("a 'Loop Alert' (the list saw the Message-ID before) is a mail loop: soft unreachable", () => {
    const raw = fml('Loop Alert: Duplicated Message-ID (team ML)', [
      'Duplicated Message-ID in <team@lists.example.net>.',
      '',
      'Original mail as follows:',
    ]);
    expect(read(raw)).toEqual([
      {
        email: 'team@lists.example.net',
        type: 'soft',
        reason: 'unreachable',
        messageId: '1.7.42.abcdef@mail.sender.test',
      },
    ]);
  });

  test("the same words without fml's header are not read as a list notice", () => {
    const raw = mail(
      ['From: friend@example.net', 'To: news@sender.test', 'Subject: you are not member'],
      ['You are not a member of this club <club@example.net>, sorry.'],
    );
    expect(readBounce(raw).kind).toBe('not-a-bounce');
  });
});

test("a report's own 4.x.x stays soft even over words of a missing domain (Null MX, 'No MX found'): 4xx is never hard", () => {
  const dsn = (diagnostic: string) =>
    mail(
      [
        'From: Mail Delivery Subsystem <mailer-daemon@mx.sender.test>',
        'To: news@sender.test',
        'Subject: Delivery Status Notification (Failure)',
        'Content-Type: multipart/report; report-type=delivery-status; boundary="d1"',
      ],
      [
        '--d1',
        'Content-Type: text/plain',
        '',
        "Your message wasn't delivered to a@nomail.example because the domain nomail.example couldn't be found.",
        '',
        '--d1',
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.sender.test',
        '',
        'Final-Recipient: rfc822; a@nomail.example',
        'Action: failed',
        'Status: 4.0.0',
        `Diagnostic-Code: smtp; ${diagnostic}`,
        '',
        '--d1--',
      ],
    );
  // The reason is read (invalid domain); the class the report gives (4) keeps it soft: retried, counted as soft.
  expect(
    pick(
      dsn(
        "DNS Error: 1234 DNS type 'mx' lookup of nomail.example responded with code NOERROR The domain nomail.example doesn't receive email according to the administrator: returned Null MX",
      ),
    ),
  ).toEqual([{ email: 'a@nomail.example', type: 'soft', reason: 'invalid domain' }]);
  expect(pick(dsn('a@nomail.example: No MX found for domain'))).toEqual([
    { email: 'a@nomail.example', type: 'soft', reason: 'invalid domain' },
  ]);
});
