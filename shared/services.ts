// Says, in one sentence, which backing service is unreachable, where, and how to start it.
import { redactUrl } from './config';
import { parseRedisUrl } from './redis-url';

// The Redis advice starts one on the port the URL names (a REDIS_URL on :6999 is not helped by one on 6379).
const HOW_TO_START = {
  PostgreSQL: () => 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  Redis: (url: string) =>
    `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port ${redisPort(url)} --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log`,
} as const;

function redisPort(url: string): number {
  try {
    const target = parseRedisUrl(url);
    if (target.kind === 'cluster') return target.nodes[0]?.port ?? 6379;
    return Number(new URL(target.url).port || 6379);
  } catch {
    return 6379;
  }
}

export type Service = keyof typeof HOW_TO_START;

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown: the server is restarting
  '57P03', // cannot_connect_now: the server is starting
]);

/** True for errors that mean "the service is not there (yet)", as opposed to a bad query. */
export function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; errno?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  return /Connection is closed|connect ECONNREFUSED|Stream isn't writeable|enableOfflineQueue/i.test(
    e.message ?? '',
  );
}

/** A backing service that cannot be reached: its message is the one line a person needs. */
export class ServiceUnavailable extends Error {
  constructor(
    readonly service: Service,
    readonly url: string,
    cause: unknown,
  ) {
    const code = (cause as { code?: string })?.code ?? (cause as Error)?.message ?? String(cause);
    super(
      `${service} is not reachable at ${redactUrl(url)} (${code}); start it with: ${HOW_TO_START[service](url)} ` +
        `(README, "Services")`,
    );
    this.name = 'ServiceUnavailable';
  }
}
