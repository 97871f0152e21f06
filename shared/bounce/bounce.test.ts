// The bounce reader on mails written for these tests in the shapes real MTAs send (test/fixtures/bounces).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type BounceRecipient, readBounce } from '.';
import { readDeliveryStatus } from './report';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'bounces');
const mail = (name: string) => readFileSync(path.join(FIXTURES, name));
const pick = ({ email, type, reason, smtpCode, enhancedStatus, messageId }: BounceRecipient) => ({
  email,
  type,
  reason,
  smtpCode,
  enhancedStatus,
  messageId,
});

describe('readBounce', () => {
  test('an RFC 3464 report without blank lines between recipients: each recipient, the reply over Status:', () => {
    const report = readBounce(mail('dsn-no-blank-line.eml'));
    expect(report.kind).toBe('bounce');
    expect(report.format).toBe('rfc3464');
    expect(report.recipients.map(pick)).toEqual([
      {
        email: 'full@example.net',
        type: 'soft',
        reason: 'mailbox full',
        smtpCode: 552,
        enhancedStatus: '5.2.2',
        messageId: '1.3.42.abcdef@mail.sender.test',
      },
      {
        email: 'gone@example.net',
        type: 'hard',
        reason: 'user unknown',
        smtpCode: 550,
        enhancedStatus: '5.1.1',
        messageId: '1.3.42.abcdef@mail.sender.test',
      },
    ]);
    // X-Postfix; is a diagnostic type, not part of the reply.
    expect(report.recipients[1]!.diagnostic).toMatch(/^550 5\.1\.1 /);
  });

  test('the event time is Last-Attempt-Date, else the report Date:, never Arrival-Date', () => {
    const [first, second] = readBounce(mail('dsn-no-blank-line.eml')).recipients;
    expect(first!.occurredAt).toBe('2026-11-24T10:20:00.000Z');
    expect(second!.occurredAt).toBe('2026-11-24T10:19:00.000Z');
  });

  test('without any date, the receipt time', () => {
    const raw = mail('qmail-text.eml')
      .toString()
      .replace(/^Date:.*\n/m, '');
    const at = new Date('2026-11-30T00:00:00Z');
    expect(readBounce(raw, { receivedAt: at }).recipients[0]!.occurredAt).toBe(at.toISOString());
  });

  test('CRLF line ends, a boundary declared one way and used another, Action: delayed', () => {
    const report = readBounce(mail('crlf-broken-boundary.eml'));
    expect(report.recipients.map(pick)).toEqual([
      expect.objectContaining({
        email: 'slow@example.net',
        type: 'soft',
        smtpCode: 451,
        enhancedStatus: '4.7.1',
      }),
    ]);
    expect(report.recipients[0]!.action).toBe('delayed');
  });

  test('qmail prose: the recipient, the remote reply, our Message-ID in the copy below', () => {
    const report = readBounce(mail('qmail-text.eml'));
    expect(report.format).toBe('text');
    expect(report.recipients.map(pick)).toEqual([
      {
        email: 'nobody@example.org',
        type: 'hard',
        reason: 'user unknown',
        smtpCode: 550,
        enhancedStatus: '5.1.1',
        messageId: '2.5.42.abcdef@mail.sender.test',
      },
    ]);
  });

  test('Exim prose: X-Failed-Recipients, a blocklist 5.7.1 is soft, X-Campaign-Message-Id in the copy', () => {
    const [r] = readBounce(mail('exim-blocked.eml')).recipients;
    expect(pick(r!)).toEqual({
      email: 'listed@example.com',
      type: 'soft',
      reason: 'spam rejection',
      smtpCode: 550,
      enhancedStatus: '5.7.1',
      messageId: '1.9.42.abcdef@mail.sender.test',
    });
  });

  test('an ARF report is a complaint of the Original-Rcpt-To about our message', () => {
    const report = readBounce(mail('arf-abuse.eml'));
    expect(report.kind).toBe('complaint');
    expect(report.recipients.map(pick)).toEqual([
      {
        email: 'reader@isp.example',
        type: 'complaint',
        reason: 'on denylist',
        smtpCode: null,
        enhancedStatus: null,
        messageId: '1.4.42.abcdef@mail.sender.test',
      },
    ]);
  });

  test('an RFC 3834 auto-reply is ignored, never a failure', () => {
    const report = readBounce(mail('auto-reply.eml'));
    expect(report.kind).toBe('auto-reply');
    expect(report.recipients.map(pick)).toEqual([
      expect.objectContaining({ email: 'away@example.com', type: 'ignored', reason: 'out of office' }),
    ]);
  });

  test('a success DSN is delivered, its message named by the VERP address it was sent to', () => {
    const report = readBounce(mail('delivered.eml'));
    expect(report.kind).toBe('delivered');
    expect(report.recipients.map(pick)).toEqual([
      expect.objectContaining({
        email: 'happy@example.net',
        type: null,
        messageId: '1.7.42.abcdef@mail.sender.test',
      }),
    ]);
  });

  test('a person writing back is not a bounce', () => {
    const report = readBounce(mail('not-a-bounce.eml'));
    expect(report).toEqual(expect.objectContaining({ kind: 'not-a-bounce', recipients: [] }));
  });

  test('the same mail read twice has the same report id; another mail another', () => {
    expect(readBounce(mail('qmail-text.eml')).reportId).toBe(readBounce(mail('qmail-text.eml')).reportId);
    expect(readBounce(mail('qmail-text.eml')).reportId).not.toBe(
      readBounce(mail('exim-blocked.eml')).reportId,
    );
  });

  test('an SES notification by mail (long lines broken with "!"): a complaint about our message', () => {
    const report = readBounce(mail('ses-complaint.eml'));
    expect(report).toMatchObject({ kind: 'complaint', format: 'ses' });
    expect(report.recipients.map(pick)).toEqual([
      {
        email: 'grumpy@example.net',
        type: 'complaint',
        reason: 'on denylist',
        smtpCode: null,
        enhancedStatus: null,
        messageId: '1.6.42.abcdef@mail.sender.test',
      },
    ]);
    expect(report.recipients[0]!.occurredAt).toBe('2026-11-28T08:59:00.000Z');
  });

  test('Action: before Final-Recipient, no empty line after the headers, a Content-Type without its ";"', () => {
    const report = readBounce(mail('dsn-action-first-no-blank-after-headers.eml'));
    expect(report.recipients.map(pick)).toEqual([
      {
        email: 'absent@example.org',
        type: 'hard',
        reason: 'user unknown',
        smtpCode: 550,
        enhancedStatus: '5.1.1',
        messageId: '1.8.42.abcdef@mail.sender.test',
      },
    ]);
    expect(report.recipients[0]!.action).toBe('failed');
  });

  test('a "user unknown" answered to DATA (a Sendmail transcript) is a refusal of the content, not of the address', () => {
    const [r] = readBounce(mail('sendmail-after-data.eml')).recipients;
    expect(pick(r!)).toEqual({
      email: 'filtered@example.jp',
      type: 'soft',
      reason: 'refused',
      smtpCode: 550,
      enhancedStatus: '5.0.0',
      messageId: '1.11.42.abcdef@mail.sender.test',
    });
    expect(r!.command).toBe('DATA');
    // The same reply at RCPT TO is the address: hard.
    const atRcpt = mail('sendmail-after-data.eml')
      .toString()
      .replace('>>> DATA', '>>> RCPT To:<filtered@example.jp>');
    expect(readBounce(atRcpt).recipients[0]).toMatchObject({
      type: 'hard',
      reason: 'user unknown',
      command: 'RCPT',
    });
  });

  test('an indented boundary, a helpdesk address in the prose, the reply from the prose where the report has none', () => {
    const report = readBounce(mail('indented-boundary-helpdesk.eml'));
    expect(report.format).toBe('rfc3464');
    expect(report.recipients.map(pick)).toEqual([
      {
        email: 'shut@example.org',
        type: 'hard',
        reason: 'account disabled',
        smtpCode: 550,
        enhancedStatus: '5.2.1',
        messageId: '1.12.42.abcdef@mail.sender.test',
      },
    ]);
    expect(report.recipients[0]!.diagnostic).toMatch(/^550 5\.2\.1 Mailbox disabled for this recipient/);
  });

  test('a bounce forwarded as an attachment is read from the attached report', () => {
    const report = readBounce(mail('forwarded-dsn.eml'));
    expect(report.recipients.map(pick)).toEqual([
      expect.objectContaining({
        email: 'nobody@example.net',
        type: 'hard',
        reason: 'user unknown',
        messageId: '1.13.42.abcdef@mail.sender.test',
      }),
    ]);
  });

  test('hostile shapes are read in one pass: a megabyte-long token, a dotted run, thousands of parts', () => {
    const head = 'From: MAILER-DAEMON@x.test\nSubject: Undelivered Mail\n\n';
    // Before the address patterns were anchored and bounded, the first of these took minutes.
    expect(readBounce(`${head}${'a'.repeat(1_000_000)}\n`).kind).toBe('not-a-bounce');
    expect(readBounce(`${head}x@${'a.'.repeat(200_000)}\n`).kind).toBe('not-a-bounce');
    const parts = `Content-Type: multipart/mixed; boundary=b\n\n${'--b\n\nx\n'.repeat(20_000)}--b--\n`;
    expect(readBounce(parts).kind).toBe('not-a-bounce');
  });
});

describe('readDeliveryStatus', () => {
  test('Postfix writes Final-Recipient, then the ORCPT as Original-Recipient: one recipient, not two', () => {
    const status = [
      'Reporting-MTA: dns; mx.sender.test',
      'Original-Envelope-Id: 1.0.5.0123456789ab@shop.test',
      '',
      'Final-Recipient: rfc822; a@example.test',
      'Original-Recipient: rfc822;a@example.test',
      'Action: failed',
      'Status: 5.1.1',
      'Original-Recipient: rfc822;b@example.test',
      'Final-Recipient: rfc822; b@example.test',
      'Action: delayed',
      'Status: 4.2.2',
    ].join('\n');
    const report = readDeliveryStatus(status);
    expect(report.recipients.map((r) => [r.email, r.action, r.status])).toEqual([
      ['a@example.test', 'failed', '5.1.1'],
      ['b@example.test', 'delayed', '4.2.2'],
    ]);
    // The ENVID the dispatch gave comes back: it names the message when no header of ours is returned.
    expect(report.envelopeId).toBe('1.0.5.0123456789ab@shop.test');
  });
});
