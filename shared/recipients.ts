// Reads a recipients file (CSV with a header, or JSON lines) as a stream of validated rows.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Parser } from 'csv-parse';
import { textProblem } from './storable';

/**
 * Bytes a personalization value may hold (UTF-8): a name, a code, a paragraph; every message carries its
 * values, so a huge one costs every send (a 50 MB cell took the pipeline to 1.6 GB).
 */
export const MAX_VALUE_BYTES = 32 * 1024;
/** Bytes a row (or a JSON line) may hold, all its values together; also what the CSV reader buffers at most. */
export const MAX_ROW_BYTES = 256 * 1024;

/** One recipient as read: its 1-based line in the file, its address and its personalization values. */
export interface RecipientRow {
  line: number;
  email: string;
  data: Record<string, string>;
}

/** A row that cannot be imported, with its line number and a sentence saying why. */
export interface RowError {
  line: number;
  message: string;
}

// The WHATWG (HTML) definition of a valid e-mail address: what browsers and most senders accept.
const EMAIL =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$/;

/** Lower-cases and trims an address; null when it is not a deliverable address. */
export function normalizeEmail(raw: string): string | null {
  const email = raw.trim().toLowerCase();
  return email.length <= 254 && EMAIL.test(email) ? email : null;
}

export function detectFormat(path: string): 'csv' | 'jsonl' {
  return /\.(jsonl|ndjson|json)$/i.test(path) ? 'jsonl' : 'csv';
}

/**
 * A stretch of the file, read in one go (about 1 MB): its valid rows as parallel arrays, no object a row, and
 * the rows refused in it. `data[i]` is row i's personalization values as the text of a JSON object (what
 * the targets' `data` column stores); an error's `at` is how many of the stretch's rows come before it.
 */
export interface RecipientBatch {
  lines: number[];
  emails: string[];
  data: string[];
  errors: (RowError & { at: number })[];
}

/**
 * Yields each row of the file with either the recipient or the reason it is refused. `required` are the
 * columns the message's placeholders use: a row without one of them is an error. (The import reads
 * `readRecipientBatches`, the same rows and errors without an object a row.)
 */
export async function* readRecipients(
  path: string,
  required: string[],
): AsyncGenerator<{ row: RecipientRow } | { error: RowError }> {
  for await (const batch of readRecipientBatches(path, required)) {
    let e = 0;
    for (let i = 0; i <= batch.emails.length; i++) {
      while (e < batch.errors.length && batch.errors[e]!.at === i) {
        const { at: _at, ...error } = batch.errors[e++]!;
        yield { error };
      }
      if (i === batch.emails.length) break;
      const data: Record<string, string> = Object.create(null);
      Object.assign(data, JSON.parse(batch.data[i]!));
      yield { row: { line: batch.lines[i]!, email: batch.emails[i]!, data } };
    }
  }
}

/** The rows of the file, a stretch at a time: what `readRecipients` yields, without an object a row. */
export async function* readRecipientBatches(
  path: string,
  required: string[],
): AsyncGenerator<RecipientBatch> {
  if (detectFormat(path) === 'csv') {
    yield* readCsv(path, required);
    return;
  }
  let batch = newBatch();
  for await (const item of readJsonLines(path)) {
    if ('error' in item) batch.errors.push({ ...item.error, at: batch.emails.length });
    else addRecord(batch, item.line, item.record, required);
    if (batch.emails.length + batch.errors.length >= 10_000) {
      yield batch;
      batch = newBatch();
    }
  }
  if (batch.emails.length + batch.errors.length > 0) yield batch;
}

const newBatch = (): RecipientBatch => ({ lines: [], emails: [], data: [], errors: [] });

/** Checks a row read as a record (the general path: JSON lines, or a CSV row that looks unusual). */
function addRecord(
  batch: RecipientBatch,
  line: number,
  record: Record<string, string>,
  required: string[],
): void {
  const refuse = (message: string) => batch.errors.push({ line, message, at: batch.emails.length });
  const problem = recordProblem(record);
  if (problem) return void refuse(problem);
  const rawEmail = record.email;
  if (rawEmail === undefined || rawEmail === '') return void refuse('the column "email" is missing or empty');
  const email = normalizeEmail(rawEmail);
  if (email === null) return void refuse(`"${rawEmail}" is not a valid e-mail address`);
  const missing = required.filter((column) => column !== 'email' && record[column] === undefined);
  if (missing.length > 0) return void refuse(missingMessage(missing));
  const { email: _ignored, ...data } = record;
  batch.lines.push(line);
  batch.emails.push(email);
  batch.data.push(JSON.stringify(data));
}

/** Why a row cannot be stored (a NUL, an unpaired surrogate, a value or row over its cap), or null. */
function recordProblem(record: Record<string, string>): string | null {
  let bytes = 0;
  for (const [key, value] of Object.entries(record)) {
    const problem = textProblem(key) ?? textProblem(value);
    if (problem) return `the column "${key.replaceAll('\u0000', '\\u0000')}" ${problem}`;
    const size = Buffer.byteLength(value);
    if (size > MAX_VALUE_BYTES)
      return `the value of "${key}" is ${size} bytes; a value may hold at most ${MAX_VALUE_BYTES} bytes`;
    bytes += size + Buffer.byteLength(key);
  }
  return bytes > MAX_ROW_BYTES
    ? `the row is ${bytes} bytes; a row may hold at most ${MAX_ROW_BYTES} bytes`
    : null;
}

type RawItem = { line: number; record: Record<string, string> } | { error: RowError };

const missingMessage = (missing: string[]) =>
  `the column${missing.length > 1 ? 's' : ''} "${missing.join('", "')}" the message uses ${missing.length > 1 ? 'are' : 'is'} missing`;

/**
 * csv-parse's stream, whose records are taken as they are parsed instead of queued: `info.lines` is then the
 * line the record ends on, without the `info` option's object a record (a third of the parse's time).
 */
class RecordTaker extends Parser {
  takeRecord: (record: string[], endLine: number) => void = () => {};
  override push(record: unknown, encoding?: BufferEncoding): boolean {
    if (record === null) return super.push(null, encoding);
    this.takeRecord(record as string[], this.info.lines);
    return true;
  }
}

/** A value that may hold a NUL or a surrogate (paired or not): `textProblem` says which, if any. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: a NUL is one of the characters it looks for
const UNUSUAL = /[\u0000\ud800-\udfff]/;
/** Below this many UTF-16 units a value is under MAX_VALUE_BYTES whatever it holds (3 bytes a unit at most). */
const SURELY_SHORT = Math.floor(MAX_VALUE_BYTES / 3);

async function* readCsv(path: string, required: string[]): AsyncGenerator<RecipientBatch> {
  // Rows come as arrays so that a short or long row is reported with its line and parsing goes on.
  const parser = new RecordTaker({
    bom: true,
    skip_empty_lines: true,
    trim: true,
    relax_column_count: true,
    // A field longer than a whole row may be is refused as it is read, never buffered whole.
    max_record_size: MAX_ROW_BYTES,
  });
  let failure: unknown = null;
  parser.on('error', (error) => {
    failure ??= error;
  });
  let batch = newBatch();
  let header: string[] | null = null;
  let stop = false;
  /** Per column, `"name":` as JSON writes it; the email column's index, where a row's address is. */
  let keys: string[] = [];
  let emailAt = -1;
  /** UTF-8 bytes of the header's names, counted in each row's size; whether any name needs the full check. */
  let keyBytes = 0;
  let unusualHeader = false;
  const refuse = (line: number, message: string) =>
    batch.errors.push({ line, message, at: batch.emails.length });

  parser.takeRecord = (record, endLine) => {
    if (stop) return;
    const line = startLine(endLine, record);
    if (header === null) {
      header = record.map((h) => h.trim());
      if (!header.includes('email')) {
        refuse(line, 'the header has no column "email"');
        stop = true;
        return;
      }
      const twice = header.find((h, i) => header!.indexOf(h) !== i);
      if (twice !== undefined) {
        refuse(line, `the header names the column "${twice}" twice; name each column once`);
        stop = true;
        return;
      }
      // A column the message uses that the header lacks is missing from every row: say it once, for the file.
      const missing = required.filter((column) => column !== 'email' && !header?.includes(column));
      if (missing.length > 0) {
        const columns = `column${missing.length > 1 ? 's' : ''} "${missing.join('", "')}"`;
        refuse(line, `the header has no ${columns}, which the message uses`);
        stop = true;
        return;
      }
      keys = header.map((h) => `${JSON.stringify(h)}:`);
      emailAt = header.indexOf('email');
      keyBytes = header.reduce((n, h) => n + Buffer.byteLength(h), 0);
      unusualHeader = header.some((h) => UNUSUAL.test(h));
      return;
    }
    if (record.length !== header.length) {
      refuse(
        line,
        `the row has ${record.length} column${record.length === 1 ? '' : 's'} where the header has ${header.length}`,
      );
      return;
    }
    // The usual row (no NUL, no surrogate, no long value, a row far under its cap) is checked by these
    // bounds alone; any other goes the general way, with recordProblem's exact sizes and sentences.
    let usual = !unusualHeader;
    let units = 0;
    for (let i = 0; usual && i < record.length; i++) {
      const value = record[i]!;
      units += value.length;
      if (value.length > SURELY_SHORT || UNUSUAL.test(value)) usual = false;
    }
    if (!usual || units * 3 + keyBytes > MAX_ROW_BYTES) {
      // Without a prototype, a column named __proto__ or constructor is a column like any other.
      const fields: Record<string, string> = Object.create(null);
      for (let i = 0; i < header.length; i++) fields[header[i]!] = record[i]!;
      addRecord(batch, line, fields, required);
      return;
    }
    const rawEmail = record[emailAt]!;
    if (rawEmail === '') return void refuse(line, 'the column "email" is missing or empty');
    const email = normalizeEmail(rawEmail);
    if (email === null) return void refuse(line, `"${rawEmail}" is not a valid e-mail address`);
    let json = '{';
    for (let i = 0; i < record.length; i++) {
      if (i === emailAt) continue;
      json += `${json.length > 1 ? ',' : ''}${keys[i]}${JSON.stringify(record[i])}`;
    }
    batch.lines.push(line);
    batch.emails.push(email);
    batch.data.push(`${json}}`);
  };

  const source = createReadStream(path, { highWaterMark: 1 << 16 });
  try {
    for await (const chunk of source) {
      parser.write(chunk);
      // A parse error is emitted on the next tick; the rows before it in this chunk are in the batch.
      await new Promise(setImmediate);
      if (failure) throw failure;
      if (batch.emails.length + batch.errors.length > 0) {
        yield batch;
        batch = newBatch();
      }
      if (stop) return;
    }
    parser.end();
    if (!parser.writableFinished) await once(parser, 'finish');
    if (failure) throw failure;
  } catch (error) {
    // A quoting error leaves the parser unable to find the next row: report it and stop.
    const err = error as { lines?: number; message: string; code?: string };
    const message =
      err.code === 'CSV_MAX_RECORD_SIZE'
        ? `a value is over ${MAX_ROW_BYTES} bytes, more than a whole row may hold; nothing after it was read`
        : `the file is not valid CSV here (${err.message})`;
    batch.errors.push({ line: err.lines ?? 0, message, at: batch.emails.length });
  } finally {
    source.destroy();
  }
  if (batch.emails.length + batch.errors.length > 0) yield batch;
}

/** csv-parse counts lines up to a record's end; a quoted field spanning lines must not push the row's number down. */
function startLine(endLine: number, record: string[]): number {
  let newlines = 0;
  for (const field of record)
    for (let i = field.indexOf('\n'); i !== -1; i = field.indexOf('\n', i + 1)) newlines++;
  return endLine - newlines;
}

async function* readJsonLines(path: string): AsyncGenerator<RawItem> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    const size = Buffer.byteLength(text);
    if (size > MAX_ROW_BYTES) {
      yield {
        error: { line, message: `the line is ${size} bytes; a row may hold at most ${MAX_ROW_BYTES} bytes` },
      };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      yield { error: { line, message: 'the line is not valid JSON' } };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { error: { line, message: 'the line is not a JSON object' } };
      continue;
    }
    const record: Record<string, string> = Object.create(null);
    for (const [key, field] of Object.entries(value)) {
      if (field !== null && field !== undefined)
        record[key] = typeof field === 'string' ? field : JSON.stringify(field);
    }
    yield { line, record };
  }
}
