// Redis connections split by role, as BullMQ advises for production; one server or a Redis Cluster.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-url';

/** A connection to Redis: one server, or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * One server from a redis:// URL, or a Cluster client from a redis+cluster:// one: `options` apply to each
 * node's connection, and the cluster's own reconnection follows the same retry strategy.
 */
function connect(url: string, options: RedisOptions): RedisClient {
  const target = parseRedisUrl(url);
  if (target.kind === 'server') return new Redis(url, options);
  const { retryStrategy, lazyConnect, enableOfflineQueue, ...perNode } = options;
  return new Cluster(target.nodes, {
    lazyConnect,
    enableOfflineQueue,
    enableReadyCheck: true,
    clusterRetryStrategy: retryStrategy ? (times) => retryStrategy(times) : undefined,
    redisOptions: {
      ...perNode,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  });
}

/** Workers block on Redis and must ride out a restart: retry every command forever, reconnect with backoff. */
export function createWorkerConnection(url: string, extra: RedisOptions = {}): RedisClient {
  return connect(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    ...extra,
  });
}

/** Producers (the CLI, HTTP handlers) should fail fast and say so rather than queue commands in memory. */
export function createProducerConnection(url: string, extra: RedisOptions = {}): RedisClient {
  return connect(url, {
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
export function createServerProducerConnection(url: string): RedisClient {
  const redis = createWorkerConnection(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => {});
  return redis;
}

/** Waits until a lazily connected client is ready, or rejects with its connection error. */
export async function connected<C extends RedisClient>(redis: C): Promise<C> {
  if (redis.status === 'ready') return redis;
  if (redis.status === 'wait') await redis.connect();
  return redis;
}

/** Deletes every key under a prefix on one server (SCAN, never KEYS), one key a command (no CROSSSLOT). */
async function deleteOnServer(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) {
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.unlink(key);
      await pipeline.exec();
    }
  } while (cursor !== '0');
}

/**
 * Deletes every key under a queue prefix: what a test or a benchmark run leaves. On a cluster, SCAN sees
 * only the node it is sent to, so every master is scanned.
 */
export async function deleteKeysUnder(redis: RedisClient, prefix: string): Promise<void> {
  if (redis instanceof Cluster) {
    await connected(redis);
    await Promise.all(redis.nodes('master').map((node) => deleteOnServer(node, prefix)));
  } else {
    await deleteOnServer(redis, prefix);
  }
}
