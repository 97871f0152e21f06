// The process configuration: every environment variable of docs/CONTRACT.md, parsed and validated once at start.
import { isIP } from 'node:net';
import { validate as validCron } from 'node-cron';
import { z } from 'zod';
import { hasHashTag, isClusterUrl, parseRedisUrl } from './redis-url';
import { parseDuration } from './rules/duration';

const url = (protocols: string[]) =>
  z.string().superRefine((value, ctx) => {
    const expected = protocols.map((p) => `${p}//…`).join(' or ');
    let protocol: string;
    try {
      protocol = new URL(value).protocol;
    } catch {
      ctx.addIssue({ code: 'custom', message: `is not a URL; expected ${expected}` });
      return;
    }
    // mysql://x is a URL, only not one this variable accepts: say so.
    if (!protocols.includes(protocol))
      ctx.addIssue({ code: 'custom', message: `is a ${protocol}// URL; expected ${expected}` });
  });

const int = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+$/, { message: `is not ${what}; expected an integer from ${min} to ${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, {
      message: `is out of range; expected an integer from ${min} to ${max}`,
    });

const duration = z.string().transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not a duration; expected e.g. 45s, 10m, 1h, 3d' });
    return z.NEVER;
  }
});

/** A duration, or `0` for none. */
const durationOrNone = z.string().transform((value, ctx) => {
  if (value.trim() === '0') return 0;
  try {
    return parseDuration(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not a duration; expected 0 (none) or e.g. 45s, 10m, 1h' });
    return z.NEVER;
  }
});

const schema = z.object({
  /** One server (redis://, rediss://) or a cluster's seed nodes (redis+cluster://host1:port,host2:port). */
  REDIS_URL: z
    .string()
    .superRefine((value, ctx) => {
      try {
        parseRedisUrl(value);
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: isClusterUrl(value)
            ? (error as Error).message
            : 'is not a Redis URL; expected redis://…, rediss://… or redis+cluster://host1:port,host2:port',
        });
      }
    })
    .default('redis://127.0.0.1:6379'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/campaign'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]+$/, {
      message: 'has characters a Redis key prefix should not; expected letters, digits, _ . - and { }',
    })
    .default('campaign'),
  METRICS_PORT: int(0, 65535, 'a port').default(9464),
  MTA_URL: url(['smtp:', 'smtps:']).default('smtp://127.0.0.1:25'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Recipients per dispatch job: big enough to amortize a job, small enough to share a delivery across replicas. */
  DISPATCH_BATCH_SIZE: int(1, 100000, 'a batch size').default(1000),
  DISPATCH_CONCURRENCY: int(1, 1000, 'a concurrency').default(4),
  /** Messages per second handed to the MTA across every replica; 0 means no limit. */
  DISPATCH_RATE_LIMIT: int(0, 10000000, 'a rate').default(0),
  FEEDBACK_CONCURRENCY: int(1, 1000, 'a concurrency').default(4),
  SMTP_POOL_SIZE: int(1, 1000, 'a connection count').default(8),
  /** Soft failures (each at least QUARANTINE_SPACING after the previous counted one) that quarantine an address. */
  QUARANTINE_THRESHOLD: int(1, 1000, 'a count').default(5),
  QUARANTINE_SPACING: duration.default(24 * 3600 * 1000),
  /** An address quarantined for "mailbox full" is released by itself after this long. */
  QUARANTINE_MAILBOX_FULL_RELEASE: duration.default(30 * 86400 * 1000),
  /**
   * How often every process compares the work PostgreSQL records with the jobs Redis holds, and re-enqueues
   * what Redis lost (a restart without persistence, a failover, an eviction): recovery takes at most this long.
   */
  RECONCILE_INTERVAL: duration
    .refine((ms) => ms >= 1000 && ms <= 3_600_000, {
      message: 'is out of range; expected a duration from 1s to 1h, e.g. 30s',
    })
    .default(30_000),
  /** How often due retries are looked for, besides the delayed job each soft bounce schedules. */
  RETRY_SWEEP_INTERVAL: duration.default(60_000),
  TRACKING_CONCURRENCY: int(1, 1000, 'a concurrency').default(4),
  /** When the open and click aggregation runs (cron, UTC; six fields allow seconds): minute 0 of every hour. */
  AGGREGATION_SCHEDULE: z
    .string()
    .refine((value) => validCron(value), {
      message: 'is not a cron expression; expected e.g. "0 * * * *" (minute 0 of every hour)',
    })
    .default('0 * * * *'),
  /** How often recurring deliveries' due occurrences are looked for: an execution starts at most this late. */
  RECURRENCE_TICK: duration.default(5000),
  /**
   * `delivery create --recurrence` refuses a schedule more frequent than this without --allow-frequent; 0: no floor.
   * Off by default: the contract has always accepted any cron expression, and upstream callers may rely on that.
   */
  RECURRENCE_MIN_INTERVAL: durationOrNone.default(0),
  /**
   * How long finished deliveries' logs and events are kept: once a day the aggregate role drops the history
   * ranges whose deliveries all ended longer ago (db/purge.ts); each delivery's KPI tile stays. 0: never.
   */
  RETENTION: durationOrNone.default(0),
  /** How long a worker holds a job without renewing its lock; a killed worker's jobs return after it. */
  WORKER_LOCK_DURATION: duration.default(30000),
  /** Deliveries within their validity period that get per-delivery series (label delivery_id); the newest win. */
  METRICS_MAX_DELIVERIES: int(0, 100000, 'a count').default(500),
  /** How long the metrics role reuses its PostgreSQL and Redis reads: a scrape storm costs one read. */
  METRICS_CACHE_TTL: duration.default(5000),
  /**
   * The address the HTTP servers (METRICS_PORT, FEEDBACK_PORT) listen on, e.g. 127.0.0.1 behind a reverse proxy.
   * Unset, as before: every IPv4 interface for metrics, every interface for the feedback receiver.
   */
  BIND_ADDRESS: z
    .string()
    .refine((value) => isIP(value) !== 0, {
      message: 'is not an IP address; expected e.g. 127.0.0.1, ::1 or 0.0.0.0',
    })
    .optional(),
  /** The feedback receiver's HTTP port (role feedback-http); 0 picks a free one (tests). */
  FEEDBACK_PORT: int(0, 65535, 'a port').default(9465),
  /**
   * The shared secret of SparkPost, KumoMTA and generic senders: `Authorization: Bearer T`, HTTP basic auth with
   * password T, or `X-Feedback-Token: T`. Unset, those endpoints refuse every request (SES signs instead).
   */
  FEEDBACK_TOKEN: z.string().min(16, { message: 'is too short; expected at least 16 characters' }).optional(),
  /** A PEM certificate that verifies SNS signatures instead of the one at SigningCertURL (tests only). */
  SNS_CERT_FILE: z.string().optional(),
  /**
   * Test override: hosts (host:port, comma-separated) that SNS SigningCertURL / SubscribeURL may name besides
   * sns.<region>.amazonaws.com, over http. Never set in production.
   */
  SNS_TEST_HOSTS: z
    .string()
    .regex(/^[A-Za-z0-9.:-]+(,[A-Za-z0-9.:-]+)*$/, {
      message: 'is not a list of host:port; expected e.g. 127.0.0.1:8080',
    })
    .optional(),
  /**
   * The SNS topics (ARNs, comma-separated) whose SES notifications are accepted. A validly signed message
   * proves only that it came from SNS, not from our topic: anyone can subscribe us to theirs. Unset, the
   * SES endpoint refuses everything.
   */
  SNS_TOPIC_ARNS: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+(,arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+)*$/,
      {
        message:
          'is not a list of SNS topic ARNs; expected e.g. arn:aws:sns:eu-west-1:123456789012:ses-feedback',
      },
    )
    .optional(),
  /**
   * The bounce mailbox's SMTP port (role bounces): where the return-path domain's MX (or a port forward from 25)
   * delivers bounces, complaints and auto-replies. 2526, not 25 (root) nor 2525 (often the local MTA); 0 picks a
   * free one (tests).
   */
  BOUNCE_PORT: int(0, 65535, 'a port').default(2526),
  /** The address the bounce mailbox binds: every interface by default, as an MX must be reachable. */
  BOUNCE_HOST: z
    .string()
    .refine((value) => isIP(value) !== 0 || /^[A-Za-z0-9.-]+$/.test(value), {
      message: 'is not an address to bind; expected an IP address (0.0.0.0, ::, 127.0.0.1) or a host name',
    })
    .default('0.0.0.0'),
  /** The largest bounce mail accepted (bytes, advertised as SIZE): bounces return headers, not whole campaigns. */
  BOUNCE_MAX_SIZE: int(1024, 100 * 1024 * 1024, 'a size in bytes').default(2 * 1024 * 1024),
  /** SMTP sessions the bounce mailbox serves at once; more are answered 421 and come back later. */
  BOUNCE_MAX_CONNECTIONS: int(1, 10000, 'a connection count').default(100),
  /**
   * Addresses accepted besides the VERP addresses the dispatch hands out (comma-separated), e.g. the one registered
   * with mailbox providers' complaint feedback loops. Unset, only VERP addresses are accepted.
   */
  BOUNCE_ADDRESSES: z
    .string()
    .transform((value) => value.split(',').map((a) => a.trim().toLowerCase()))
    .refine((list) => list.every((a) => /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/.test(a)), {
      message: 'is not a list of addresses; expected e.g. fbl@bounces.example.com,abuse@bounces.example.com',
    })
    .optional(),
  /**
   * A mailbox the bounces role also reads, as listmonk and Mautic do: imap://user:pass@host:port/MAILBOX (imaps://
   * for TLS; MAILBOX defaults to INBOX; user and password percent-encoded). Unset, only SMTP is received.
   */
  BOUNCE_IMAP_URL: url(['imap:', 'imaps:']).optional(),
  /** How often the IMAP mailbox is searched for new mail; with IDLE new mail is read at once, and this is the fallback. */
  BOUNCE_IMAP_POLL: duration
    .refine((ms) => ms >= 1000 && ms <= 3600_000, {
      message: 'is out of range; expected a duration from 1s to 1h, e.g. 60s',
    })
    .default(60_000),
  /** Whether to wait in IMAP IDLE (RFC 2177) between searches, where the server offers it. */
  BOUNCE_IMAP_IDLE: z.enum(['on', 'off']).default('on'),
  /**
   * What becomes of a mail read from the IMAP mailbox once its events are queued or its dead letter stored: `flag`
   * (keyword $CampaignTaken and \Seen, left in place), `delete` (\Deleted and expunged) or `move:MAILBOX`.
   */
  BOUNCE_IMAP_AFTER: z
    .string()
    .regex(/^(flag|delete|move:.+)$/, {
      message: 'is not accepted; expected flag, delete or move:MAILBOX (e.g. move:Processed)',
    })
    .default('flag'),
  /** The operator console's HTTP port (role console, paths under /console); 0 picks a free one (tests). */
  CONSOLE_PORT: int(0, 65535, 'a port').default(9466),
  /** How long a console session lasts without a request (each request slides it); logout ends it at once. */
  CONSOLE_SESSION_TTL: duration.default(12 * 3600_000),
  /** Wrong passwords in a row that lock a console login, and for how long. */
  CONSOLE_LOCK_AFTER: int(1, 1000, 'a count').default(20),
  CONSOLE_LOCK_DURATION: duration.default(15 * 60_000),
  /** Login attempts one client address may make per 10 minutes, across replicas (Redis), before 429s. */
  CONSOLE_LOGIN_RATE: int(1, 100000, 'a count').default(60),
  /**
   * The reverse proxies (IP addresses or CIDR ranges, comma-separated) whose X-Forwarded-For / -Proto the console
   * believes, and the only ones whose AUTH_PROXY_HEADER it believes. Unset: none.
   */
  CONSOLE_TRUST_PROXY: z
    .string()
    .transform((value) => value.split(',').map((a) => a.trim()))
    .refine((list) => list.every((a) => isIP(a.split('/')[0]!) !== 0 && /^[^/]+(\/\d{1,3})?$/.test(a)), {
      message: 'is not a list of IP addresses or CIDR ranges; expected e.g. 127.0.0.1,10.0.0.0/8',
    })
    .optional(),
  /**
   * A request header naming the logged-in operator, set by an authenticating reverse proxy (oauth2-proxy's
   * X-Forwarded-User, …) on CONSOLE_TRUST_PROXY. Off by default; the login must exist (its roles are ours).
   */
  AUTH_PROXY_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, { message: 'is not a header name; expected e.g. X-Forwarded-User' })
    .transform((value) => value.toLowerCase())
    .optional(),
  /** PEM files: the console serves HTTPS itself (and its cookies are Secure). Both or neither. */
  CONSOLE_TLS_CERT: z.string().optional(),
  CONSOLE_TLS_KEY: z.string().optional(),
  /** How long a graceful shutdown may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT: duration.default(30000),
});

// BullMQ's scripts touch several keys of a queue at once: on a cluster they must share a slot, which only a
// {hash-tag} in the prefix guarantees. Refused here, before a worker fails with CROSSSLOT at its first job.
const checked = schema.superRefine((c, ctx) => {
  if (c.AUTH_PROXY_HEADER && !c.CONSOLE_TRUST_PROXY)
    ctx.addIssue({
      code: 'custom',
      path: ['AUTH_PROXY_HEADER'],
      message:
        'is set without CONSOLE_TRUST_PROXY: anybody could send the header; expected CONSOLE_TRUST_PROXY=<the proxy address> too',
    });
  if ((c.CONSOLE_TLS_CERT === undefined) !== (c.CONSOLE_TLS_KEY === undefined))
    ctx.addIssue({
      code: 'custom',
      path: [c.CONSOLE_TLS_CERT === undefined ? 'CONSOLE_TLS_CERT' : 'CONSOLE_TLS_KEY'],
      message:
        'is unset while its pair is set; expected both CONSOLE_TLS_CERT and CONSOLE_TLS_KEY, or neither',
    });
  let cluster = false;
  try {
    cluster = parseRedisUrl(c.REDIS_URL).kind === 'cluster';
  } catch {
    // A bad REDIS_URL has its own line already.
  }
  if (cluster && !hasHashTag(c.QUEUE_PREFIX))
    ctx.addIssue({
      code: 'custom',
      path: ['QUEUE_PREFIX'],
      message: `has no {hash-tag}, which Redis Cluster (REDIS_URL=redis+cluster://…) needs; expected e.g. QUEUE_PREFIX={${c.QUEUE_PREFIX.replace(/[{}]/g, '') || 'campaign'}}`,
    });
});

/** Every setting's name, as docs/CONTRACT.md lists them. */
export const SETTINGS: readonly string[] = Object.keys(schema.shape);

/** The validated, frozen configuration every process receives. */
export type Config = Readonly<z.output<typeof schema>>;

/** A configuration error: one line per bad variable, each naming it, its problem and what is accepted. */
export class ConfigError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Reads the configuration from an environment (process.env at entry points, a plain object in tests). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input = Object.fromEntries(
    Object.keys(schema.shape).map((key) => [key, env[key] === '' ? undefined : env[key]]),
  );
  const parsed = checked.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const key = String(issue.path[0]);
        const value = input[key];
        const shown = key.endsWith('_URL')
          ? redactUrl(String(value))
          : key.endsWith('_TOKEN')
            ? '***'
            : String(value);
        const message =
          issue.code === 'invalid_value'
            ? `is not accepted; expected one of ${issue.values.join(', ')}`
            : issue.message;
        return value === undefined
          ? `config: ${key} unset ${message}`
          : `config: ${key}=${JSON.stringify(shown)} ${message}`;
      }),
    );
  }
  return Object.freeze(parsed.data);
}

/** Hides a password in a connection URL so that it can be printed. */
export function redactUrl(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // A URL too broken to parse (bad port, …) may still carry a password: hide everything up to the last @.
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):.*@/i, '$1:***@');
  }
}
