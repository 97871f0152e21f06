// An import whose duplicates and quarantined addresses (some erased, quarantined under their hash) are spread
// over a file read in many batches: each address's first row is kept, the others and the quarantined are
// left out, and the rest are numbered densely in file order.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { erasedPseudonym } from '../shared/rules/erasure';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';

const ROWS = 40_000;
let t: TestEnv;
let dir: string;

/** Row i's address: every 7th row repeats an address from ~10,000 rows before (a later batch of the file). */
const addressOf = (i: number) =>
  i % 7 === 3 && i > 10_000 ? `user${i - 10_003}@example.test` : `user${i}@example.test`;
const quarantined = (i: number) => i % 1000 === 11;
const erased = (i: number) => i % 1000 === 500;

beforeAll(async () => {
  t = await createTestEnv();
  dir = await mkdtemp(path.join(tmpdir(), 'import-exclusions-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.cleanup();
});

test('duplicates and quarantined addresses spread over the file leave dense, file-ordered targets', async () => {
  const file = path.join(dir, 'recipients.csv');
  const out = createWriteStream(file);
  out.write('email,first\n');
  for (let i = 0; i < ROWS; i++)
    if (!out.write(`${addressOf(i).toUpperCase()},"First, ${i}"\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  const now = new Date().toISOString();
  for (let i = 0; i < ROWS; i++) {
    if (!quarantined(i) && !erased(i)) continue;
    const email = erased(i) ? erasedPseudonym(`user${i}@example.test`) : `user${i}@example.test`;
    await t.sql`insert into quarantine (email, error_count, failure_type, reason, quarantined_at)
      values (${email}, 1, 'hard', ${erased(i) ? 'user unknown (erased)' : 'user unknown'}, ${now})`;
  }

  const r = await cli(t.env, 'delivery', 'create', '--label', 'spread', '--recipients', file, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const result = r.json<{
    id: string;
    rows: number;
    toSend: number;
    duplicates: number;
    quarantined: number;
  }>();

  // What the import should keep, computed the plain way.
  const firsts = new Map<string, number>();
  for (let i = 0; i < ROWS; i++) if (!firsts.has(addressOf(i))) firsts.set(addressOf(i), i);
  const kept = [...firsts].filter(([email]) => {
    const i = Number(/\d+/.exec(email)![0]);
    return !quarantined(i) && !erased(i);
  });
  expect(result).toMatchObject({
    rows: ROWS,
    duplicates: ROWS - firsts.size,
    quarantined: firsts.size - kept.length,
    toSend: kept.length,
    excludedByReason: {
      'user unknown': [...firsts.keys()].filter((e) => quarantined(Number(/\d+/.exec(e)![0]))).length,
      'user unknown (erased)': [...firsts.keys()].filter((e) => erased(Number(/\d+/.exec(e)![0]))).length,
    },
  });
  const targets = await t.sql<{ seq: number; email: string; data: { first: string } }[]>`
    select seq, email, data from delivery_targets where delivery_id = ${result.id} order by seq`;
  expect(targets.map((x) => x.seq)).toEqual(kept.map((_, seq) => seq));
  expect(targets.map((x) => x.email)).toEqual(kept.map(([email]) => email));
  expect(targets.map((x) => x.data.first)).toEqual(kept.map(([, line]) => `First, ${line}`));
}, 120_000);

test('a target names a delivery: checked once a statement (migration 0011), and goes with its delivery', async () => {
  const [d] = await t.sql`
    insert into deliveries (label, efs, validity_seconds, retry_interval_seconds, sender, subject, token, state)
    values ('fk', false, 60, 60, 'a@example.test', 's', 'abcdefabcdef', 'prepared') returning id`;
  const id = String(d!.id);
  await t.sql`insert into delivery_targets (delivery_id, seq, email) values (${id}, 0, 'a@example.test'), (${id}, 1, 'b@example.test')`;
  await expect(
    t.sql`insert into delivery_targets (delivery_id, seq, email) values (${id}, 2, 'c@example.test'), (999999, 0, 'd@example.test')`,
  ).rejects.toMatchObject({ code: '23503' });
  await expect(
    t.sql`update delivery_targets set delivery_id = 999999 where delivery_id = ${id} and seq = 1`,
  ).rejects.toMatchObject({
    code: '23503',
  });
  await t.sql`delete from deliveries where id = ${id}`;
  expect(await t.sql`select count(*)::int as n from delivery_targets where delivery_id = ${id}`).toEqual([
    { n: 0 },
  ]);
});
