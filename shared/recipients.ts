// Reads a recipients file (CSV with a header, or JSON lines) as a stream of validated rows.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';

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
 * Yields each row of the file with either the recipient or the reason it is refused. `required` are the
 * columns the message's placeholders use: a row without one of them is an error.
 */
export async function* readRecipients(
  path: string,
  required: string[],
): AsyncGenerator<{ row: RecipientRow } | { error: RowError }> {
  const source = detectFormat(path) === 'jsonl' ? readJsonLines(path) : readCsv(path, required);
  for await (const item of source) {
    if ('error' in item) {
      yield item;
      continue;
    }
    const { line, record } = item;
    const rawEmail = record.email;
    if (rawEmail === undefined || rawEmail === '') {
      yield { error: { line, message: 'the column "email" is missing or empty' } };
      continue;
    }
    const email = normalizeEmail(rawEmail);
    if (email === null) {
      yield { error: { line, message: `"${rawEmail}" is not a valid e-mail address` } };
      continue;
    }
    const missing = required.filter((column) => column !== 'email' && record[column] === undefined);
    if (missing.length > 0) {
      yield {
        error: {
          line,
          message: missingMessage(missing),
        },
      };
      continue;
    }
    const { email: _ignored, ...data } = record;
    yield { row: { line, email, data } };
  }
}

type RawItem = { line: number; record: Record<string, string> } | { error: RowError };

const missingMessage = (missing: string[]) =>
  `the column${missing.length > 1 ? 's' : ''} "${missing.join('", "')}" the message uses ${missing.length > 1 ? 'are' : 'is'} missing`;

async function* readCsv(path: string, required: string[]): AsyncGenerator<RawItem> {
  // Rows come as arrays so that a short or long row is reported with its line and parsing goes on.
  const source = createReadStream(path);
  const parser = source.pipe(
    parse({ bom: true, skip_empty_lines: true, info: true, trim: true, relax_column_count: true }),
  );
  // pipe() does not forward the file's read errors; unforwarded, one would crash the process.
  source.on('error', (error) => parser.destroy(error));
  let header: string[] | null = null;
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      const line = startLine(info.lines, record);
      if (header === null) {
        header = record.map((h) => h.trim());
        if (!header.includes('email')) {
          yield { error: { line, message: 'the header has no column "email"' } };
          return;
        }
        // A column the message uses that the header lacks is missing from every row: say it once, for the file.
        const missing = required.filter((column) => column !== 'email' && !header?.includes(column));
        if (missing.length > 0) {
          const columns = `column${missing.length > 1 ? 's' : ''} "${missing.join('", "')}"`;
          yield { error: { line, message: `the header has no ${columns}, which the message uses` } };
          return;
        }
        continue;
      }
      if (record.length !== header.length) {
        yield {
          error: {
            line,
            message: `the row has ${record.length} column${record.length === 1 ? '' : 's'} where the header has ${header.length}`,
          },
        };
        continue;
      }
      const fields: Record<string, string> = {};
      for (let i = 0; i < header.length; i++) fields[header[i]!] = record[i]!;
      yield { line, record: fields };
    }
  } catch (error) {
    // A quoting error leaves the parser unable to find the next row: report it and stop.
    const err = error as { lines?: number; message: string };
    yield { error: { line: err.lines ?? 0, message: `the file is not valid CSV here (${err.message})` } };
  }
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
    const record: Record<string, string> = {};
    for (const [key, field] of Object.entries(value)) {
      if (field !== null && field !== undefined)
        record[key] = typeof field === 'string' ? field : JSON.stringify(field);
    }
    yield { line, record };
  }
}
