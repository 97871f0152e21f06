// The process roles of the Procfile: which workers each one runs. `npm start` runs them all in one process.
import { Queue, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type postgres from 'postgres';
import type { Registry } from 'prom-client';
import type { Config } from '../shared/config';
import type { Logger } from '../shared/logger';
import { quarantineRules } from '../shared/quarantine-rules';
import {
  aggregationQueue,
  computeStatsQueue,
  confirmQueue,
  dispatchQueue,
  feedbackQueue,
  finalizeQueue,
  type QueueDeclaration,
  queues,
  recurrenceQueue,
  retryQueue,
  startQueue,
  trackingQueue,
} from '../shared/queues';
import { startWorker } from '../shared/worker';
import { aggregationHandler, computeStatsHandler } from './aggregate/handler';
import { startAggregationTrigger } from './aggregate/trigger';
import { confirmHandler } from './confirm/handler';
import { dispatchHandler } from './dispatch/handler';
import { createDispatchPlanner } from './dispatch/plan';
import { redisRateLimiter } from './dispatch/rate-limit';
import { type MtaTransport, smtpTransport } from './dispatch/transport';
import { feedbackHandler } from './feedback/handler';
import { startExporter } from './metrics';
import { recurrenceHandler } from './recurrence/handler';
import { finalizeHandler, retryHandler } from './retry/handler';
import { trackingHandler } from './tracking/handler';

/** What every role is built from. */
export interface RoleDeps {
  config: Config;
  log: Logger;
  sql: postgres.Sql;
  redis: Redis;
  now: () => Date;
  /** Replaces the SMTP transport (benchmarks drop messages instead). */
  transport?: MtaTransport;
}

/** A started role: its workers, and what else it must close on shutdown. */
export interface RunningRole {
  workers: { queue: QueueDeclaration; worker: Worker }[];
  close(): Promise<void>;
  /** Metrics the role exports besides the process's own (the metrics role's shared figures). */
  registry?: Registry;
}

export const ROLES = [
  'confirm',
  'dispatch',
  'feedback',
  'retry',
  'tracking',
  'aggregate',
  'metrics',
] as const;
export type Role = (typeof ROLES)[number];

/** The internal queues a role enqueues on, and one way to close them all. */
function producerQueues(deps: RoleDeps) {
  const options = { connection: deps.redis, prefix: deps.config.QUEUE_PREFIX };
  const q = {
    start: new Queue(startQueue.name, options),
    dispatch: new Queue(dispatchQueue.name, options),
    finalize: new Queue(finalizeQueue.name, options),
    retry: new Queue(retryQueue.name, options),
  };
  return { ...q, close: () => Promise.all(Object.values(q).map((queue) => queue.close())) };
}

function planner(deps: RoleDeps, q: ReturnType<typeof producerQueues>) {
  return createDispatchPlanner({
    sql: deps.sql,
    startQueue: q.start,
    dispatchQueue: q.dispatch,
    finalizeQueue: q.finalize,
    batchSize: deps.config.DISPATCH_BATCH_SIZE,
    now: deps.now,
  });
}

/** The MTA side shared by first attempts and retries: the transport and the rate limit across replicas. */
function mta(deps: RoleDeps) {
  const transport =
    deps.transport ?? smtpTransport(deps.config.MTA_URL, { poolSize: deps.config.SMTP_POOL_SIZE });
  const rateLimiter =
    deps.config.DISPATCH_RATE_LIMIT > 0
      ? redisRateLimiter(deps.redis, deps.config.QUEUE_PREFIX, deps.config.DISPATCH_RATE_LIMIT)
      : null;
  return { transport, rateLimiter };
}

// A killed worker's jobs are found by the stalled-job check: check as often as a lock can expire.
const workerOptions = (deps: RoleDeps) => ({
  lockDuration: deps.config.WORKER_LOCK_DURATION,
  stalledInterval: deps.config.WORKER_LOCK_DURATION,
});

/** Starts one role's workers. */
export function startRole(role: Role, deps: RoleDeps): RunningRole {
  const base = { connection: deps.redis, prefix: deps.config.QUEUE_PREFIX, sql: deps.sql, log: deps.log };
  const opts = workerOptions(deps);
  const q = producerQueues(deps);
  const running = (
    workers: RunningRole['workers'],
    after: () => Promise<unknown> = async () => {},
  ): RunningRole => ({
    workers,
    close: async () => {
      await Promise.all(workers.map((w) => w.worker.close()));
      await Promise.all([q.close(), after()]);
    },
  });
  switch (role) {
    case 'confirm': {
      const plan = planner(deps, q);
      const handler = confirmHandler({ sql: deps.sql, planner: plan, now: deps.now });
      const recurrence = startWorker(
        recurrenceQueue,
        recurrenceHandler({
          sql: deps.sql,
          planner: plan,
          quarantine: quarantineRules(deps.config),
          now: deps.now,
        }),
        base,
        opts,
      );
      const recurrenceJobs = new Queue(recurrenceQueue.name, {
        connection: deps.redis,
        prefix: deps.config.QUEUE_PREFIX,
      });
      // Every replica upserts the same scheduler: one sweep per tick whatever the number of replicas.
      void recurrenceJobs
        .upsertJobScheduler(
          'recurrence-sweep',
          { every: deps.config.RECURRENCE_TICK },
          { name: 'sweep', data: { sweep: true }, opts: recurrenceQueue.jobOptions },
        )
        .catch((error: Error) =>
          deps.log.warn(
            { err: error.message },
            'Could not schedule the recurrence sweep; tried again at the next start.',
          ),
        );
      return running(
        [
          {
            queue: confirmQueue,
            worker: startWorker(confirmQueue, handler, base, { ...opts, concurrency: 8 }),
          },
          { queue: recurrenceQueue, worker: recurrence },
        ],
        () => recurrenceJobs.close(),
      );
    }
    case 'dispatch': {
      const plan = planner(deps, q);
      const start = startWorker(
        startQueue,
        async ({ deliveryId }, { log }) => {
          const batches = await plan.startSending(deliveryId);
          log.info({ batches }, 'Contact date reached: dispatch started.');
          return { batches };
        },
        base,
        opts,
      );
      const { transport, rateLimiter } = mta(deps);
      const handler = dispatchHandler({
        sql: deps.sql,
        transport,
        rateLimiter,
        now: deps.now,
        quarantine: quarantineRules(deps.config),
      });
      const dispatch = startWorker(dispatchQueue, handler, base, {
        ...opts,
        concurrency: deps.config.DISPATCH_CONCURRENCY,
      });
      return running(
        [
          { queue: startQueue, worker: start },
          { queue: dispatchQueue, worker: dispatch },
        ],
        () => transport.close(),
      );
    }
    case 'feedback': {
      const handler = feedbackHandler({
        sql: deps.sql,
        now: deps.now,
        retryQueue: q.retry,
        quarantine: quarantineRules(deps.config),
      });
      // A few jobs at once keep both cores busy; more only queue on each other's row locks.
      const worker = startWorker(feedbackQueue, handler, base, {
        ...opts,
        concurrency: deps.config.FEEDBACK_CONCURRENCY,
      });
      return running([{ queue: feedbackQueue, worker }]);
    }
    case 'retry': {
      const { transport, rateLimiter } = mta(deps);
      const handler = retryHandler({
        sql: deps.sql,
        transport,
        rateLimiter,
        retryQueue: q.retry,
        quarantine: quarantineRules(deps.config),
        now: deps.now,
      });
      const retry = startWorker(retryQueue, handler, base, { ...opts, concurrency: 2 });
      const finalize = startWorker(
        finalizeQueue,
        finalizeHandler({ sql: deps.sql, finalizeQueue: q.finalize, now: deps.now }),
        base,
        opts,
      );
      // The sweeper: every replica upserts the same scheduler, so it runs once per interval in all.
      void q.retry
        .upsertJobScheduler(
          'retry-sweep',
          { every: deps.config.RETRY_SWEEP_INTERVAL },
          { name: 'sweep', data: { sweep: true }, opts: { removeOnComplete: true, removeOnFail: 100 } },
        )
        .catch((error: Error) =>
          deps.log.warn(
            { err: error.message },
            'Could not schedule the retry sweep; it is tried again at the next start.',
          ),
        );
      return running(
        [
          { queue: retryQueue, worker: retry },
          { queue: finalizeQueue, worker: finalize },
        ],
        () => transport.close(),
      );
    }
    case 'tracking': {
      const worker = startWorker(trackingQueue, trackingHandler({ sql: deps.sql }), base, {
        ...opts,
        concurrency: deps.config.TRACKING_CONCURRENCY,
      });
      return running([{ queue: trackingQueue, worker }]);
    }
    case 'aggregate': {
      const aggregationJobs = new Queue(aggregationQueue.name, {
        connection: deps.redis,
        prefix: deps.config.QUEUE_PREFIX,
      });
      const handlerDeps = { sql: deps.sql, now: deps.now };
      // One run at a time per process; across replicas the run's advisory lock serializes them anyway.
      const aggregation = startWorker(aggregationQueue, aggregationHandler(handlerDeps), base, opts);
      const stats = startWorker(computeStatsQueue, computeStatsHandler(handlerDeps), base, {
        ...opts,
        concurrency: 2,
      });
      const trigger = startAggregationTrigger(aggregationJobs, deps.config.AGGREGATION_SCHEDULE, deps.log);
      const workers = [
        { queue: aggregationQueue, worker: aggregation },
        { queue: computeStatsQueue, worker: stats },
      ];
      return {
        workers,
        close: async () => {
          await trigger.destroy();
          await Promise.all(workers.map((w) => w.worker.close()));
          await Promise.all([q.close(), aggregationJobs.close()]);
        },
      };
    }
    case 'metrics': {
      // The HTTP endpoints are served by every process; this role adds the figures shared by all of them.
      const exporter = startExporter(deps);
      return { ...running([], () => exporter.close()), registry: exporter.registry };
    }
  }
}

/** The queues each role handles: the declaration `startRole` is held to, and the startup check reads. */
export const ROLE_QUEUES: Record<Role, readonly QueueDeclaration[]> = {
  confirm: [confirmQueue, recurrenceQueue],
  dispatch: [startQueue, dispatchQueue],
  feedback: [feedbackQueue],
  retry: [retryQueue, finalizeQueue],
  tracking: [trackingQueue],
  aggregate: [aggregationQueue, computeStatsQueue],
  metrics: [],
};

/** Refuses to start when a declared queue has no handler among the roles, or more than one. */
export function assertEveryQueueHandledOnce(roles: readonly Role[]): void {
  const counts = new Map<string, number>(queues.map((q) => [q.name, 0]));
  for (const role of roles)
    for (const queue of ROLE_QUEUES[role]) counts.set(queue.name, (counts.get(queue.name) ?? 0) + 1);
  const wrong = [...counts].filter(([, n]) => n !== 1);
  if (wrong.length > 0) {
    throw new Error(
      `queues without exactly one handler: ${wrong.map(([name, n]) => `${name} (${n})`).join(', ')}`,
    );
  }
}
