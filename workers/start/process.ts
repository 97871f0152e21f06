// One pipeline process: serves health, waits for PostgreSQL, starts its roles, and shuts down in one path.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Database, openDatabase } from '../../db/client';
import { migrationsFolder, prepareDatabase } from '../../db/migrate';
import type { Config } from '../../shared/config';
import type { Logger } from '../../shared/logger';
import { createWorkerConnection, type RedisClient } from '../../shared/redis';
import { isConnectionError, ServiceUnavailable } from '../../shared/services';
import { type Reconciler, startReconciler } from '../reconcile';
import { createRegistry, startHealthServer } from '../servers/health';
import { deliveryPages, type PageRoutes } from '../servers/pages';
import { type Role, type RoleDeps, type RunningRole, startRole } from './roles';

/** A start-up step that failed: `what` names the step (the log message), the message is the cause. */
export class StartupFailure extends Error {
  override name = 'StartupFailure';
  constructor(
    readonly what: string,
    cause: Error,
  ) {
    super(cause.message, { cause });
  }
}

/** A running process: `stop` is the one shutdown path (workers, queues, Redis, PostgreSQL, HTTP). */
export interface PipelineProcess {
  ready: Promise<void>;
  stop(): Promise<void>;
  port(): number;
  /** The feedback receiver's port, when this process runs the feedback-http role. */
  feedbackPort(): number | null;
  /** The bounce mailbox's SMTP port, when this process runs the bounces role. */
  bouncePort(): number | null;
  /** The operator console's port, when this process runs the console role. */
  consolePort(): number | null;
  /** Runs a reconciliation pass now (tests, benchmarks); the timer runs them every RECONCILE_INTERVAL. */
  reconcile(): Promise<Record<string, number>>;
}

function expectedMigrations(): number {
  const journal = JSON.parse(readFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8'));
  return journal.entries.length;
}

/** Creates and migrates the database, retrying with backoff while PostgreSQL is down: no crash loop. */
async function waitForDatabase(
  config: Config,
  log: Logger,
  stopped: () => boolean,
  report: (state: string) => void,
): Promise<boolean> {
  for (let attempt = 1; !stopped(); attempt++) {
    try {
      await prepareDatabase(config.DATABASE_URL);
      return true;
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      report(`unreachable (${(error as { code?: string }).code ?? (error as Error).message})`);
      const delay = Math.min(500 * 2 ** Math.min(attempt, 6), 30_000);
      log.warn(
        { retryInMs: delay },
        new ServiceUnavailable('PostgreSQL', config.DATABASE_URL, error).message,
      );
      await sleep(delay);
    }
  }
  return false;
}

export async function startProcess(
  roles: readonly Role[],
  config: Config,
  log: Logger,
  overrides: Partial<Pick<RoleDeps, 'transport' | 'now'>> = {},
): Promise<PipelineProcess> {
  let stopping = false;
  let database: Database | null = null;
  // What /readyz says of PostgreSQL until the database is created and migrated.
  let databaseState = 'not migrated yet';
  const running: RunningRole[] = [];
  let reconciler: Reconciler | null = null;
  // The delivery tile pages belong with the shared figures: served by the process running the metrics role.
  let pages: PageRoutes | undefined;
  const redis: RedisClient = createWorkerConnection(config.REDIS_URL);
  let lastRedisWarning = 0;
  redis.on('error', (error) => {
    // ioredis reports every reconnection attempt; one line every 30 s is enough to be found.
    if (Date.now() - lastRedisWarning > 30_000) {
      lastRedisWarning = Date.now();
      log.warn(new ServiceUnavailable('Redis', config.REDIS_URL, error).message);
    }
  });
  const server = await startHealthServer({
    port: config.METRICS_PORT,
    host: config.BIND_ADDRESS,
    readiness: {
      sql: () => database?.sql ?? null,
      redis,
      expectedMigrations: expectedMigrations(),
      databaseState: () => databaseState,
      roles: () => Object.assign({}, ...running.map((r) => r.readiness?.() ?? {})),
    },
    // The process's own counters, and the shared figures of a metrics role once it runs.
    metrics: () => [createRegistry(), ...running.flatMap((r) => (r.registry ? [r.registry] : []))],
    pages: () => pages,
    log,
  });
  // Said before the database wait: an operator (or a probe) knows where to ask while PostgreSQL is down.
  log.info({ port: server.port() }, 'Serving /healthz, /readyz and /metrics.');

  const ready = (async () => {
    const prepared = await waitForDatabase(
      config,
      log,
      () => stopping,
      (state) => {
        databaseState = state;
      },
    ).catch((error: Error) => {
      throw new StartupFailure('Could not prepare the database.', error);
    });
    if (!prepared) return;
    database = openDatabase(config.DATABASE_URL);
    if (roles.includes('metrics')) pages = deliveryPages(database.sql, log);
    const deps: RoleDeps = {
      config,
      log,
      sql: database.sql,
      redis,
      now: overrides.now ?? (() => new Date()),
      transport: overrides.transport,
    };
    // Each role's failure is reported as its own (a busy FEEDBACK_PORT is not a database problem).
    const failed = (role: Role) => (error: Error) => {
      throw new StartupFailure(`Could not start the ${role} role.`, error);
    };
    const started: Promise<void>[] = [];
    for (const role of roles) {
      try {
        const r = startRole(role, deps);
        running.push(r);
        if (r.ready) started.push(r.ready.catch(failed(role)));
      } catch (error) {
        failed(role)(error as Error);
      }
    }
    await Promise.all(started);
    // Each role declared its queues' pending work: this process restores it when Redis has lost it.
    reconciler = startReconciler({
      redis,
      kinds: running.flatMap((r) => r.reconcile?.kinds ?? []),
      schedulers: running.flatMap((r) => r.reconcile?.schedulers ?? []),
      intervalMs: config.RECONCILE_INTERVAL,
      log,
      now: deps.now,
    });
    log.info({ roles, port: server.port() }, 'Pipeline process started.');
  })();

  const stop = async () => {
    stopping = true;
    await ready.catch(() => {});
    // The reconciler first (it adds jobs), then workers (each finishes its active jobs), their queues and
    // Redis, then PostgreSQL.
    await reconciler?.stop();
    await Promise.all(running.map((r) => r.close()));
    await redis.quit().catch(() => redis.disconnect());
    await database?.close();
    await server.close();
  };
  return {
    ready,
    stop,
    port: () => server.port(),
    feedbackPort: () => running.map((r) => r.httpPort?.() ?? null).find((p) => p !== null) ?? null,
    bouncePort: () => running.map((r) => r.smtpPort?.() ?? null).find((p) => p !== null) ?? null,
    consolePort: () => running.map((r) => r.consolePort?.() ?? null).find((p) => p !== null) ?? null,
    reconcile: async () => {
      await ready;
      return reconciler ? reconciler.runNow() : {};
    },
  };
}

/** Exits gracefully on SIGTERM or SIGINT, forced after the timeout; a second signal exits at once. */
/** The same signal again within this time is one request delivered twice, not a second request. */
const REPEAT_WINDOW_MS = 1000;

export function handleSignals(proc: PipelineProcess, timeoutMs: number, log: Logger): void {
  let first: { signal: NodeJS.Signals; at: number } | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (first) {
      // Ctrl-C on `npm start` arrives twice at once: from the terminal, and forwarded by npm. Only a
      // second request, later, means "now".
      if (signal === first.signal && Date.now() - first.at < REPEAT_WINDOW_MS) return;
      log.warn({ signal }, 'Second signal: exiting now.');
      process.exit(130);
    }
    first = { signal, at: Date.now() };
    log.info({ signal, timeoutMs }, 'Shutting down: finishing active jobs.');
    const force = setTimeout(() => {
      log.error(
        'Shutdown took too long: exiting; unfinished jobs return to the queue when their locks expire.',
      );
      process.exit(1);
    }, timeoutMs);
    force.unref();
    proc.stop().then(
      () => {
        log.info('Shut down cleanly.');
        process.exit(0);
      },
      (error: Error) => {
        log.error({ err: error.message }, 'Shutdown failed.');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
