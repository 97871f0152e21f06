// Hostile `delivery create` input (issue 18), through the command line as a user runs it: NULs, duplicate
// columns and prototype-named placeholders are refused with the line or the reason, and nothing is created.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';

let t: TestEnv;
const dir = mkdtempSync(path.join(tmpdir(), 'hostile-import-'));
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(() => t.cleanup());

let n = 0;
function file(content: string, ext = 'csv'): string {
  const f = path.join(dir, `f${++n}.${ext}`);
  writeFileSync(f, content);
  return f;
}
const create = (recipients: string, ...extra: string[]) =>
  cli(t.env, 'delivery', 'create', '--label', 'x', '--recipients', recipients, '--text', 'Hi', ...extra);
const deliveries = async () => (await t.sql`select count(*)::int as n from deliveries`)[0]!.n;

test.each([
  ['a CSV', 'email,first\na@example.test,ok\nb@example.test,bad\u0000value\n', 'csv', 'line 3'],
  ['a JSON-lines file', '{"email":"a@example.test","first":"x\\u0000y"}\n', 'jsonl', 'line 1'],
])('a NUL in %s is refused with its line, at once', async (_what, content, ext, line) => {
  const r = await create(file(content, ext));
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(line);
  expect(r.stderr).toContain('NUL');
  expect(await deliveries()).toBe(0);
});

test('a header naming a column twice is refused', async () => {
  const r = await create(file('email,first,email\na@example.test,x,b@example.test\n'));
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('"email" twice');
});

test.each(['constructor', '__proto__', 'toString'])(
  'the placeholder {{%s}} is refused when the delivery is created',
  async (name) => {
    const r = await create(file('email,first\na@example.test,x\n'), '--html', `<p>{{${name}}}</p>`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`{{${name}}} is the name of a built-in property`);
    expect(await deliveries()).toBe(0);
  },
);
