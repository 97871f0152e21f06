// Reading recipients files: CSV with a header or JSON lines, each bad row reported with its line.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { detectFormat, normalizeEmail, type RecipientRow, type RowError, readRecipients } from './recipients';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'recipients-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileNumber = 0;

/** Writes `content` to a fresh file with the given extension and reads it back as rows and errors. */
async function read(content: string | Buffer, ext: string, required: string[] = []) {
  const file = path.join(dir, `r${++fileNumber}.${ext}`);
  await writeFile(file, content);
  const rows: RecipientRow[] = [];
  const errors: RowError[] = [];
  for await (const item of readRecipients(file, required)) {
    if ('row' in item) rows.push(item.row);
    else errors.push(item.error);
  }
  return { rows, errors };
}

describe('normalizeEmail', () => {
  it.each([
    ['a@example.com', 'a@example.com'],
    ['  Ann.Lee+news@Example.COM ', 'ann.lee+news@example.com'],
    ["o'neil@sub.example.co.uk", "o'neil@sub.example.co.uk"],
  ])('accepts %j as %j', (raw, email) => {
    expect(normalizeEmail(raw)).toBe(email);
  });

  it.each([
    '',
    'ann',
    'ann@',
    '@example.com',
    'ann@example',
    'a b@example.com',
    'ann@exa_mple.com',
    'ann@@example.com',
    `${'a'.repeat(250)}@example.com`,
  ])('refuses %j', (raw) => {
    expect(normalizeEmail(raw)).toBeNull();
  });
});

describe('detectFormat', () => {
  it.each([
    ['r.csv', 'csv'],
    ['r.txt', 'csv'],
    ['r.jsonl', 'jsonl'],
    ['R.NDJSON', 'jsonl'],
    ['r.json', 'jsonl'],
  ])('reads %s as %s', (file, format) => {
    expect(detectFormat(file)).toBe(format);
  });
});

describe('readRecipients from CSV', () => {
  it('reads the header and gives each row its address, its values and its line', async () => {
    const { rows, errors } = await read(
      'email,first,city\nann@example.com,Ann,Paris\nbob@example.com,Bob,Lyon\n',
      'csv',
    );
    expect(errors).toEqual([]);
    expect(rows).toEqual([
      { line: 2, email: 'ann@example.com', data: { first: 'Ann', city: 'Paris' } },
      { line: 3, email: 'bob@example.com', data: { first: 'Bob', city: 'Lyon' } },
    ]);
  });

  it('lower-cases and trims addresses and trims values', async () => {
    const { rows } = await read('email , first\n  Ann@Example.COM ,  Ann  \n', 'csv');
    expect(rows).toEqual([{ line: 2, email: 'ann@example.com', data: { first: 'Ann' } }]);
  });

  it('keeps commas and newlines inside quoted fields, numbering rows by the line they start on', async () => {
    const { rows, errors } = await read(
      'email,name,note\n"ann@example.com","Lee, Ann","line one\nline two"\nbob@example.com,"Bob ""B"" Smith",x\nnot-an-address,y,z\n',
      'csv',
    );
    expect(rows).toEqual([
      { line: 2, email: 'ann@example.com', data: { name: 'Lee, Ann', note: 'line one\nline two' } },
      { line: 4, email: 'bob@example.com', data: { name: 'Bob "B" Smith', note: 'x' } },
    ]);
    expect(errors).toEqual([{ line: 5, message: '"not-an-address" is not a valid e-mail address' }]);
  });

  it('ignores a UTF-8 byte order mark before the header', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const { rows, errors } = await read(
      Buffer.concat([bom, Buffer.from('email,first\nann@example.com,Ann\n')]),
      'csv',
    );
    expect(errors).toEqual([]);
    expect(rows).toEqual([{ line: 2, email: 'ann@example.com', data: { first: 'Ann' } }]);
  });

  it('reads Windows line endings', async () => {
    const { rows } = await read('email,first\r\nann@example.com,Ann\r\nbob@example.com,Bob\r\n', 'csv');
    expect(rows.map((r) => [r.line, r.email, r.data.first])).toEqual([
      [2, 'ann@example.com', 'Ann'],
      [3, 'bob@example.com', 'Bob'],
    ]);
  });

  it('skips empty lines but keeps counting them in line numbers', async () => {
    const { rows, errors } = await read('email\n\nann@example.com\n\n\nbob@\n\n', 'csv');
    expect(rows).toEqual([{ line: 3, email: 'ann@example.com', data: {} }]);
    expect(errors).toEqual([{ line: 6, message: '"bob@" is not a valid e-mail address' }]);
  });

  it('reports a bad address with its line number and reads on', async () => {
    const { rows, errors } = await read('email\na@example.com\nnope\nb@example.com\nalso@nope\n', 'csv');
    expect(rows.map((r) => r.email)).toEqual(['a@example.com', 'b@example.com']);
    expect(errors).toEqual([
      { line: 3, message: '"nope" is not a valid e-mail address' },
      { line: 5, message: '"also@nope" is not a valid e-mail address' },
    ]);
  });

  it('reports an empty address with its line number', async () => {
    const { errors } = await read('email,first\n,Ann\n', 'csv');
    expect(errors).toEqual([{ line: 2, message: 'the column "email" is missing or empty' }]);
  });

  it.each([
    ['short', 'email,first,last\na@example.com,Ann\n', 'the row has 2 columns where the header has 3'],
    ['long', 'email,first\na@example.com,Ann,extra\n', 'the row has 3 columns where the header has 2'],
    ['single-field', 'email,first\na@example.com\n', 'the row has 1 column where the header has 2'],
  ])('reports a %s row with its line number', async (_what, content, message) => {
    const { rows, errors } = await read(content, 'csv');
    expect(rows).toEqual([]);
    expect(errors).toEqual([{ line: 2, message }]);
  });

  it('refuses a header without an email column, on line 1', async () => {
    const { rows, errors } = await read('mail,first\na@example.com,Ann\n', 'csv');
    expect(rows).toEqual([]);
    expect(errors).toEqual([{ line: 1, message: 'the header has no column "email"' }]);
  });

  it('reports a column the message uses that the header lacks once, for the file, on line 1', async () => {
    const { rows, errors } = await read('email,first\na@example.com,Ann\nb@example.com,Bob\n', 'csv', [
      'first',
      'city',
      'email',
    ]);
    expect(rows).toEqual([]);
    expect(errors).toEqual([{ line: 1, message: 'the header has no column "city", which the message uses' }]);
  });

  it('names every missing column the message uses, once', async () => {
    const { errors } = await read('email\na@example.com\nb@example.com\n', 'csv', ['first', 'city']);
    expect(errors).toEqual([
      { line: 1, message: 'the header has no columns "first", "city", which the message uses' },
    ]);
  });

  it('accepts an empty value in a column the message uses', async () => {
    const { rows, errors } = await read('email,first\na@example.com,\n', 'csv', ['first']);
    expect(errors).toEqual([]);
    expect(rows).toEqual([{ line: 2, email: 'a@example.com', data: { first: '' } }]);
  });

  it('reports an unclosed quote and stops', async () => {
    const { errors } = await read('email,first\n"a@example.com,Ann\nb@example.com,Bob\n', 'csv');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^the file is not valid CSV here/);
    expect(errors[0]!.line).toBeGreaterThan(0);
  });

  it('reads a file with a header and no rows as no recipients', async () => {
    expect(await read('email,first\n', 'csv')).toEqual({ rows: [], errors: [] });
  });
});

describe('readRecipients from JSON lines', () => {
  it('reads one object per line, values as strings, skipping empty lines', async () => {
    const { rows, errors } = await read(
      '{"email":"Ann@Example.com","first":"Ann","age":41,"vip":true,"gone":null}\n\n{"email":"bob@example.com"}\n',
      'jsonl',
    );
    expect(errors).toEqual([]);
    expect(rows).toEqual([
      { line: 1, email: 'ann@example.com', data: { first: 'Ann', age: '41', vip: 'true' } },
      { line: 3, email: 'bob@example.com', data: {} },
    ]);
  });

  it('reports each bad line with its number', async () => {
    const { rows, errors } = await read(
      '{"email":"a@example.com","first":"A"}\n{"email":"bad"}\nnot json\n[1,2]\n{"first":"B"}\n{"email":"c@example.com"}\n',
      'jsonl',
      ['first'],
    );
    expect(rows).toEqual([{ line: 1, email: 'a@example.com', data: { first: 'A' } }]);
    expect(errors).toEqual([
      { line: 2, message: '"bad" is not a valid e-mail address' },
      { line: 3, message: 'the line is not valid JSON' },
      { line: 4, message: 'the line is not a JSON object' },
      { line: 5, message: 'the column "email" is missing or empty' },
      { line: 6, message: 'the column "first" the message uses is missing' },
    ]);
  });
});
