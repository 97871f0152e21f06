// Builds each recipient's RFC 5322 message from a template compiled once per delivery (no MIME library on the hot path).
import { randomBytes } from 'node:crypto';
import { type CompiledTemplate, compileTemplate, escapeHtml } from './rules/template';

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
/** Any character that is not ASCII (a UTF-16 code unit from 0x80 up, surrogates included). */
const NOT_ASCII = /[\u0080-\uffff]/;
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

type Recipient = Parameters<MessageBuilder>[0];
const NO_DATA: Record<string, string> = {};

/**
 * A column's value for a recipient, as `{ email, ...data }` would give it (a column of the file named
 * `email` wins), without building that object for every message. Own values only: a column the
 * recipient lacks is empty, never a property of Object.prototype.
 */
function columnValue(recipient: Recipient, column: string): string {
  const data = recipient.data ?? NO_DATA;
  if (Object.hasOwn(data, column)) return data[column] ?? '';
  return column === 'email' ? (recipient.email ?? '') : '';
}

/** `render` of the template over a recipient's values (see columnValue). */
function renderFor(
  template: CompiledTemplate,
  recipient: Recipient,
  escapeValue?: (v: string) => string,
): string {
  const { parts, columns } = template;
  if (columns.length === 0) return parts[0]!;
  let out = parts[0]!;
  for (let i = 0; i < columns.length; i++) {
    const value = columnValue(recipient, columns[i]!);
    out += (escapeValue ? escapeValue(value) : value) + parts[i + 1]!;
  }
  return out;
}

/** Where a value may go into a 7bit body as it is: printable ASCII and tabs (no line end, no 8-bit). */
const PLAIN_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * A body template prepared once per delivery: its literal parts with CRLF line ends, checked for 7bit and
 * measured (the length before their first line end, after their last), so that a message whose values are
 * plain needs neither the line-end rewrite nor the 7bit scan of its whole body: the same bytes as bodyPart
 * of the rendered body. Null where the literal parts alone rule that out (then every message takes bodyPart).
 */
interface PlainBody {
  prefix: string;
  parts: string[];
  /** Characters before the part's first LF (the CR counted, as needsEncoding counts), or -1 without one. */
  head: number[];
  /** Characters after the part's last LF (or the whole part without one). */
  tail: number[];
}

function planBody(type: 'plain' | 'html', template: CompiledTemplate): PlainBody | null {
  const { parts } = template;
  // A CR ending one part and a LF starting the next one that is not empty make one line end when the values
  // between are empty: such a template keeps the whole body's rewrite.
  for (let i = 0; i < parts.length; i++) {
    if (!parts[i]!.endsWith('\r')) continue;
    const next = parts.slice(i + 1).find((p) => p !== '');
    if (next?.startsWith('\n')) return null;
  }
  const crlfParts = parts.map((p) => p.replace(/\r?\n/g, '\r\n'));
  const head: number[] = [];
  const tail: number[] = [];
  for (const part of crlfParts) {
    if (NOT_7BIT.test(part)) return null;
    const first = part.indexOf('\n');
    const last = part.lastIndexOf('\n');
    // A whole line inside one part: too long for every recipient alike.
    if (first >= 0 && needsEncoding(part.slice(first + 1, last + 1))) return null;
    head.push(first);
    tail.push(first < 0 ? part.length : part.length - last - 1);
  }
  return {
    prefix: `Content-Type: text/${type}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n`,
    parts: crlfParts,
    head,
    tail,
  };
}

/** One recipient's body part: through the prepared parts when its values are plain, else bodyPart's way. */
function renderBody(
  type: 'plain' | 'html',
  template: CompiledTemplate,
  plain: PlainBody | null,
  recipient: Recipient,
  escapeValue?: (v: string) => string,
): string {
  if (plain) {
    const { parts, head, tail } = plain;
    const { columns } = template;
    let out = parts[0]!;
    // The length of the line being written, checked at each line end as needsEncoding checks it.
    let line = tail[0]!;
    let fits = head[0]! <= 999;
    for (let i = 0; fits && i < columns.length; i++) {
      const raw: unknown = columnValue(recipient, columns[i]!);
      const value = typeof raw !== 'string' ? null : escapeValue ? escapeValue(raw) : raw;
      if (value === null || !PLAIN_VALUE.test(value)) fits = false;
      else {
        const h = head[i + 1]!;
        if (h < 0) line += value.length + tail[i + 1]!;
        else {
          fits = line + value.length + h <= 999;
          line = tail[i + 1]!;
        }
        out += value + parts[i + 1]!;
      }
    }
    if (fits && line <= 999) return `${plain.prefix}${out}\r\n`;
  }
  return bodyPart(type, renderFor(template, recipient, escapeValue));
}

/** Compiles a delivery's content once; the returned builder only fills in what varies per recipient. */
export function compileMessage(content: MessageContent): MessageBuilder {
  const subject = compileTemplate(content.subject);
  const text: CompiledTemplate | null = content.textBody !== null ? compileTemplate(content.textBody) : null;
  const html: CompiledTemplate | null = content.htmlBody !== null ? compileTemplate(content.htmlBody) : null;
  const plainText = text ? planBody('plain', text) : null;
  const plainHtml = html ? planBody('html', html) : null;
  const emptyText = text ? null : bodyPart('plain', '');
  const boundary = `=_campaign_${randomBytes(12).toString('hex')}`;
  const from = `From: ${encodeHeader(content.sender)}\r\nTo: `;
  const staticSubject = subject.columns.length === 0 ? encodeHeader(content.subject) : null;
  const multipart = `MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="${boundary}"\r\n\r\n--${boundary}\r\n`;
  const between = `--${boundary}\r\n`;
  const closing = `--${boundary}--\r\n`;
  // The messages of one hand-off share their date: formatted once for all of them.
  let dateTime = Number.NaN;
  let dateHeader = '';

  return (recipient, messageId, date) => {
    const subjectHeader = staticSubject ?? encodeHeader(renderFor(subject, recipient));
    if (date.getTime() !== dateTime) {
      dateTime = date.getTime();
      dateHeader = date.toUTCString().replace('GMT', '+0000');
    }
    const head =
      `${from}${recipient.email}\r\nSubject: ${subjectHeader}\r\nDate: ${dateHeader}\r\n` +
      `Message-ID: <${messageId}>\r\nX-Campaign-Message-Id: ${messageId}\r\n` +
      // SparkPost / Momentum echo this metadata in every event's rcpt_meta: how their feedback names our id.
      `X-MSYS-API: {"metadata":{"campaign_message_id":${JSON.stringify(messageId)}}}\r\n`;
    let message: string;
    if (text && html) {
      message =
        `${head}${multipart}${renderBody('plain', text, plainText, recipient)}` +
        `${between}${renderBody('html', html, plainHtml, recipient, escapeHtml)}${closing}`;
    } else if (html) {
      message = `${head}MIME-Version: 1.0\r\n${renderBody('html', html, plainHtml, recipient, escapeHtml)}`;
    } else {
      message = `${head}MIME-Version: 1.0\r\n${text ? renderBody('plain', text, plainText, recipient) : emptyText}`;
    }
    // Every part of a message is ASCII but the recipient's address and the message id (SMTPUTF8): where
    // they are ASCII too, the bytes are the characters, with no UTF-8 encoding to work out.
    return Buffer.from(
      message,
      NOT_ASCII.test(recipient.email) || NOT_ASCII.test(messageId) ? 'utf8' : 'latin1',
    );
  };
}
