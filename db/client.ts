// PostgreSQL connections: a postgres.js pool wrapped by drizzle, built once per process.
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema';

/** The drizzle handle every query function takes. */
export type Db = PostgresJsDatabase<typeof schema>;

/** A pool and its drizzle handle; `close` ends the pool. */
export interface Database {
  sql: postgres.Sql;
  db: Db;
  close(): Promise<void>;
}

/** Opens a pool. Nothing connects until the first query, so a down server is reported by that query. */
export function openDatabase(url: string, options: { max?: number } = {}): Database {
  const open = () =>
    postgres(url, {
      max: options.max ?? 10,
      onnotice: () => {},
      // Connect quickly to a down server's error rather than hang; the caller retries.
      connect_timeout: 10,
    });
  const sql = open();
  // drizzle replaces its client's date, timestamp and json (de)serializers with pass-through ones, which
  // breaks raw queries (a Date parameter fails, timestamps come back as strings): it gets a pool of its own.
  let drizzleSql: postgres.Sql | undefined;
  let db: Db | undefined;
  return {
    sql,
    get db() {
      drizzleSql ??= open();
      db ??= drizzle(drizzleSql, { schema });
      return db;
    },
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), drizzleSql?.end({ timeout: 5 })]);
    },
  };
}
