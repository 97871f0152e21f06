// The process roles of the Procfile: which workers each one runs. `npm start` runs them all in one process.
import { Queue, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type postgres from 'postgres';
import type { Config } from '../shared/config';
import type { Logger } from '../shared/logger';
import {
  confirmQueue,
  dispatchQueue,
  feedbackQueue,
  type QueueDeclaration,
  queues,
  startQueue,
} from '../shared/queues';
import { startWorker } from '../shared/worker';
import { confirmHandler } from './confirm/handler';
import { dispatchHandler } from './dispatch/handler';
import { createDispatchPlanner } from './dispatch/plan';
import { redisRateLimiter } from './dispatch/rate-limit';
import { type MtaTransport, smtpTransport } from './dispatch/transport';
import { feedbackHandler } from './feedback/handler';

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
}

export const ROLES = ['confirm', 'dispatch', 'feedback', 'metrics'] as const;
export type Role = (typeof ROLES)[number];

function producerQueues(deps: RoleDeps) {
  const options = { connection: deps.redis, prefix: deps.config.QUEUE_PREFIX };
  return { start: new Queue(startQueue.name, options), dispatch: new Queue(dispatchQueue.name, options) };
}

function planner(deps: RoleDeps, q: ReturnType<typeof producerQueues>) {
  return createDispatchPlanner({
    sql: deps.sql,
    startQueue: q.start,
    dispatchQueue: q.dispatch,
    batchSize: deps.config.DISPATCH_BATCH_SIZE,
    now: deps.now,
  });
}

// A killed worker's jobs are found by the stalled-job check: check as often as a lock can expire.
const workerOptions = (deps: RoleDeps) => ({
  lockDuration: deps.config.WORKER_LOCK_DURATION,
  stalledInterval: deps.config.WORKER_LOCK_DURATION,
});

/** Starts one role's workers. */
export function startRole(role: Role, deps: RoleDeps): RunningRole {
  const base = { connection: deps.redis, prefix: deps.config.QUEUE_PREFIX, sql: deps.sql, log: deps.log };
  switch (role) {
    case 'confirm': {
      const q = producerQueues(deps);
      const worker = startWorker(
        confirmQueue,
        confirmHandler({ sql: deps.sql, planner: planner(deps, q), now: deps.now }),
        base,
        {
          ...workerOptions(deps),
          concurrency: 8,
        },
      );
      return {
        workers: [{ queue: confirmQueue, worker }],
        close: async () => {
          await worker.close();
          await Promise.all([q.start.close(), q.dispatch.close()]);
        },
      };
    }
    case 'dispatch': {
      const q = producerQueues(deps);
      const start = startWorker(
        startQueue,
        async ({ deliveryId }, { log }) => {
          const batches = await planner(deps, q).startSending(deliveryId);
          log.info({ batches }, 'Contact date reached: dispatch started.');
          return { batches };
        },
        base,
        workerOptions(deps),
      );
      const transport =
        deps.transport ?? smtpTransport(deps.config.MTA_URL, { poolSize: deps.config.SMTP_POOL_SIZE });
      const rateLimiter =
        deps.config.DISPATCH_RATE_LIMIT > 0
          ? redisRateLimiter(deps.redis, deps.config.QUEUE_PREFIX, deps.config.DISPATCH_RATE_LIMIT)
          : null;
      const dispatch = startWorker(
        dispatchQueue,
        dispatchHandler({ sql: deps.sql, transport, rateLimiter, now: deps.now }),
        base,
        {
          ...workerOptions(deps),
          concurrency: deps.config.DISPATCH_CONCURRENCY,
        },
      );
      return {
        workers: [
          { queue: startQueue, worker: start },
          { queue: dispatchQueue, worker: dispatch },
        ],
        close: async () => {
          await Promise.all([start.close(), dispatch.close()]);
          await Promise.all([q.start.close(), q.dispatch.close(), transport.close()]);
        },
      };
    }
    case 'feedback': {
      const worker = startWorker(feedbackQueue, feedbackHandler({ sql: deps.sql, now: deps.now }), base, {
        ...workerOptions(deps),
        // Each job is one transaction per 2,000 events; a few at once keep both cores busy without contention.
        concurrency: deps.config.FEEDBACK_CONCURRENCY,
      });
      return { workers: [{ queue: feedbackQueue, worker }], close: () => worker.close() };
    }
    case 'metrics':
      // The HTTP endpoints are served by every process; this role runs nothing else (yet).
      return { workers: [], close: async () => {} };
  }
}

/** The queues each role handles: the declaration `startRole` is held to, and the startup check reads. */
export const ROLE_QUEUES: Record<Role, readonly QueueDeclaration[]> = {
  confirm: [confirmQueue],
  dispatch: [startQueue, dispatchQueue],
  feedback: [feedbackQueue],
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
