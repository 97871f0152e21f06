// applySplitting against a real PostgreSQL: the one value it refuses is set apart, the others applied.
import { createTestEnv, type TestEnv } from '../test/helpers/env';
import { applySplitting } from './refused-values';

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(() => t.cleanup());

test('a date PostgreSQL refuses costs only its own item; the others are applied', async () => {
  const items = [
    '2026-01-01T00:00:00Z',
    '2026-01-02T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '2026-01-03T00:00:00Z',
  ];
  const applied: string[] = [];
  const refused: [string, string][] = [];
  await applySplitting(
    items,
    async (some) => {
      await t.sql`select unnest(${some}::timestamptz[])`;
      applied.push(...some);
    },
    async (item, error) => {
      refused.push([item, error.code]);
    },
  );
  expect(applied.sort()).toEqual([items[0], items[1], items[3]].sort());
  expect(refused).toEqual([['0000-01-01T00:00:00Z', '22008']]);
});

test('an error that is no refusal of a value is thrown as it is', async () => {
  await expect(
    applySplitting(
      [1, 2],
      async () => {
        await t.sql`select * from no_such_table`;
      },
      async () => {},
    ),
  ).rejects.toThrow(/no_such_table/);
});
