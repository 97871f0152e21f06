// delivery_logs and dispatch_batches name a delivery, checked once a statement (migration 0013) instead of by a
// foreign key: a row naming no delivery is refused as the key refused it (23503, naming the table), a deleted
// delivery takes its history with it, and writing a delivery's logs no longer locks the delivery's row.
import type postgres from 'postgres';
import { createTestEnv, type TestEnv } from './helpers/env';

let t: TestEnv;

beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

async function delivery(label: string): Promise<string> {
  const [d] = await t.sql`
    insert into deliveries (label, efs, validity_seconds, retry_interval_seconds, sender, subject, token, state)
    values (${label}, false, 60, 60, 'a@example.test', 's', 'abcdefabcdef', 'sending') returning id`;
  await t.sql`insert into delivery_kpis (delivery_id) values (${d!.id})`;
  return String(d!.id);
}

const log = (sql: postgres.Sql | postgres.TransactionSql, deliveryId: string, seq: number) => sql`
  insert into delivery_logs (delivery_id, seq, email, status, message_id)
  values (${deliveryId}, ${seq}, ${`u${seq}@example.test`}, 'sent', ${`m.${deliveryId}.${seq}`})`;

const count = async (table: string, deliveryId: string) =>
  (await t.sql`select count(*)::int as n from ${t.sql(table)} where delivery_id = ${deliveryId}`)[0]!.n;

test('a log row or batch mark naming no delivery is refused with 23503 naming the table; nothing of the statement stays', async () => {
  const id = await delivery('check');
  await log(t.sql, id, 0);
  const missing = '987654321';
  await expect(
    t.sql`
      insert into delivery_logs (delivery_id, seq, email, status, message_id)
      select * from unnest(${[id, missing]}::bigint[], ${[1, 0]}::int[], ${['b@example.test', 'c@example.test']}::text[],
        ${['sent', 'sent']}::log_status[], ${['m1', 'm2']}::text[])`,
  ).rejects.toMatchObject({
    code: '23503',
    table_name: 'delivery_logs',
    column_name: 'delivery_id',
    message: expect.stringContaining('"delivery_logs"'),
    detail: `Key (delivery_id)=(${missing}) is not present in table "deliveries".`,
  });
  expect(await count('delivery_logs', id)).toBe(1);
  await expect(
    t.sql`insert into dispatch_batches (delivery_id, batch) values (${id}, 0), (${missing}, 0)`,
  ).rejects.toMatchObject({ code: '23503', table_name: 'dispatch_batches' });
  expect(await count('dispatch_batches', id)).toBe(0);
  await t.sql`insert into dispatch_batches (delivery_id, batch) values (${id}, 0)`;

  // An update moving a row to no delivery is refused too; one moving it to another delivery is not.
  await expect(
    t.sql`update delivery_logs set delivery_id = ${missing} where delivery_id = ${id} and seq = 0`,
  ).rejects.toMatchObject({ code: '23503', table_name: 'delivery_logs' });
  await expect(
    t.sql`update dispatch_batches set delivery_id = ${missing} where delivery_id = ${id}`,
  ).rejects.toMatchObject({ code: '23503', table_name: 'dispatch_batches' });
  const other = await delivery('other');
  await t.sql`update delivery_logs set delivery_id = ${other} where delivery_id = ${id} and seq = 0`;
  expect(await count('delivery_logs', other)).toBe(1);
  // An update that leaves delivery_id alone (every feedback update) is not checked and goes through.
  await t.sql`update delivery_logs set status = 'failed' where delivery_id = ${other}`;
});

test('deleting deliveries deletes their logs, batch marks, targets, events and unique opens, and no other delivery’s', async () => {
  const [a, b, kept] = [await delivery('a'), await delivery('b'), await delivery('kept')];
  for (const id of [a, b, kept]) {
    await log(t.sql, id, 0);
    await log(t.sql, id, 1);
    await t.sql`insert into dispatch_batches (delivery_id, batch) values (${id}, 0)`;
    await t.sql`insert into delivery_targets (delivery_id, seq, email) values (${id}, 0, 'a@example.test')`;
    await t.sql`
      insert into feedback_events (event_id, message_id, delivery_id, seq, type, occurred_at, outcome)
      values (${`e${id}`}, ${`m.${id}.0`}, ${id}, 0, 'delivered', now(), 'applied')`;
    await t.sql`
      insert into tracking_events (event_id, message_id, delivery_id, seq, type, occurred_at)
      values (${`t${id}`}, ${`m.${id}.0`}, ${id}, 0, 'open', now())`;
    await t.sql`insert into tracking_uniques (delivery_id, seq, clicked) values (${id}, 0, false)`;
  }
  const tables = [
    'delivery_logs',
    'dispatch_batches',
    'delivery_targets',
    'feedback_events',
    'tracking_events',
    'tracking_uniques',
    'delivery_kpis',
  ];
  await t.sql`delete from deliveries where id in (${a}, ${b})`;
  for (const table of tables) {
    expect({ table, a: await count(table, a), b: await count(table, b) }).toEqual({ table, a: 0, b: 0 });
    expect({ table, kept: await count(table, kept) }).toEqual({
      table,
      kept: table === 'delivery_logs' ? 2 : 1,
    });
  }
});

test('writing a delivery’s logs and batch marks takes no lock on the delivery’s row', async () => {
  const id = await delivery('lock');
  const other = t.sql.reserve();
  const conn = await other;
  try {
    await t.sql.begin(async (tx) => {
      await log(tx, id, 0);
      await tx`insert into dispatch_batches (delivery_id, batch) values (${id}, 0)`;
      // A foreign key check would hold FOR KEY SHARE on the row until commit: FOR UPDATE NOWAIT would fail.
      const [row] = await conn`select id from deliveries where id = ${id} for update nowait`;
      expect(String(row!.id)).toBe(id);
    });
  } finally {
    conn.release();
  }
  expect(await count('delivery_logs', id)).toBe(1);
});
