// A benchmark's own database and queue prefix on the local servers, and one way to remove both after.
import postgres from 'postgres';
import { createDatabase, dropDatabase, removeWorld } from '../db/world';
import { type Config, loadConfig } from '../shared/config';
import { createWorkerConnection, type RedisClient } from '../shared/redis';

const SERVER = 'postgres://postgres@127.0.0.1:5432';

/** What a benchmark runs against; `close` drops its database and deletes every key under its prefix. */
export interface BenchWorld {
  env: Record<string, string>;
  /** The database's name, for reads of pg_stat_activity. */
  database: string;
  config: Config;
  sql: postgres.Sql;
  redis: RedisClient;
  close(): Promise<void>;
}

/** A fresh, migrated database and a prefix named for the run; `extra` adds settings to its environment. */
export async function openBenchWorld(
  name: string,
  extra: Record<string, string> = {},
  options: { sqlMax?: number } = {},
): Promise<BenchWorld> {
  const database = `campaign_bench_${name.replace(/\W/g, '_')}_${process.pid}`;
  const env = {
    DATABASE_URL: `${SERVER}/${database}`,
    QUEUE_PREFIX: `bench-${name}-${process.pid}`,
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
  await dropDatabase(env.DATABASE_URL);
  await createDatabase(env.DATABASE_URL, 'migrations');
  const sql = postgres(env.DATABASE_URL, { max: options.sqlMax ?? 2, onnotice: () => {} });
  const config = loadConfig(env);
  const redis = createWorkerConnection(config.REDIS_URL);
  return {
    env,
    database,
    config,
    sql,
    redis,
    async close() {
      // Leave nothing behind: every key of the run lives under its own prefix, every row in its database.
      redis.disconnect();
      await sql.end();
      await removeWorld({
        databaseUrl: env.DATABASE_URL,
        redisUrl: config.REDIS_URL,
        prefix: env.QUEUE_PREFIX,
      });
    },
  };
}
