// The IMAP reader's pure parts: BOUNCE_IMAP_* read into settings, and the envelope read back from a mail's headers.
import { envelopeOfMail, imapSettings } from './imap';

const base = { BOUNCE_IMAP_POLL: 60_000, BOUNCE_IMAP_IDLE: 'on' as const, BOUNCE_IMAP_AFTER: 'flag' };

test('imap:// and imaps:// URLs: default ports and mailbox, percent-encoded user and password', () => {
  expect(imapSettings({ ...base, BOUNCE_IMAP_URL: 'imap://u:p@mail.test' })).toMatchObject({
    host: 'mail.test',
    port: 143,
    secure: false,
    user: 'u',
    pass: 'p',
    mailbox: 'INBOX',
    after: { kind: 'flag' },
    idle: true,
  });
  expect(
    imapSettings({
      ...base,
      BOUNCE_IMAP_URL: 'imaps://bounces%40shop.test:p%2Fw%40rd@[::1]/Bounce%20Box',
      BOUNCE_IMAP_AFTER: 'move:Done/Bounces',
      BOUNCE_IMAP_IDLE: 'off',
    }),
  ).toMatchObject({
    host: '::1',
    port: 993,
    secure: true,
    user: 'bounces@shop.test',
    pass: 'p/w@rd',
    mailbox: 'Bounce Box',
    after: { kind: 'move', mailbox: 'Done/Bounces' },
    idle: false,
  });
  expect(
    imapSettings({ ...base, BOUNCE_IMAP_URL: 'imap://u:p@h:1143/X', BOUNCE_IMAP_AFTER: 'delete' }),
  ).toMatchObject({ port: 1143, mailbox: 'X', after: { kind: 'delete' } });
});

test('the envelope: delivering headers first, then To and Cc (folded), Return-Path as the sender', () => {
  const mail = Buffer.from(
    'Return-Path: <>\r\nDelivered-To: bounces+1.2.3.ab=shop.test@b.test\r\nTo: "Shop" <news@shop.test>,\r\n\tother@x.test\r\n' +
      'Subject: x\r\n\r\nTo: not-a-header@x.test\r\n',
  );
  expect(envelopeOfMail(mail)).toEqual({
    mailFrom: '',
    rcptTo: ['bounces+1.2.3.ab=shop.test@b.test', 'news@shop.test', 'other@x.test'],
  });
  expect(envelopeOfMail(Buffer.from('Return-Path: <mailer@x.test>\nTo: a@b.test\n\nbody'))).toEqual({
    mailFrom: 'mailer@x.test',
    rcptTo: ['a@b.test'],
  });
});
