// An import PostgreSQL refuses mid-COPY ends in an error and a rolled-back transaction, never a hung one.
import { createTestEnv, type TestEnv } from '../test/helpers/env';
import { createDeliveryWithTargets } from './import';

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(() => t.cleanup());

const delivery = {
  label: 'nul',
  efs: false,
  validitySeconds: 3600,
  retryIntervalSeconds: 600,
  contactDate: null,
  sender: 'news@example.test',
  subject: 's',
  textBody: 't',
  htmlBody: null,
  columns: [],
};

async function* rows(): AsyncGenerator<{
  row: { line: number; email: string; data: Record<string, string> };
}> {
  yield { row: { line: 2, email: 'a@example.test', data: {} } };
  // What the reader refuses; were it to slip through, PostgreSQL refuses it in the COPY.
  yield { row: { line: 3, email: 'b@example.test', data: { first: 'x\u0000y' } } };
}

test('a NUL that reaches the COPY fails the import and leaves no transaction open', async () => {
  const options = { now: Date.now(), quarantine: { mailboxFullReleaseMs: 0 } };
  await expect(createDeliveryWithTargets(t.sql, delivery, rows(), options)).rejects.toThrow(
    /0x00|Unicode escape/,
  );
  expect(await t.sql`select count(*)::int as n from deliveries`).toEqual([{ n: 0 }]);
  const open = await t.sql`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and state like 'idle in transaction%'`;
  expect(open).toEqual([{ n: 0 }]);
});
