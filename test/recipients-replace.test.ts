// `campaign delivery recipients ID --replace FILE` reads the file as `delivery create` does (the same batches
// into COPY): the same rows kept, the same refusal naming the line, and a refused file changes nothing.
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';

let t: TestEnv;
let dir: string;
let files = 0;

beforeAll(async () => {
  t = await createTestEnv();
  dir = await mkdtemp(path.join(tmpdir(), 'recipients-replace-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.cleanup();
});

/** A CSV of `count` rows (`line(i)` each, after the header), written in dir. */
function csv(count: number, line: (i: number) => string, ext = 'csv'): string {
  const file = path.join(dir, `f${files++}.${ext}`);
  const lines = [ext === 'csv' ? 'email,first' : null, ...Array.from({ length: count }, (_, i) => line(i))];
  writeFileSync(file, `${lines.filter((l) => l !== null).join('\n')}\n`);
  return file;
}

async function template(file: string): Promise<string> {
  const r = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'weekly',
    '--recipients',
    file,
    '--recurrence',
    '0 9 * * 1',
    '--json',
  );
  if (r.code !== 0) throw new Error(r.stderr);
  return r.json<{ id: string }>().id;
}

const targets = async (id: string) =>
  (await t.sql`select seq, email, data from delivery_targets where delivery_id = ${id} order by seq`).map(
    (r) => [r.seq, r.email, r.data.first],
  );

test('a replaced audience is the rows create would keep: duplicates out, quarantined kept, dense and in file order', async () => {
  const id = await template(csv(3, (i) => `old${i}@example.test,Old ${i}`));
  await t.sql`insert into quarantine (email, error_count, quarantined_at, reason)
    values ('q@example.test', 1, now(), 'user unknown')`;
  // Over 10,000 rows: the reader's stretches, and COPY's pieces, are several.
  const rows = 25_000;
  const file = csv(rows, (i) =>
    i % 1000 === 999
      ? `R${i - 1}@Example.TEST,"Again, ${i}"`
      : i === 5
        ? 'q@example.test,Q'
        : `r${i}@example.test,"First, ${i}"`,
  );
  const replaced = await cli(t.env, 'delivery', 'recipients', id, '--replace', file, '--json');
  expect(replaced.code).toBe(0);
  const duplicates = rows / 1000;
  expect(replaced.json()).toEqual({
    id,
    rows,
    toSend: rows - duplicates,
    duplicates,
    quarantined: 0,
    excludedByReason: {},
  });
  const kept = await targets(id);
  expect(kept).toHaveLength(rows - duplicates);
  expect(kept.slice(0, 7)).toEqual([
    [0, 'r0@example.test', 'First, 0'],
    [1, 'r1@example.test', 'First, 1'],
    [2, 'r2@example.test', 'First, 2'],
    [3, 'r3@example.test', 'First, 3'],
    [4, 'r4@example.test', 'First, 4'],
    [5, 'q@example.test', 'Q'],
    [6, 'r6@example.test', 'First, 6'],
  ]);
  // Row 999 repeats row 998's address: left out, and row 1000 takes seq 999.
  expect(kept[999]).toEqual([999, 'r1000@example.test', 'First, 1000']);

  // The same file through `delivery create` keeps the same rows (a template keeps quarantined addresses too).
  const created = await template(file);
  expect(await targets(created)).toEqual(kept);
});

test('a bad line far into the file is refused naming it, as create refuses it, and the old audience stays', async () => {
  const id = await template(csv(3, (i) => `old${i}@example.test,Old ${i}`));
  const before = await targets(id);
  // Line 1 is the header: row i is line i + 2.
  const bad = csv(22_000, (i) => (i === 20_998 ? 'not-an-address,X' : `r${i}@example.test,F${i}`));
  const replaced = await cli(t.env, 'delivery', 'recipients', id, '--replace', bad);
  expect(replaced.code).toBe(1);
  // What follows the command's own prefix (the flag and file, when it names them).
  const reason = (stderr: string) => stderr.trim().slice(stderr.trim().indexOf('line '));
  const message = reason(replaced.stderr);
  expect(message).toMatch(/^line 21000: .*; nothing was imported$/);
  expect(await targets(id)).toEqual(before);
  expect((await cli(t.env, 'status', id, '--json')).json()).toMatchObject({ recipients: 3 });

  const create = await cli(t.env, 'delivery', 'create', '--label', 'x', '--recipients', bad);
  expect(create.code).toBe(1);
  expect(reason(create.stderr)).toBe(message);

  // JSON lines too: a line that is no JSON object is named.
  const jsonl = csv(
    3,
    (i) => (i === 1 ? '{"email": ' : `{"email": "j${i}@example.test", "first": "J"}`),
    'jsonl',
  );
  const refused = await cli(t.env, 'delivery', 'recipients', id, '--replace', jsonl);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/line 2: .*; nothing was imported/);
  expect(await targets(id)).toEqual(before);
});

test('an empty file, a header alone, or a delivery that is not recurring is refused, changing nothing', async () => {
  const id = await template(csv(2, (i) => `old${i}@example.test,Old ${i}`));
  const before = await targets(id);
  const header = csv(0, () => '');
  const empty = await cli(t.env, 'delivery', 'recipients', id, '--replace', header);
  expect(empty.code).toBe(1);
  expect(empty.stderr).toContain('no recipients');
  expect(await targets(id)).toEqual(before);

  const prepared = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'once',
    '--recipients',
    csv(1, () => 'a@example.test,A'),
    '--json',
  );
  const onceId = prepared.json<{ id: string }>().id;
  const refused = await cli(
    t.env,
    'delivery',
    'recipients',
    onceId,
    '--replace',
    csv(1, () => 'b@example.test,B'),
  );
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('is not a recurring delivery');
  expect(await targets(onceId)).toEqual([[0, 'a@example.test', 'A']]);
});
