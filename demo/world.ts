// The demo's own world on the local servers: a database and a queue prefix of its own, a free port, and
// the one cleanup that removes them (unless --keep).
import { createServer } from 'node:net';
import { databaseUrlFor, removeWorld } from '../db/world';
import { redactUrl } from '../shared/config';

/** Where the demo runs: its database, Redis, queue prefix and port. */
export interface World {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  port: number;
  /** Drops the database and deletes every key under the prefix. */
  remove(): Promise<void>;
}

/** The wanted port if it is free, else any free one: a running `npm start` must not stop the demo. */
async function freePort(wanted: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(0));
    probe.listen(wanted, '0.0.0.0', () => probe.close(() => resolve(wanted)));
  });
}

/** Starts from nothing: a previous demo's database (kept, or left by a crash) and keys are removed first. */
export async function prepareWorld(options: {
  database: string;
  prefix: string;
  port: number;
  env: NodeJS.ProcessEnv;
}): Promise<World> {
  // The server of DATABASE_URL (default the local one) with the demo's own database name.
  const databaseUrl = databaseUrlFor(
    options.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/campaign',
    options.database,
  );
  const redisUrl = options.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const remove = () => removeWorld({ databaseUrl, redisUrl, prefix: options.prefix });
  try {
    await remove();
  } catch (error) {
    throw new Error(
      `the demo needs PostgreSQL at ${redactUrl(databaseUrl)} and Redis at ${redactUrl(redisUrl)} (see README, Services): ${(error as Error).message}`,
    );
  }
  return { databaseUrl, redisUrl, prefix: options.prefix, port: await freePort(options.port), remove };
}
