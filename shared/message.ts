// Builds each recipient's RFC 5322 message from a template compiled once per delivery (no MIME library on the hot path).
import { randomBytes } from 'node:crypto';
import { type CompiledTemplate, compileTemplate, escapeHtml, render } from './rules/template';

/** The content a delivery sends, before personalization. */
export interface MessageContent {
  sender: string;
  subject: string;
  textBody: string | null;
  htmlBody: string | null;
}

/** Builds the raw bytes of one message for one recipient and attempt. */
export type MessageBuilder = (
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
export function encodeHeader(value: string): string {
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
export function compileMessage(content: MessageContent): MessageBuilder {
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
