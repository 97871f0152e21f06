// The message builder against the one it replaced (kept below as the reference): the same bytes for every
// content and recipient, whichever way a body goes (the prepared 7bit parts, or the whole rendered body).
import { randomBytes } from 'node:crypto';
import { compileMessage } from './message';
import { type CompiledTemplate, compileTemplate, escapeHtml, render } from './rules/template';

/** A small seeded generator: the same cases on every run. */
function random(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s % n;
  };
}

const FRAGMENTS = [
  'Dear ',
  '{{first}}',
  '{{city}}',
  '{{email}}',
  '{{missing}}',
  '{{constructor}}',
  '\n',
  '\r\n',
  '\r',
  '.',
  '..x',
  'Grüße ',
  '<b>',
  'x'.repeat(400),
  ' ',
  '\t',
  '{{ first }}',
];
const VALUES = [
  'Ann',
  '',
  'Zoë',
  'a\nb',
  'a\r\nb',
  'tail\r',
  '\nlead',
  'y'.repeat(600),
  '<&>"\'',
  '\t',
  '.dot',
  'q'.repeat(999),
  '\u{1F600}',
];

function template(pick: (n: number) => number): string {
  let out = '';
  const length = pick(12);
  for (let i = 0; i < length; i++) out += FRAGMENTS[pick(FRAGMENTS.length)];
  return out;
}

const boundaryFree = (b: Buffer) => b.toString('latin1').replace(/=_campaign_[0-9a-f]{24}/g, '=_campaign_B');

test('builds the same bytes as the reference builder for contents and values of every kind', () => {
  const pick = random(19);
  const date = new Date('2026-12-04T02:30:00Z');
  for (let c = 0; c < 600; c++) {
    const kind = pick(3);
    const content = {
      sender: pick(4) === 0 ? 'Zoë <zoe@example.test>' : 'news@example.test',
      subject: pick(2) ? 'Hello {{first}}' : template(pick).replace(/[\r\n]/g, ''),
      textBody: kind === 1 ? null : template(pick),
      htmlBody: kind === 2 ? null : template(pick),
    };
    const build = compileMessage(content);
    const reference = referenceMessage(content);
    for (let r = 0; r < 6; r++) {
      const data: Record<string, string> = {
        first: VALUES[pick(VALUES.length)]!,
        city: VALUES[pick(VALUES.length)]!,
      };
      if (pick(5) === 0) data.email = VALUES[pick(VALUES.length)]!;
      // An SMTPUTF8 address or sender domain puts non-ASCII in To: and in the message id.
      const recipient = { email: pick(6) === 0 ? `zoë${r}@exämple.test` : `user${r}@example.test`, data };
      const id = `1.${r}.7.0123456789abcdef@${pick(6) === 0 ? 'exämple.test' : 'example.test'}`;
      expect(boundaryFree(build(recipient, id, date))).toBe(boundaryFree(reference(recipient, id, date)));
    }
  }
});

test('a line of 999 characters stays 7bit, one of 1,000 goes base64, wherever the values put the line end', () => {
  const date = new Date('2026-12-04T02:30:00Z');
  for (const body of [
    '{{first}}\n',
    'a{{first}}{{city}}b\nc',
    'x{{first}}',
    '\n{{first}}{{city}}',
    `${'x'.repeat(980)}{{first}}\r\n`,
    `${'x'.repeat(1000)}\n{{first}}`,
    'a\r{{first}}\nb',
    'a\r{{missing}}{{first}}\nb',
  ]) {
    const content = { sender: 'a@example.test', subject: 's', textBody: body, htmlBody: body };
    const build = compileMessage(content);
    const reference = referenceMessage(content);
    for (let n = 0; n <= 1001; n += n < 960 ? 40 : 1) {
      const recipient = { email: 'b@example.test', data: { first: 'f'.repeat(n), city: 'c' } };
      expect(boundaryFree(build(recipient, 'x@example.test', date))).toBe(
        boundaryFree(reference(recipient, 'x@example.test', date)),
      );
    }
  }
});

test("the date is each message's own, formatted once for the messages that share it", () => {
  const build = compileMessage({ sender: 'a@example.test', subject: 's', textBody: 't', htmlBody: null });
  const one = build(
    { email: 'b@example.test', data: {} },
    'x@example.test',
    new Date('2026-12-04T02:30:00Z'),
  );
  const two = build(
    { email: 'b@example.test', data: {} },
    'x@example.test',
    new Date('2026-12-05T03:00:00Z'),
  );
  expect(one.toString()).toContain('Date: Fri, 04 Dec 2026 02:30:00 +0000\r\n');
  expect(two.toString()).toContain('Date: Sat, 05 Dec 2026 03:00:00 +0000\r\n');
});

// The builder before the 7bit parts were prepared once per delivery, as it was.

/** The content a delivery sends, before personalization. */
interface MessageContent {
  sender: string;
  subject: string;
  textBody: string | null;
  htmlBody: string | null;
}

/** Builds the raw bytes of one message for one recipient and attempt. */
type MessageBuilder = (
  recipient: { email: string; data: Record<string, string> },
  messageId: string,
  date: Date,
) => Buffer;

const ASCII_SAFE = /^[\t\x20-\x7e]*$/;
const NOT_7BIT = /[^\t\r\n\x20-\x7e]/;

/** True when a CRLF text cannot travel as 7bit: a non-ASCII byte, or a line over RFC 5322's 998 characters. */
function needsEncoding(crlf: string): boolean {
  if (NOT_7BIT.test(crlf)) return true;
  // Measured line by line: a regex like /[^\n]{999}/ backtracks and costs milliseconds a message.
  for (let start = 0; start < crlf.length; ) {
    const end = crlf.indexOf('\n', start);
    const stop = end === -1 ? crlf.length : end;
    if (stop - start > 999) return true;
    start = stop + 1;
  }
  return false;
}

/** RFC 2047 encoded words for a header value that is not plain ASCII; ASCII stays readable. */
function encodeHeader(value: string): string {
  const clean = value.replace(/[\r\n]+/g, ' ');
  if (ASCII_SAFE.test(clean) && clean.length < 900) return clean;
  const words: string[] = [];
  let chunk = '';
  for (const char of clean) {
    // 45 bytes of UTF-8 make 60 base64 characters: each encoded word stays under 76, no character split.
    if (Buffer.byteLength(chunk + char) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

function wrapBase64(text: string): string {
  const b64 = Buffer.from(text).toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 76) out += `${b64.slice(i, i + 76)}\r\n`;
  return out;
}

/** A body part: 7bit when it is short-lined ASCII (cheap and readable), else base64. */
function bodyPart(type: 'plain' | 'html', body: string): string {
  const crlf = body.replace(/\r?\n/g, '\r\n');
  if (!needsEncoding(crlf)) {
    return `Content-Type: text/${type}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${crlf}\r\n`;
  }
  return `Content-Type: text/${type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${wrapBase64(body)}`;
}

/** Compiles a delivery's content once; the returned builder only fills in what varies per recipient. */
function referenceMessage(content: MessageContent): MessageBuilder {
  const subject = compileTemplate(content.subject);
  const text: CompiledTemplate | null = content.textBody !== null ? compileTemplate(content.textBody) : null;
  const html: CompiledTemplate | null = content.htmlBody !== null ? compileTemplate(content.htmlBody) : null;
  const boundary = `=_campaign_${randomBytes(12).toString('hex')}`;
  const from = encodeHeader(content.sender);
  const staticSubject = subject.columns.length === 0 ? encodeHeader(content.subject) : null;

  return (recipient, messageId, date) => {
    const values = { email: recipient.email, ...recipient.data };
    const subjectHeader = staticSubject ?? encodeHeader(render(subject, values));
    let head =
      `From: ${from}\r\nTo: ${recipient.email}\r\nSubject: ${subjectHeader}\r\nDate: ${date.toUTCString().replace('GMT', '+0000')}\r\n` +
      `Message-ID: <${messageId}>\r\nX-Campaign-Message-Id: ${messageId}\r\n` +
      // SparkPost / Momentum echo this metadata in every event's rcpt_meta: how their feedback names our id.
      `X-MSYS-API: {"metadata":{"campaign_message_id":${JSON.stringify(messageId)}}}\r\nMIME-Version: 1.0\r\n`;
    let body: string;
    if (text && html) {
      head += `Content-Type: multipart/alternative; boundary="${boundary}"\r\n\r\n`;
      body =
        `--${boundary}\r\n${bodyPart('plain', render(text, values))}` +
        `--${boundary}\r\n${bodyPart('html', render(html, values, escapeHtml))}--${boundary}--\r\n`;
    } else if (html) {
      body = bodyPart('html', render(html, values, escapeHtml));
    } else {
      body = bodyPart('plain', text ? render(text, values) : '');
    }
    return Buffer.from(head + body);
  };
}
