// A throwaway world's lifecycle (tests, benchmarks, the demo): its database, made from a template or by the
// migrations, and the one removal of that database and of every Redis key under its queue prefix.
import postgres from 'postgres';
import { createWorkerConnection, deleteKeysUnder } from '../shared/redis';
import { prepareDatabase } from './migrate';

/** Where a world lives: its database, its Redis and the queue prefix its keys are under. */
export interface WorldPlace {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
}

/** The same server as `base` (a database URL), with another database name. */
export function databaseUrlFor(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;
const nameOf = (databaseUrl: string) => decodeURIComponent(new URL(databaseUrl).pathname.slice(1));

/** Runs one statement on the server's maintenance database. */
async function onServer(databaseUrl: string, statement: string): Promise<void> {
  const admin = postgres(databaseUrlFor(databaseUrl, 'postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(statement);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Creates the URL's database: a copy of `template` (fast, for tests), else migrated from nothing. */
export async function createDatabase(
  databaseUrl: string,
  from: { template: string } | 'migrations',
): Promise<void> {
  if (from === 'migrations') await prepareDatabase(databaseUrl);
  else
    await onServer(
      databaseUrl,
      `create database ${quoted(nameOf(databaseUrl))} template ${quoted(from.template)}`,
    );
}

/** Drops the URL's database if it exists, closing what is still connected to it. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  await onServer(databaseUrl, `drop database if exists ${quoted(nameOf(databaseUrl))} with (force)`);
}

/** Deletes every Redis key under a prefix (SCAN, never KEYS; every master of a cluster). */
export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = createWorkerConnection(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    await deleteKeysUnder(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

/** Leaves nothing behind: drops the world's database and deletes every key under its prefix. */
export async function removeWorld(place: WorldPlace): Promise<void> {
  await dropDatabase(place.databaseUrl);
  await deleteKeys(place.redisUrl, place.prefix);
}
