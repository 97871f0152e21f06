// Reads REDIS_URL: one server (redis://, rediss://) or a Redis Cluster's seed nodes (redis+cluster://h1:p,h2:p).

/** Where Redis is: one server, or the nodes a cluster client starts from (it discovers the rest). */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | {
      kind: 'cluster';
      nodes: { host: string; port: number }[];
      username?: string;
      password?: string;
      tls: boolean;
    };

const CLUSTER = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#@]+)\/?$/i;
const NODE = /^(?:\[([0-9a-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/i;

/** Whether a URL names a cluster (its scheme ends in +cluster). */
export function isClusterUrl(value: string): boolean {
  return /^rediss?\+cluster:/i.test(value);
}

/**
 * Parses a REDIS_URL. A cluster URL lists seed nodes, comma-separated, each host:port (port 6379 if left
 * out, IPv6 in brackets), with an optional user:password@ for every node. Throws a sentence on a bad one.
 */
export function parseRedisUrl(value: string): RedisTarget {
  if (!isClusterUrl(value)) {
    const protocol = new URL(value).protocol;
    if (protocol !== 'redis:' && protocol !== 'rediss:') throw new Error(`unknown scheme ${protocol}`);
    return { kind: 'server', url: value };
  }
  const match = CLUSTER.exec(value);
  if (!match) throw new Error('is not a cluster URL; expected redis+cluster://host1:port,host2:port');
  const [, scheme, user, password, list] = match;
  const nodes = list!.split(',').map((node) => {
    const m = NODE.exec(node.trim());
    const port = Number(m?.[3] ?? 6379);
    if (!m || port < 1 || port > 65535) throw new Error(`has a bad node "${node}"; expected host:port`);
    return { host: m[1] ?? m[2]!, port };
  });
  return {
    kind: 'cluster',
    nodes,
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(password !== undefined ? { password: decodeURIComponent(password) } : {}),
    tls: scheme!.toLowerCase() === 'rediss',
  };
}

/**
 * Whether a key prefix has a {hash-tag}, as Redis Cluster reads it (the first "{", the next "}", something
 * between): on a cluster, every key of a queue must fall in one slot.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  return open >= 0 && prefix.indexOf('}', open + 1) > open + 1;
}
