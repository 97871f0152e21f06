// Gives a test file its own database (cloned from the migrated template) and its own queue prefix.
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import postgres from 'postgres';
import { createDatabase, deleteKeys as deleteKeysAt, dropDatabase, removeWorld } from '../../db/world';
import { type Config, loadConfig } from '../../shared/config';

// One template per checkout: test runs in two worktrees at once must not drop each other's template.
export const TEMPLATE_DATABASE = `campaign_test_template_${createHash('sha1')
  .update(path.resolve(__dirname, '../..'))
  .digest('hex')
  .slice(0, 10)}`;
const SERVER = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function serverUrl(database: string): string {
  return `${SERVER}/${database}`;
}

/** A test file's isolated world; `cleanup` drops the database and deletes every key under the prefix. */
export interface TestEnv {
  id: string;
  databaseUrl: string;
  prefix: string;
  env: Record<string, string>;
  config: Config;
  sql: postgres.Sql;
  cleanup(): Promise<void>;
}

export async function createTestEnv(extra: Record<string, string> = {}): Promise<TestEnv> {
  const id = randomUUID().replaceAll('-', '').slice(0, 12);
  const database = `campaign_test_${id}`;
  const databaseUrl = serverUrl(database);
  await createDatabase(databaseUrl, { template: TEMPLATE_DATABASE });
  const prefix = `test-${id}`;
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    METRICS_PORT: '0',
    FEEDBACK_PORT: '0',
    BOUNCE_PORT: '0',
    CONSOLE_PORT: '0',
    BOUNCE_HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ...extra,
  };
  const sql = postgres(databaseUrl, { max: 4, onnotice: () => {} });
  return {
    id,
    databaseUrl,
    prefix,
    env,
    config: loadConfig(env),
    sql,
    async cleanup() {
      await sql.end({ timeout: 5 });
      await removeWorld({ databaseUrl, redisUrl: REDIS_URL, prefix });
    },
  };
}

/** Deletes every Redis key under a prefix (SCAN, never KEYS; every master of a cluster). */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<void> {
  await deleteKeysAt(url, prefix);
}

/** Drops the template database (before a run makes it anew, and after the run). */
export async function dropTemplate(): Promise<void> {
  await dropDatabase(serverUrl(TEMPLATE_DATABASE));
}
