// Redis connections split by role, as BullMQ advises for production.
import { type Cluster, Redis, type RedisOptions } from 'ioredis';

/** A connection to Redis: one server, or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Workers block on Redis and must ride out a restart: retry every command forever, reconnect with backoff. */
export function createWorkerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    ...extra,
  });
}

/** Producers (the CLI, HTTP handlers) should fail fast and say so rather than queue commands in memory. */
export function createProducerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: (times) => (times > 3 ? null : times * 200),
    lazyConnect: true,
    ...extra,
  });
}

/**
 * Servers that produce (the feedback receiver, the bounce mailbox): commands fail at once while Redis is away
 * (the request or the mail is answered "try later", and its sender retries), but the connection reconnects
 * forever, as a long-running server's must. Its errors are reported by the requests that fail and by /readyz.
 */
export function createServerProducerConnection(url: string): Redis {
  const redis = createWorkerConnection(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => {});
  return redis;
}

/** Waits until a lazily connected client is ready, or rejects with its connection error. */
export async function connected(redis: Redis): Promise<Redis> {
  if (redis.status === 'ready') return redis;
  if (redis.status === 'wait') await redis.connect();
  return redis;
}

/** Deletes every key under a queue prefix (SCAN, never KEYS): what a test or a benchmark run leaves. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
