// A light, lenient MIME split for bounce mail: headers, parts and decoded text, nothing more.
//
// Why not mailparser's simpleParser: it builds a whole mail object (addresses, HTML to text, attachments as
// streams) at ~400 mails/s, and it is strict where bounces are broken (a boundary declared one way and used
// another, a delivery-status part folded into the text). Here line ends are normalized once, boundaries are
// found leniently and only the text a bounce reader needs is decoded (libmime and libqp, mailparser's own
// pieces, read header values and encoded words; TextDecoder the charsets).
import libmime from 'libmime';
import libqp from 'libqp';

/** One MIME entity: lower-cased header names in order, the content type, decoded text and sub-parts. */
export interface MimePart {
  headers: Map<string, string[]>;
  contentType: string;
  params: Record<string, string>;
  /** The body as written (transfer encoding not undone); for multipart, the whole body. */
  rawBody: string;
  parts: MimePart[];
}

/** Normalizes CRLF and lone CR to LF: bounces arrive with all three. */
export function normalizeLines(raw: string | Buffer): string {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  return text.indexOf('\r') < 0 ? text : text.replace(/\r\n?/g, '\n');
}

/**
 * Splits a header block from its body at the first empty line, or at the first line that is neither a field
 * nor a folded continuation (some MTAs write no empty line after the headers). An mbox "From " line is skipped.
 */
function splitHead(text: string): [string, string] {
  let at = text.startsWith('From ') ? text.indexOf('\n') + 1 : 0;
  const start = at;
  while (at < text.length) {
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end < 0 ? text.length : end);
    if (line.trim() === '') return [text.slice(start, at), text.slice(end < 0 ? text.length : end + 1)];
    if (!(line.startsWith(' ') || line.startsWith('\t')) && !FIELD.test(line))
      return [text.slice(start, at), text.slice(at)];
    if (end < 0) break;
    at = end + 1;
  }
  return [text.slice(start), ''];
}

const FIELD = /^[!-9;-~]+[ \t]*:/;

/** Reads `Name: value` fields, joining folded lines; tolerant of junk lines between fields. */
export function readHeaderBlock(block: string): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  let last: string[] | null = null;
  let index = -1;
  for (const line of block.split('\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      last[index] = `${last[index]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || !/^[!-9;-~]+$/.test(line.slice(0, colon).trimEnd())) {
      last = null;
      continue;
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const values = headers.get(name) ?? [];
    values.push(line.slice(colon + 1).trim());
    headers.set(name, values);
    last = values;
    index = values.length - 1;
  }
  return headers;
}

/** The first value of a header, encoded words decoded; '' when absent. */
export function header(part: { headers: Map<string, string[]> }, name: string): string {
  const value = part.headers.get(name)?.[0];
  if (!value) return '';
  return value.includes('=?') ? safeDecodeWords(value) : value;
}

function safeDecodeWords(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

function parseContentType(value: string): { type: string; params: Record<string, string> } {
  if (!value) return { type: 'text/plain', params: {} };
  const parsed = libmime.parseHeaderValue(value);
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed.params ?? {})) params[k.toLowerCase()] = String(v);
  // Some MTAs leave out the ';' before the parameters: the type is the leading type/subtype token only.
  const type = /^[\w.+-]+\/[\w.+-]+/.exec(String(parsed.value).trim())?.[0] ?? 'text/plain';
  if (!params.charset) {
    const charset = /charset\s*=\s*"?([\w.:-]+)/i.exec(value)?.[1];
    if (charset) params.charset = charset;
  }
  return { type: type.toLowerCase(), params };
}

const MAX_DEPTH = 6;

/** Parses one entity (a whole mail, or a part); `depth` bounds nesting so a hostile mail cannot recurse far. */
export function parseEntity(text: string, depth = 0): MimePart {
  const [head, rawBody] = splitHead(text);
  const headers = readHeaderBlock(head);
  const { type, params } = parseContentType(headers.get('content-type')?.[0] ?? '');
  const part: MimePart = { headers, contentType: type, params, rawBody, parts: [] };
  if (depth < MAX_DEPTH && type.startsWith('multipart/')) {
    part.parts = splitMultipart(rawBody, params.boundary).map((p) => parseEntity(p, depth + 1));
  }
  return part;
}

/** The boundary lines of a body: the declared one if used, else the first `--token` line that repeats. */
function findBoundary(body: string, declared: string | undefined): string | null {
  if (declared && body.includes(`--${declared}`)) return declared;
  const candidates = body.match(/^--[^\s-][^\s]{4,}[ \t]*$/gm) ?? [];
  const counts = new Map<string, number>();
  for (const line of candidates) {
    const token = line.trim().slice(2).replace(/--$/, '');
    counts.set(token, (counts.get(token) ?? 0) + 1);
  }
  for (const [token, count] of counts) if (count >= 2) return token;
  return null;
}

/** Where the next delimiter line starts at or after `from` (leading blanks tolerated: some MTAs indent it). */
function delimiterAt(body: string, delimiter: string, from: number): number {
  let i = body.indexOf(delimiter, from);
  while (i >= 0) {
    const lineStart = body.lastIndexOf('\n', i - 1) + 1;
    if (/^[ \t]*$/.test(body.slice(lineStart, i))) return i;
    i = body.indexOf(delimiter, i + 1);
  }
  return -1;
}

function splitMultipart(body: string, declared: string | undefined): string[] {
  const boundary = findBoundary(body, declared);
  if (!boundary) return body.trim() ? [body] : [];
  const parts: string[] = [];
  const delimiter = `--${boundary}`;
  let at = delimiterAt(body, delimiter, 0);
  while (at >= 0 && !body.startsWith('--', at + delimiter.length)) {
    const lineEnd = body.indexOf('\n', at);
    if (lineEnd < 0) break;
    const next = delimiterAt(body, delimiter, lineEnd + 1);
    const end = next < 0 ? body.length : body.lastIndexOf('\n', next - 1);
    parts.push(body.slice(lineEnd + 1, Math.max(lineEnd + 1, end)));
    at = next;
  }
  return parts;
}

/** The body's text: transfer encoding undone, charset decoded (unknown charsets read as UTF-8). */
export function bodyText(part: MimePart): string {
  const encoding = (part.headers.get('content-transfer-encoding')?.[0] ?? '').toLowerCase().trim();
  const charset = (part.params.charset ?? 'utf-8').toLowerCase();
  if (encoding === 'base64' || encoding === 'quoted-printable') {
    const bytes =
      encoding === 'base64'
        ? Buffer.from(part.rawBody.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64')
        : libqp.decode(part.rawBody);
    return normalizeLines(decodeCharset(bytes, charset));
  }
  if (!part.rawBody.includes('\u001b')) return part.rawBody;
  // ISO-2022-JP escapes in a part that declares no charset (Japanese MTAs' delivery-status fields, prose).
  const sevenBit = /^(?:utf-?8|us-ascii|ascii)$/.test(charset) ? 'iso-2022-jp' : charset;
  return decodeCharset(Buffer.from(part.rawBody, 'latin1'), sevenBit);
}

function decodeCharset(bytes: Buffer, charset: string): string {
  if (/^(?:utf-?8|us-ascii|ascii)$/.test(charset)) return bytes.toString('utf8');
  try {
    // Node's full ICU knows the legacy charsets bounces come in (iso-2022-jp, shift_jis, koi8-r, …).
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** Every part, depth first, the entity itself included. */
export function walk(part: MimePart): MimePart[] {
  return [part, ...part.parts.flatMap(walk)];
}
