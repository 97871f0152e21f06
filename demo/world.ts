// The demo's own world on the local servers: a database and a queue prefix of its own, a free port, and
// the one cleanup that removes them (unless --keep).
import { createServer } from 'node:net';
import postgres from 'postgres';
import { redactUrl } from '../shared/config';
import { createWorkerConnection, deleteKeysUnder } from '../shared/redis';

/** Where the demo runs: its database, Redis, queue prefix and port. */
export interface World {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  port: number;
  /** Drops the database and deletes every key under the prefix. */
  remove(): Promise<void>;
}

/** The server of DATABASE_URL (default the local one) with the demo's own database name. */
function databaseUrlFor(name: string, base: string | undefined): string {
  const url = new URL(base ?? 'postgres://postgres@127.0.0.1:5432/campaign');
  url.pathname = `/${name}`;
  return url.toString();
}

/** The wanted port if it is free, else any free one: a running `npm start` must not stop the demo. */
async function freePort(wanted: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(0));
    probe.listen(wanted, '0.0.0.0', () => probe.close(() => resolve(wanted)));
  });
}

async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name.replaceAll('"', '""')}" with (force)`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = createWorkerConnection(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    await deleteKeysUnder(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

/** Starts from nothing: a previous demo's database (kept, or left by a crash) and keys are removed first. */
export async function prepareWorld(options: {
  database: string;
  prefix: string;
  port: number;
  env: NodeJS.ProcessEnv;
}): Promise<World> {
  const databaseUrl = databaseUrlFor(options.database, options.env.DATABASE_URL);
  const redisUrl = options.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const remove = async () => {
    await dropDatabase(databaseUrl);
    await deleteKeys(redisUrl, options.prefix);
  };
  try {
    await remove();
  } catch (error) {
    throw new Error(
      `the demo needs PostgreSQL at ${redactUrl(databaseUrl)} and Redis at ${redactUrl(redisUrl)} (see README, Services): ${(error as Error).message}`,
    );
  }
  return { databaseUrl, redisUrl, prefix: options.prefix, port: await freePort(options.port), remove };
}
