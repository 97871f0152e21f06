// Migration on an empty server: the process creates its database and applies every committed migration.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { migrationsApplied, migrationsFolder, prepareDatabase } from '../db/migrate';
import { createTestEnv, serverUrl, type TestEnv } from './helpers/env';

const journal = JSON.parse(readFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
  entries: { tag: string }[];
};
const EXPECTED_TABLES = [
  'operators',
  'operator_roles',
  'recurring_schedules',
  'deliveries',
  'executions',
  'delivery_targets',
  'delivery_logs',
  'dispatch_batches',
  'feedback_events',
  'tracking_events',
  'delivery_kpis',
  'quarantine',
  'confirm_attempts',
  'dead_letters',
  'pipeline_state',
  'operator_sessions',
  'audit_log',
];

let testEnv: TestEnv;
const database = `campaign_mig_${randomBytes(6).toString('hex')}`;
const url = serverUrl(database);
const admin = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });

async function databaseExists(): Promise<boolean> {
  return (await admin`select 1 from pg_database where datname = ${database}`).length > 0;
}

/** Runs `fn` against the migrated database with a connection of its own. */
async function inDatabase<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const appliedCount = () =>
  inDatabase(
    async (sql) => (await sql`select count(*)::int as n from drizzle.__drizzle_migrations`)[0]!.n as number,
  );

beforeAll(async () => {
  testEnv = await createTestEnv();
});

afterAll(async () => {
  await admin.unsafe(`drop database if exists "${database}" with (force)`);
  await admin.end({ timeout: 5 });
  await testEnv.cleanup();
});

describe('prepareDatabase', () => {
  it('creates a database that does not exist yet', async () => {
    expect(await databaseExists()).toBe(false);
    await prepareDatabase(url);
    expect(await databaseExists()).toBe(true);
  });

  it('applies every committed migration', async () => {
    expect(journal.entries.length).toBeGreaterThan(0);
    expect(await appliedCount()).toBe(journal.entries.length);
    expect(await inDatabase((sql) => migrationsApplied(sql, journal.entries.length))).toBe(true);
  });

  it('creates every table of the schema', async () => {
    const tables = await inDatabase(
      (sql) => sql`select table_name from information_schema.tables where table_schema = 'public'`,
    );
    expect(tables.map((t) => t.table_name as string)).toEqual(expect.arrayContaining(EXPECTED_TABLES));
  });

  it('creates the indexes the workers look messages, statuses and addresses up by', async () => {
    const indexes = await inDatabase(
      (sql) => sql`select indexname from pg_indexes where schemaname = 'public'`,
    );
    expect(indexes.map((i) => i.indexname as string)).toEqual(
      expect.arrayContaining([
        'delivery_logs_message_id_idx',
        'delivery_logs_email_idx',
        'deliveries_state_idx',
      ]),
    );
  });

  it('does nothing the second time', async () => {
    await prepareDatabase(url);
    expect(await appliedCount()).toBe(journal.entries.length);
  });

  it('lets replicas prepare the same database concurrently', async () => {
    await Promise.all([prepareDatabase(url), prepareDatabase(url), prepareDatabase(url)]);
    expect(await appliedCount()).toBe(journal.entries.length);
  });

  it('lets replicas create and migrate a missing database concurrently', async () => {
    await admin.unsafe(`drop database "${database}" with (force)`);
    expect(await databaseExists()).toBe(false);
    await Promise.all([prepareDatabase(url), prepareDatabase(url), prepareDatabase(url)]);
    expect(await databaseExists()).toBe(true);
    expect(await appliedCount()).toBe(journal.entries.length);
  });

  it('gives test databases cloned from the template every migration too', async () => {
    const [row] = await testEnv.sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(row!.n).toBe(journal.entries.length);
  });
});
