// Hostile recipients files (issue 18): NULs, huge values and rows, duplicate and prototype-named columns are
// refused with their line, before anything reaches PostgreSQL.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  MAX_ROW_BYTES,
  MAX_VALUE_BYTES,
  type RecipientRow,
  type RowError,
  readRecipients,
} from './recipients';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'recipients-hostile-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let n = 0;
async function read(content: string, ext: string) {
  const file = path.join(dir, `h${++n}.${ext}`);
  await writeFile(file, content);
  const rows: RecipientRow[] = [];
  const errors: RowError[] = [];
  for await (const item of readRecipients(file, [])) {
    if ('row' in item) rows.push(item.row);
    else errors.push(item.error);
  }
  return { rows, errors };
}

test.each([
  ['csv', 'email,first\na@example.test,ok\nb@example.test,x\u0000y\n', 3],
  ['jsonl', '{"email":"a@example.test"}\n{"email":"b@example.test","first":"x\\u0000y"}\n', 2],
  ['jsonl', '{"email":"a@example.test","k\\u0000":"v"}\n', 1],
])('a NUL in a %s value or key is refused with its line', async (ext, content, line) => {
  const { errors } = await read(content, ext);
  expect(errors).toEqual([{ line, message: expect.stringContaining('NUL') }]);
});

test('an unpaired surrogate in a JSON-lines value is refused with its line', async () => {
  const { errors } = await read('{"email":"a@example.test","first":"\\ud800"}\n', 'jsonl');
  expect(errors).toEqual([{ line: 1, message: expect.stringContaining('surrogate') }]);
});

test.each(['csv', 'jsonl'])('a %s value over the per-value cap is refused with its line', async (ext) => {
  const big = 'x'.repeat(MAX_VALUE_BYTES + 1);
  const content =
    ext === 'csv'
      ? `email,first\na@example.test,ok\nb@example.test,${big}\n`
      : `{"email":"a@example.test"}\n{"email":"b@example.test","first":"${big}"}\n`;
  const { rows, errors } = await read(content, ext);
  expect(rows).toHaveLength(1);
  expect(errors).toEqual([{ line: ext === 'csv' ? 3 : 2, message: expect.stringContaining('first') }]);
  expect(errors[0]!.message).toContain(`${MAX_VALUE_BYTES}`);
});

test('a CSV row over the per-row cap is refused with its line, without holding the rest', async () => {
  const cell = 'y'.repeat(MAX_VALUE_BYTES - 10);
  const cells = Math.ceil(MAX_ROW_BYTES / cell.length) + 1;
  const header = ['email', ...Array.from({ length: cells }, (_, i) => `c${i}`)].join(',');
  const row = ['b@example.test', ...Array.from({ length: cells }, () => cell)].join(',');
  const { errors } = await read(`${header}\n${row}\n`, 'csv');
  expect(errors[0]).toEqual({ line: 2, message: expect.stringContaining(`${MAX_ROW_BYTES}`) });
});

test('a 50 MB CSV cell is refused at the row cap, not read whole', async () => {
  const { errors } = await read(`email,first\na@example.test,${'z'.repeat(50 * 1024 * 1024)}\n`, 'csv');
  expect(errors).toEqual([{ line: 2, message: expect.stringContaining('bytes') }]);
});

test('a header naming a column twice is refused', async () => {
  const { rows, errors } = await read('email,first,email\na@example.test,x,b@example.test\n', 'csv');
  expect(rows).toEqual([]);
  expect(errors).toEqual([{ line: 1, message: expect.stringContaining('"email" twice') }]);
});

test('columns named like built-in object properties are kept as columns', async () => {
  const { rows } = await read('email,__proto__,constructor\na@example.test,p,c\n', 'csv');
  expect(Object.getOwnPropertyDescriptor(rows[0]!.data, '__proto__')?.value).toBe('p');
  expect(Object.keys(rows[0]!.data)).toEqual(['__proto__', 'constructor']);
  expect(JSON.parse(JSON.stringify(rows[0]!.data))).toEqual(
    JSON.parse('{"__proto__":"p","constructor":"c"}'),
  );
});
